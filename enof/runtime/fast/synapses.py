"""Synapse operators of the built-in simulator: each synapse kind builds its own (enof.synapses, ``float_op``
and ``fixed_op`` of its ``SynapseKind``), reached through the table ``KINDS``.

Fixed point mirrors Lava's CPU models (lava.md): Dense clips/truncates its weights, accumulates binary spikes
or graded payloads exactly and shifts by ``weight_exp``; Conv convolves exactly and wraps to 24 bits
(``weight_exp`` ignored); an identity conv with ``weight_exp != 0`` is Lava's Sparse diagonal
(``Synapse.runs_as``), which clips/truncates and shifts exactly like Dense; current mode adds ``x_int``.
The operators' shared machinery (exact dtypes, Lava's shift) is enof.synapses.ops.
"""

from __future__ import annotations

import torch

from enof.runtime.program import Synapse
from enof.synapses import KINDS
from enof.synapses.ops import SynapseOp

_CPU = torch.device("cpu")

__all__ = ["SynapseOp", "build_fixed_op", "build_float_op"]


def build_float_op(syn: Synapse, device: torch.device = _CPU) -> SynapseOp:
    """Float32 operator of ``syn``'s kind (conv2d, dense on the torch-order flattened source, or identity), its
    weights on ``device``."""
    return KINDS[syn.kind].float_op(syn, device)


def build_fixed_op(syn: Synapse, input_bound: int, graded: bool, device: torch.device = _CPU) -> SynapseOp:
    """Operator bit-exact with Lava's fixed_pt model of this synapse, its weights on ``device``.

    ``input_bound`` bounds |source values| (1 for spikes, max |x_int| for the input); ``graded``
    selects Lava's graded path (num_message_bits > 0: payloads multiply the weights).
    """
    return KINDS[syn.kind].fixed_op(syn, input_bound, graded, device)
