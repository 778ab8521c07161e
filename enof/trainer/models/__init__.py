"""EnOF network definitions: ``build_model(arch, mode, repact, timesteps, neuron, **arch_kwargs)``;
``register_architecture`` adds one (``load_plugins`` imports the modules that do)."""

from enof.trainer.models.blocks import BasicBlock
from enof.trainer.models.net import ActivationFactory, EnofNet, ModelOutput, repeat_over_time
from enof.trainer.models.registry import ARCHITECTURES, ArchSpec, build_model, load_plugins, register_architecture

__all__ = [
    "ARCHITECTURES",
    "ActivationFactory",
    "ArchSpec",
    "BasicBlock",
    "EnofNet",
    "ModelOutput",
    "build_model",
    "load_plugins",
    "register_architecture",
    "repeat_over_time",
]
