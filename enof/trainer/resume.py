"""`<stem>.resume.pt`: the state after the last finished epoch, from which `--resume` continues.

It holds the run's settings (only those that change what is computed: `TrainConfig.what_record`),
the phase and epoch, the number of processes, CPU copies of the model, optimizer, scheduler and
gradient-scaler states, every process's RNG states, the phase's history and the metrics log.
Written atomically by rank 0; read by every rank.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from enof.errors import CheckpointError
from enof.trainer.checkpoint import atomic_torch_save, safe_torch_load
from enof.trainer.config import TrainConfig

FORMAT = "enof-resume"


@dataclass(frozen=True)
class ResumeState:
    path: Path
    raw: dict

    @property
    def phase(self) -> str:
        return self.raw["phase"]

    @property
    def epoch(self) -> int:
        return int(self.raw["epoch"])

    def rng_for(self, rank: int) -> dict:
        rng = self.raw["rng"]
        return rng[rank] if isinstance(rng, list) else rng


def read_resume_state(config: TrainConfig, world_size: int) -> ResumeState | None:
    """The resume state of `config`'s run, if its file exists; refused when it was made with other
    settings or another number of processes."""
    _, _, path = config.paths
    if not path.is_file():
        return None
    raw = safe_torch_load(path, "resume state")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an enof resume state")
    wanted = config.what_record()
    saved = {k: v for k, v in raw.get("config", {}).items() if k in wanted}
    if saved != wanted:
        changed = sorted(k for k, v in wanted.items() if saved.get(k) != v)
        raise CheckpointError(f"{path}: made with other settings ({', '.join(changed)}); "
                              "rerun with the same flags or without --resume")
    made_by = int(raw.get("world_size", 1))
    if made_by != world_size:
        how = "one process (no torchrun)" if made_by == 1 else f"torchrun --nproc_per_node {made_by} (in all)"
        raise CheckpointError(f"{path}: made by {made_by} process(es), this run has {world_size}; "
                              f"resume it with {how}, or start again without --resume")
    return ResumeState(path, raw)


def _cpu(state):
    """A copy of a (nested) state dict with every tensor on the CPU: the file is device-independent."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu(v) for v in state)
    return state


def write_resume_state(config: TrainConfig, phase: str, epoch: int, world_size: int, model, optimizer, scheduler,
                       scaler, rng_states: list[dict], history: list[dict], metrics: list[dict],
                       extra: dict) -> None:
    _, _, path = config.paths
    atomic_torch_save(
        {"format": FORMAT, "phase": phase, "epoch": epoch, "config": config.what_record(), "world_size": world_size,
         "model": _cpu(model.state_dict()), "optimizer": _cpu(optimizer.state_dict()),
         "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_states,
         "history": history, "metrics": metrics, **extra},
        path,
    )


def rng_state(generator: torch.Generator, device: torch.device) -> dict:
    """This process's RNG states: torch (CPU and, on CUDA, the device), the loader's, Python's."""
    state = {"torch": torch.get_rng_state(), "loader": generator.get_state(), "python": list(random.getstate()[1])}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    random.setstate((3, tuple(int(v) for v in state["python"]), None))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
