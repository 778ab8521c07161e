"""The integer arithmetic quant.npz's integers are defined against: Lava's fixed_pt models (lava-nc 0.10.0).

The exporter quantizes for it, the built-in simulator reproduces it bit for bit and the Lava backend
runs it (docs/design.md §6). Every constant cites the Lava source that fixes it. What belongs to the
target rather than to Lava's code (the widths of u and v, weights, decays, biases) is read from the
hardware profile's ``[fixed_point]`` table; ``LAVA_STATE_BITS`` is what Lava's models implement.
"""

from __future__ import annotations

import numpy as np

FLOAT32_EXACT = 2**24  # float32 holds every integer below this exactly (sums of integers in float32 stay exact)
FLOAT64_EXACT = 2**53  # float64 likewise

DECAY_SHIFT = 12  # lava/proc/lif/models.py AbstractPyLifModelFixed.decay_shift: decays are 12-bit fractions
DECAY_UNITY = 1 << DECAY_SHIFT  # AbstractPyLifModelFixed.decay_unity = 2**decay_shift = 4096
ACT_SHIFT = 6  # AbstractPyLifModelFixed.act_shift: a_in << 6 aligns the synaptic input to the state's MSBs
VTH_SHIFT = 6  # AbstractPyLifModelFixed.vth_shift: the threshold mantissa is used as vth << 6
DU_OFFSET = 1  # AbstractPyLifModelFixed.ds_offset: the current decays by (du + 1) / 4096
DV_OFFSET = 0  # AbstractPyLifModelFixed.dm_offset: the voltage decays by dv / 4096
DU_KEEP_NOTHING = DECAY_UNITY - DU_OFFSET  # du = 4095: u = a_in << 6 each step, the current holds nothing
DECAY_CODE_MAX = DECAY_UNITY - 1  # lava/proc/lif/models.py AbstractPyLifModelFixed: du, dv uint16, precision=12
LAVA_STATE_BITS = 24  # AbstractPyLifModelFixed.uv_bitwidth: "State variables u and v are 24-bits wide"
CONV_ACC_BITS = 24  # lava/proc/conv/models.py PyConvModelFixed.clamp_precision: signed_clamp(x, bits=24)
GRADED_MESSAGE_BITS = 24  # num_message_bits of graded payloads: PyConvModelFixed.s_in is int32, precision=24

WEIGHT_REGISTER_BITS = 8  # lava/utils/weightutils.py: clip_weights(num_bits=8), truncate_weights(max_num_weight_bits=8)


def dense_effective_weights(weight_int: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """Lava Dense's weights after its first step: sign mode, clip to 8 bits, truncate (lava/utils/weightutils.py
    determine_sign_mode, clip_weights, truncate_weights; lava/proc/dense/models.py).

    EXCITATORY (min >= 0) clips to [0, 255], INHIBITORY (max <= 0) to [−255, 0], MIXED to [−256, 255];
    then ``(W >> nt) << nt`` with nt = 8 − num_weight_bits + mixed (on −W for INHIBITORY).
    """
    w = np.asarray(weight_int).astype(np.int64)
    if w.min() >= 0:
        sign, mixed = 1, 0
    elif w.max() <= 0:
        sign, mixed = -1, 0
    else:
        sign, mixed = 1, 1
    w = sign * w
    w = np.clip(w, -(2**WEIGHT_REGISTER_BITS) * mixed, 2**WEIGHT_REGISTER_BITS - 1)
    truncate_bits = WEIGHT_REGISTER_BITS - num_weight_bits + mixed
    w = (w >> truncate_bits) << truncate_bits
    return sign * w
