"""The exporter's chain on a model's current weights, for quantization-aware fine-tuning.

``ExportQuantizer`` is what ``enof.trainer.finetune.finetune`` is given (the trainer never imports the
exporter: the caller above both passes this class in): at every step it captures the model with
BatchNorm and average pools folded, partitions, calibrates on one held calibration batch and quantizes
(``quantize_for_target``, as enof-export does), and hands back the floats those integers stand for per
trained module (``enof.fixed_point_rules.ChipValues``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from enof.exporter.calibrate import calibration_batch
from enof.exporter.export import capture_checkpoint_model, quantize_for_target
from enof.exporter.graph import Graph
from enof.exporter.partition import Partition
from enof.exporter.quantize import Quantized, in_scale_of
from enof.fixed_point_rules import ChipValues, ModuleValues, bias_value, weight_value
from enof.hardware_profiles import Profile
from enof.trainer.checkpoint import Checkpoint

IDENTITY_SHORTCUT = "identity-shortcut"  # graph.ConvNode.role of a residual block's identity: no torch parameter


@dataclass(frozen=True)
class QuantState:
    """What the exporter chose for the current weights: the graph, the split and the integers."""

    graph: Graph
    partition: Partition
    quant: Quantized


class ExportQuantizer:
    """The export of ``checkpoint`` for ``profile``, repeated on a model's current weights."""

    def __init__(self, checkpoint: Checkpoint, profile: Profile, calibrate: int = 32, data_root=None,
                 weight_bits: int | None = None) -> None:
        self.checkpoint, self.profile, self.weight_bits = checkpoint, profile, weight_bits
        self.calibration = calibration_batch(checkpoint.dataset, checkpoint.timesteps, calibrate, data_root)

    @torch.no_grad()
    def state(self, model: nn.Module) -> QuantState:
        """Capture, then quantize_for_target on the held calibration batch, on ``model``'s weights."""
        graph = capture_checkpoint_model(model, self.checkpoint)
        part, quant, _, _ = quantize_for_target(graph, self.profile, self.checkpoint.dataset,
                                                weight_bits=self.weight_bits, calibration=self.calibration)
        return QuantState(graph, part, quant)

    def chip_values(self, model: nn.Module) -> ChipValues:
        return chip_values(self.state(model))


def chip_values(state: QuantState) -> ChipValues:
    """Per trained chip weight module, the folded weight and bias its integers stand for. The LIF's one
    quantized bias is the sum of its sources' biases: the first trained source takes it, less the others'."""
    graph, part, quant = state.graph, state.partition, state.quant
    chip = set(part.names("chip"))
    modules: list[ModuleValues] = []
    for lif_name, lq in quant.lifs.items():
        sources = [s for s in graph.nodes[lif_name].sources if s in chip and s in quant.weight_int]
        trained = [s for s in sources if getattr(graph.nodes[s], "role", "") != IDENTITY_SHORTCUT]
        folded_bias = _per_channel(bias_value(lq.bias_mant.astype(np.float64), lq.bias_exp, lq.scale))
        for i, name in enumerate(trained):
            in_scale = in_scale_of(graph, name, quant.input_scale)
            weight = weight_value(quant.weight_int[name].astype(np.float64), quant.weight_exp.get(name, 0),
                                  lq.scale, in_scale)
            others = sum((graph.nodes[o].bias.astype(np.float64) for o in sources if o != name), 0.0)
            modules.append(ModuleValues(graph.module_paths[name], weight, folded_bias - others if i == 0 else None))
    current = graph.module_paths[part.current_target] if part.input_mode == "current" else None
    return ChipValues(tuple(modules), part.input_mode, float(quant.input_scale), current)


def _per_channel(values: np.ndarray) -> np.ndarray:
    """A LIF-shaped bias (constant per channel, lif_bias_float's broadcast) → one value per channel."""
    return values.reshape(values.shape[0], -1)[:, 0]
