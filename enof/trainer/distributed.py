"""Data-parallel training under torchrun: torch.distributed with nccl on GPUs, gloo on CPUs.

`Distributed.from_environment(env)` reads the variables torchrun sets (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT); without them a run is one process and nothing here does any
communication. The training loop asks this object for samplers, reductions and "am I rank 0".
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import nn

from enof.errors import EnofError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job: `rank` of `world_size`, `local_rank` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # under torchrun (even with one process)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "Distributed":
        env = os.environ if env is None else env
        if not all(name in env for name in TORCHRUN_VARIABLES):
            return cls()
        try:
            rank, world, local = (int(env[name]) for name in TORCHRUN_VARIABLES)
        except ValueError:
            raise EnofError(f"torchrun variables {', '.join(f'{n}={env[n]!r}' for n in TORCHRUN_VARIABLES)} "
                            "are not integers") from None
        return cls(rank, world, local, launched=True)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and logs."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.launched and dist.is_available() and dist.is_initialized()

    def start(self, device: torch.device) -> None:
        """Join the process group (nccl for CUDA, gloo for CPU) when launched by torchrun."""
        if not self.launched or dist.is_initialized():
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)

    def stop(self) -> None:
        if self.active:
            dist.destroy_process_group()

    def sum(self, *values: float, device: torch.device | str = "cpu") -> list[float]:
        """Element-wise sum of `values` over all ranks (the values themselves in one process).
        `device` is the run's: nccl reduces only CUDA tensors."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, obj) -> list:
        """`obj` of every rank, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def _all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over ranks (its backward sums the gradients the same way). torch 2.14
    marks torch.distributed.nn's version deprecated in favour of a private module; it is still the
    public one, so its warning is silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*all_reduce is deprecated.*")
        return dist_nn.all_reduce(tensor)


class CpuSyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are taken over the whole global batch of all ranks.

    torch's SyncBatchNorm runs on GPUs only (its kernels `batch_norm_stats` and friends have no
    CPU version), so CPU data-parallel runs (gloo) use this: per-channel sums over every rank
    with torch's differentiable all_reduce, then the batch-norm formula. Its result equals a
    plain BatchNorm2d over the concatenated batch up to float rounding of the sums.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        local_count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
        sums = _all_reduce(torch.cat([x.sum(dim=(0, 2, 3)), local_count]))
        count = sums[-1]
        mean = sums[:channels] / count
        centred = x - mean.view(1, -1, 1, 1)
        var = _all_reduce(centred.square().sum(dim=(0, 2, 3))) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (count / (count - 1)) if float(count) > 1 else var
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        scale = torch.rsqrt(var + self.eps)
        out = centred * scale.view(1, -1, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d made synchronous over ranks: torch's SyncBatchNorm on CUDA, else
    :class:`CpuSyncBatchNorm2d`. State dict keys and values are unchanged."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = CpuSyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                             child.track_running_stats, device=device)
            replacement.load_state_dict(child.state_dict())
            setattr(model, name, replacement)
        else:
            convert_sync_batchnorm(child, device)
    return model
