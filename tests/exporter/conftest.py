"""Exporter fixtures: real EnofNets (trainer's build_model) with non-trivial BatchNorm statistics,
and a digits_cnn checkpoint written by the trainer's own checkpoint writer."""

from __future__ import annotations

import pytest
import torch

from enof.trainer.models import build_model
from enof.trainer.neurons import NeuronConfig

DIGITS_SHAPE = (1, 8, 8)
CIFAR_SHAPE = (3, 32, 32)


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BN layer running statistics and affine parameters far from identity, so folding is tested."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
            module.weight.data.copy_(0.5 + torch.rand(n, generator=gen))
            module.bias.data.copy_(0.6 * torch.rand(n, generator=gen) - 0.3)
    return model.eval()


def make_model(arch: str, repact: bool = True, timesteps: int = 2, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, repact=repact, timesteps=timesteps, neuron=NeuronConfig(), num_classes=10, **kwargs)
    return randomize_batchnorm(model, seed)


def write_checkpoint(path, arch: str = "digits_cnn", dataset: str = "digits", repact: bool = True,
                     timesteps: int = 2, seed: int = 0, **arch_kwargs):
    """A random-weight model saved with enof.trainer.checkpoint.save_checkpoint (the real writer)."""
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.datasets import dataset_spec

    model = make_model(arch, repact=repact, timesteps=timesteps, seed=seed, **arch_kwargs)
    ckpt = Checkpoint(
        arch=arch, arch_kwargs={"num_classes": 10, **arch_kwargs}, neuron=NeuronConfig().to_dict(),
        timesteps=timesteps, repact=repact, state_dict=model.state_dict(),
        dataset=dataset_spec(dataset), seed=seed, versions=versions(),
    )
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """Path of a random-weight digits_cnn (width 8, RepAct, T = 2) checkpoint."""
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "digits.pt", width=8)


@pytest.fixture(scope="session")
def digits_test_inputs():
    """The first 32 digits test images, normalized (1, 8, 8)."""
    from enof.datasets import load_dataset

    test = load_dataset("digits", train_augment=False).test
    return torch.stack([test[i][0].float() for i in range(32)])


@pytest.fixture(scope="session")
def model_factory():
    """``model_factory(arch, repact=True, timesteps=2, seed=0, **arch_kwargs)`` -> EnofNet in eval mode."""
    return make_model


@pytest.fixture(scope="session")
def checkpoint_writer():
    """``checkpoint_writer(path, arch="digits_cnn", dataset="digits", repact=True, timesteps=2, seed=0, **arch_kwargs)``."""
    return write_checkpoint
