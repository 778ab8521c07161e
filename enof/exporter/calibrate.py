"""Calibration: the float chip part run on a few training samples, for the quantizer's state ranges."""

from __future__ import annotations

import numpy as np
import torch

from enof.datasets import DatasetSpec, frame_hw_of, load_dataset
from enof.exporter.graph import INPUT, Graph
from enof.exporter.partition import Partition
from enof.exporter.quantize import spike_value
from enof.exporter.replay import Replay


def calibration_batch(dataset: DatasetSpec, timesteps: int, count: int, data_root=None) -> torch.Tensor:
    """The first ``count`` training samples of the checkpoint's data set, time-major (T, N, C, H, W)."""
    loaded = load_dataset(dataset.name, root=data_root, train_augment=False, timesteps=timesteps,
                          frame_hw=frame_hw_of(dataset))
    count = min(count, len(loaded.train))
    xs = torch.stack([torch.as_tensor(loaded.train[i][0], dtype=torch.float32) for i in range(count)])
    if xs.dim() == 5:  # temporal data set: (N, T, C, H, W)
        return xs.transpose(0, 1).contiguous()
    return xs.unsqueeze(0).expand(timesteps, *xs.shape).contiguous()


def chip_peaks(graph: Graph, part: Partition, x: torch.Tensor, batch: int = 64) -> dict[str, dict]:
    """Largest |v| (before reset) and |input current| per chip LIF, and the largest |chip input| (``input``)."""
    names = part.names("host_in") + part.names("chip")
    replay = Replay(graph, names, [INPUT], list(part.chip_outputs))
    replay.probes = {}
    x_max = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[1], batch):
            chunk = x[:, start : start + batch]
            if part.input_mode == "spikes":  # the chip sees the frames as binary spikes: calibrate on those
                chunk = spike_value(chunk)
            replay(chunk)
            if part.input_mode != "current":
                x_max = max(x_max, float(chunk.abs().max()))
    if part.input_mode == "current":
        x_max = replay.probes[part.current_target]["current_max"]
    peaks = {k: dict(v) for k, v in replay.probes.items()}
    peaks["input"] = {"x_max": x_max}
    return peaks


def graded_input_scale(dataset: DatasetSpec, peaks: dict | None) -> float:
    """``input.scale`` for graded pixels.

    Zero-mean data with one std for all channels (digits: raw 0..16, std 16) → ``std``: the raw
    integers travel exactly. Otherwise 127 / max|x| (8-bit signed resolution, which leaves the first
    layer's weights their full 8 bits), with max|x| from calibration or the normalization of raw [0, 1].
    """
    mean, std = _normalization(dataset)
    if np.all(mean == 0) and np.all(std == std[0]):
        return float(std[0])
    x_max = (peaks or {}).get("input", {}).get("x_max")
    return 127.0 / (x_max or input_abs_max(dataset))


def _normalization(dataset: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per channel; load_checkpoint has checked that both are there (a missing one used to
    default to 0 and 1 and export with the wrong input.scale)."""
    return np.asarray(dataset.mean, float), np.asarray(dataset.std, float)


# Raw pixel range of each data set's loader (DatasetSpec: digits 0..16, CIFAR 0..1).
RAW_MAX = {"digits": 16.0, "cifar10": 1.0, "cifar100": 1.0}


def input_abs_max(dataset: DatasetSpec) -> float:
    """Largest |x| the normalization can produce from the loader's raw range."""
    mean, std = _normalization(dataset)
    raw_max = RAW_MAX.get(dataset.name, 1.0)
    return float(np.max(np.maximum(np.abs(mean), np.abs(raw_max - mean)) / std))


def current_bound_peaks(graph: Graph, part: Partition, x_max: float) -> dict[str, dict]:
    """Without calibration data: for inputs |x| ≤ ``x_max``, a guaranteed bound on the host-in current,
    Σ|W|·max|x| + |b| per output, and on v (a constant current I accumulates to below I / (1 − decay); to
    T·I over the T steps of an IF, decay 1)."""
    lif = graph.nodes[part.current_target]
    per_output = None
    for name in lif.sources:
        node = graph.nodes[name]
        w = np.abs(node.weight.astype(np.float64)).reshape(node.weight.shape[0], -1).sum(axis=1)
        term = w * x_max + np.abs(node.bias)
        per_output = term if per_output is None else per_output + term
    bound = float(per_output.max())
    accumulated = graph.timesteps if lif.decay == 1.0 else 1.0 / (1.0 - lif.decay)
    return {part.current_target: {"current_max": bound, "v_max": bound * accumulated}, "input": {"x_max": bound}}
