"""A sharded ``enof-run`` under torchrun: each rank runs one contiguous shard of the samples, rank 0 gathers.

``Shard.from_environment()`` reads what torchrun sets (RANK, WORLD_SIZE); without those variables a run is one
process and nothing here communicates. The runtime's own small piece (it never imports the trainer): the
gathered objects are a few arrays per rank (predictions and integer count totals), so the process group is
always gloo, over TCP, whether the ranks simulate on CPUs or GPUs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from enof.errors import EnofError, RunError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class Shard:
    """This process's place: ``rank`` of ``world_size`` (``launched``: under torchrun, even with one process)."""

    rank: int = 0
    world_size: int = 1
    launched: bool = False
    local_rank: int = 0  # its index on its machine (LOCAL_RANK): which GPU ``--device auto`` gives it

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "Shard":
        env = os.environ if env is None else env
        if not all(name in env for name in TORCHRUN_VARIABLES):
            return cls()
        try:
            rank, world = (int(env[name]) for name in TORCHRUN_VARIABLES)
        except ValueError:
            raise RunError(f"torchrun variables {', '.join(f'{n}={env[n]!r}' for n in TORCHRUN_VARIABLES)} "
                           "are not integers") from None
        if not 0 <= rank < world:
            raise RunError(f"torchrun variables RANK={rank}, WORLD_SIZE={world}: need 0 ≤ RANK < WORLD_SIZE")
        return cls(rank, world, launched=True, local_rank=int(env.get("LOCAL_RANK", "0") or 0))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes run.json."""
        return self.rank == 0

    def bounds(self, samples: int) -> tuple[int, int]:
        """[first, end) of this rank's contiguous shard: ranks in order cover 0..samples once, sizes differ by ≤ 1."""
        return self.rank * samples // self.world_size, (self.rank + 1) * samples // self.world_size

    def start(self) -> None:
        """Join torchrun's process group (gloo) when launched with more than one process."""
        dist = _dist()
        if self.launched and self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="gloo")

    def stop(self) -> None:
        dist = _dist()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    def agree(self, error: EnofError | None) -> None:
        """Every rank learns whether any rank failed, so that none waits for the others forever: each raises the
        first failing rank's error (named "rank k of N" when it is another rank's; its exit code kept), or all
        return. In one process: raises ``error`` when there is one."""
        dist = _dist()
        if not (dist.is_available() and dist.is_initialized()):
            if error is not None:
                raise error
            return
        found = [None] * self.world_size
        dist.all_gather_object(found, None if error is None else (str(error), error.exit_code))
        for rank, item in enumerate(found):
            if item is None:
                continue
            if rank == self.rank and error is not None:
                raise error
            other = RunError(f"rank {rank} of {self.world_size}: {item[0]}")
            other.exit_code = item[1]
            raise other

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` in rank order on rank 0 (None on the others); ``[obj]`` in one process."""
        dist = _dist()
        if not (dist.is_available() and dist.is_initialized()):
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out


def _dist():
    """torch.distributed, imported when a run starts, not when a command parses its options (torch is heavy)."""
    import torch.distributed  # lazy: see the docstring

    return torch.distributed
