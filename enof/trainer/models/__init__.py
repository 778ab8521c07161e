"""EnOF network definitions: ``build_model(arch, mode, repact, timesteps, neuron, **arch_kwargs)``."""

from enof.trainer.models.blocks import BasicBlock
from enof.trainer.models.net import ActivationFactory, EnofNet, ModelOutput, repeat_over_time
from enof.trainer.models.registry import ARCHITECTURES, ArchSpec, build_model

__all__ = [
    "ARCHITECTURES",
    "ActivationFactory",
    "ArchSpec",
    "BasicBlock",
    "EnofNet",
    "ModelOutput",
    "build_model",
    "repeat_over_time",
]
