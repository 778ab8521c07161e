"""chip.net.h5: the bundle's chip part as a lava-dl netx network file (docs/loihi2-hardware.md).

lava-dl 0.6.0's ``lava.lib.dl.netx.hdf5.Network`` reads only the group ``layer/`` with subgroups "0" … "n-1",
every field a dataset (shared/reference/netx.md). What this module writes, per layer:
``input`` (``shape`` C,H,W only: netx wires ``net.inp`` to the first conv; a neuron there would hang, lava-dl
#298), ``conv`` (``weight`` O,I,kH,kW in PyTorch's correlation order, ``shape`` C,H,W, ``stride``, ``padding``,
``dilation`` as (H, W), ``groups``), ``flatten`` (before a dense layer fed by a 3-D layer: C,H,W order),
``dense`` (``weight`` out,in, ``shape`` (N,)), each conv/dense with ``neuron/{type=CUBA, vThMant, iDecay,
vDecay}`` and an optional ``bias`` (per channel, or per neuron in netx's W,H,C order), which netx runs at
exponent 6. Each weight layer also carries ``name``, the enof LIF it feeds (netx ignores it).

netx maps ``vth = vThMant``, ``du = iDecay − 1``, ``dv = vDecay``, ``bias_exp = 6``
(lava/lib/dl/netx/hdf5.py ``Network.get_neuron_params``), and derives a dense layer's weight exponent and bit
count from the integers it reads (``netx/utils.py optimize_weight_bits``), which some ranges get wrong:
:func:`dense_read_problem` replays netx and Lava's Dense on the integers and says where they differ.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from enof.errors import BundleError
from enof.formats.fixed_point import WEIGHT_REGISTER_BITS, dense_effective_weights

NETX_FILE = "chip.net.h5"
NETX_BIAS_EXP = 6  # lava-dl 0.6.0 netx/hdf5.py Network.get_neuron_params: 'bias_exp': 6, fixed
NETX_READS = ("input", "conv", "flatten", "dense")  # the layer types this file uses; netx skips unknown ones silently


@dataclass(frozen=True)
class NetxLayer:
    """One conv or dense layer and the LIF it feeds, as netx runs it (integers; torch layouts)."""

    name: str  # the enof LIF it feeds
    kind: str  # conv | dense
    shape: tuple[int, ...]  # the LIF's (C, H, W) or (N,)
    weight: np.ndarray  # int (C_out, C_in, kH, kW) or (N_out, N_in)
    vth: int
    du: int
    dv: int
    bias: np.ndarray  # int, the LIF's shape: bias_mant at exponent NETX_BIAS_EXP
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    flatten_before: bool = False  # a dense layer fed by a 3-D layer (netx's flatten: C, H, W order)


def netx_bytes(input_shape: tuple[int, ...], layers: list[NetxLayer]) -> bytes:
    """The HDF5 bytes of a netx network: a shape-only input layer (before a first conv), then the layers."""
    import h5py  # lazy: h5py loads only where a chip.net.h5 is written or read, not for every bundle

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        top = f.create_group("layer")
        index = 0
        if layers and layers[0].kind == "conv":
            _group(top, index, "input").create_dataset("shape", data=np.asarray(input_shape, np.int64))
            index += 1
        for layer in layers:
            if layer.flatten_before:
                _group(top, index, "flatten")
                index += 1
            _write_layer(_group(top, index, layer.kind), layer)
            index += 1
    return buffer.getvalue()


def _group(top, index: int, kind: str):
    group = top.create_group(str(index))
    group.create_dataset("type", data=np.bytes_(kind))
    return group


def _write_layer(group, layer: NetxLayer) -> None:
    group.create_dataset("name", data=np.bytes_(layer.name))
    group.create_dataset("shape", data=np.asarray(layer.shape, np.int64))
    group.create_dataset("weight", data=np.asarray(layer.weight, np.int64))
    if layer.kind == "conv":
        group.create_dataset("stride", data=np.asarray(layer.stride, np.int64))
        group.create_dataset("padding", data=np.asarray(layer.padding, np.int64))
        group.create_dataset("dilation", data=np.asarray((1, 1), np.int64))
        group.create_dataset("groups", data=np.int64(1))
    if np.any(layer.bias):
        group.create_dataset("bias", data=_file_bias(layer))
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data=np.bytes_("CUBA"))
    neuron.create_dataset("vThMant", data=np.int64(layer.vth))
    neuron.create_dataset("iDecay", data=np.int64(layer.du + 1))  # netx: du = iDecay − 1
    neuron.create_dataset("vDecay", data=np.int64(layer.dv))


def _file_bias(layer: NetxLayer) -> np.ndarray:
    """Per channel when a conv bias is constant over H and W (what slayer writes), else per neuron in netx's
    W, H, C order (netx/blocks/process.py AbstractBlock._neuron compares it with the block's W, H, C shape)."""
    bias = np.asarray(layer.bias, np.int64)
    if bias.ndim != 3:
        return bias
    if np.all(bias == bias[:, :1, :1]):
        return np.ascontiguousarray(bias[:, 0, 0])
    return np.ascontiguousarray(bias.transpose(2, 1, 0))


def _bias_from_file(bias: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    if len(shape) == 3 and bias.shape == (shape[0],):
        return np.broadcast_to(bias[:, None, None], shape).copy()
    if len(shape) == 3 and bias.shape == tuple(reversed(shape)):
        return bias.transpose(2, 1, 0).copy()
    if bias.shape == tuple(shape):
        return bias.copy()
    raise BundleError(f"{where}: bias of shape {bias.shape} is neither per channel nor per neuron of {tuple(shape)}")


def read_netx(data: bytes, label: str) -> tuple[tuple[int, ...] | None, list[NetxLayer]]:
    """(the input layer's shape or None, the layers) of a chip.net.h5, read as netx reads it, checked: only the
    layer types of :data:`NETX_READS` (netx skips an unknown type silently and raises at run time on pool,
    average, concat, convT, unpool), every field present with a sane shape. One BundleError line on a problem."""
    import h5py  # lazy: h5py loads only where a chip.net.h5 is written or read, not for every bundle

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            if "layer" not in f:
                raise BundleError(f"{label}: no group 'layer' (not a netx network file)")
            top = f["layer"]
            count = len(top)
            if sorted(top.keys(), key=_int_or_none) != [str(i) for i in range(count)] or count == 0:
                raise BundleError(f"{label}: layer groups must be '0' … 'n-1', found {sorted(top.keys())}")
            return _read_layers([top[str(i)] for i in range(count)], label)
    except BundleError:
        raise
    except Exception as exc:  # h5py raises many types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"{label}: cannot read as netx HDF5 ({first})") from None


def _int_or_none(key: str):
    return int(key) if key.isdigit() else -1


def _read_layers(groups, label: str):
    input_shape, layers, flatten = None, [], False
    for i, group in enumerate(groups):
        where = f"{label} layer/{i}"
        kind = _text(group, "type", where)
        if kind not in NETX_READS:
            raise BundleError(f"{where}: type {kind!r} is not one netx runs here ({', '.join(NETX_READS)}): "
                              "netx skips unknown types silently and raises on pool/average/concat/convT/unpool")
        if kind == "input":
            if i != 0 or "neuron" in group:
                raise BundleError(f"{where}: an input layer must come first and hold only a shape (a neuron there "
                                  "leaves netx's input unconnected: lava-dl #298)")
            input_shape = _ints(group, "shape", where)
            continue
        if kind == "flatten":
            flatten = True
            continue
        layers.append(_read_weight_layer(group, kind, flatten, where))
        flatten = False
    if flatten:
        raise BundleError(f"{label}: a flatten layer ends the network (netx needs a dense layer after it)")
    return input_shape, layers


def _read_weight_layer(group, kind: str, flatten: bool, where: str) -> NetxLayer:
    shape = _ints(group, "shape", where)
    weight = _array(group, "weight", where).astype(np.int64)
    if "neuron" not in group:
        raise BundleError(f"{where}: no neuron group (netx would put a non-leaky integrator there)")
    neuron = group["neuron"]
    if _text(neuron, "type", f"{where}/neuron") != "CUBA":
        raise BundleError(f"{where}/neuron: type is not CUBA (the LIF netx maps onto Lava's LIF)")
    extra = {}
    if kind == "conv":
        if int(_array(group, "groups", where)) != 1 or tuple(_ints(group, "dilation", where)) != (1, 1):
            raise BundleError(f"{where}: groups and dilation must be 1 (enof's conv synapse has neither)")
        extra = dict(stride=_pair(group, "stride", where), padding=_pair(group, "padding", where))
    bias = (_bias_from_file(_array(group, "bias", where).astype(np.int64), shape, where) if "bias" in group
            else np.zeros(shape, np.int64))  # fmt: skip
    return NetxLayer(
        name=_text(group, "name", where) if "name" in group else where, kind=kind, shape=shape, weight=weight,
        vth=int(_array(neuron, "vThMant", where)), du=int(_array(neuron, "iDecay", where)) - 1,
        dv=int(_array(neuron, "vDecay", where)), bias=bias, flatten_before=flatten, **extra,
    )  # fmt: skip


def _array(group, key: str, where: str) -> np.ndarray:
    if key not in group:
        raise BundleError(f"{where}: missing field {key!r}")
    value = np.asarray(group[key][()])
    if value.dtype.kind not in "iu":
        raise BundleError(f"{where}: {key} must hold integers, not {value.dtype}")
    return value


def _ints(group, key: str, where: str) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(_array(group, key, where)))


def _pair(group, key: str, where: str) -> tuple[int, int]:
    values = _ints(group, key, where)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _text(group, key: str, where: str) -> str:
    if key not in group:
        raise BundleError(f"{where}: missing field {key!r}")
    value = group[key][()]
    value = value[0] if isinstance(value, np.ndarray) and value.shape else value
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- what netx reads exactly
def bias_at_netx_exp(bias_mant: np.ndarray, bias_exp: int, mant_bits: int) -> tuple[np.ndarray | None, str]:
    """``bias_mant · 2^bias_exp`` as a mantissa at netx's exponent 6, or None and why not (not a multiple of
    2^6, or a mantissa wider than the target's ``mant_bits``)."""
    mant = np.asarray(bias_mant, np.int64)
    shift = int(bias_exp) - NETX_BIAS_EXP
    if shift < 0 and np.any(mant % (1 << -shift)):
        return None, (f"bias at exponent {bias_exp} is not a multiple of 2^{NETX_BIAS_EXP} (netx fixes "
                      f"bias_exp = {NETX_BIAS_EXP})")
    value = mant << shift if shift >= 0 else mant >> -shift
    top = 2 ** (mant_bits - 1) - 1
    peak = int(np.abs(value).max(initial=0))
    if peak > top:
        return None, f"bias needs a mantissa of {peak} at netx's exponent {NETX_BIAS_EXP}, beyond {mant_bits} bits (±{top})"
    return value, ""


def _sign_mode(weight: np.ndarray) -> str:
    """lava/utils/weightutils.py determine_sign_mode."""
    return "excitatory" if weight.min() >= 0 else "inhibitory" if weight.max() <= 0 else "mixed"


def lava_dense_weights(weight: np.ndarray, num_weight_bits: int) -> np.ndarray | None:
    """What Lava's bit-accurate Dense makes of ``weight`` (``dense_effective_weights``); None where its truncation
    shift would be negative (more than 8 bits, or 9 for mixed sign: numpy's shift by a negative count)."""
    if WEIGHT_REGISTER_BITS - int(num_weight_bits) + int(_sign_mode(np.asarray(weight)) == "mixed") < 0:
        return None
    return dense_effective_weights(weight, int(num_weight_bits))


def netx_dense_weights(weight: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """netx/utils.py optimize_weight_bits on the file's integers: (weights shifted, num_weight_bits, weight_exp),
    or None where netx clips (mixed sign outside [−256, 254]), shifts by a negative count or divides by zero."""
    w = np.asarray(weight, np.int64)
    top, bottom = int(w.max()), int(w.min())
    if (top > 254 and bottom < 0) or (bottom < -256 and top > 0) or (top == 0 and bottom == 0):
        return None
    if top < 0:
        signed, scale = 0, -256 / bottom
    elif bottom >= 0:
        signed, scale = 0, 255 / top
    else:
        signed, scale = 1, min(127 / top if top > 0 else np.inf, -128 / bottom)  # numpy's 127 / 0 = inf
    scale_bits = int(np.floor(np.log2(scale))) + signed
    if scale_bits < 0:
        return None
    n = next((k for k in range(8, 0, -1) if not np.any(w % (1 << k))), 0) - signed
    return w << scale_bits, 8 - scale_bits - n, -scale_bits


def _effective(weight: np.ndarray, exp: int) -> tuple[np.ndarray, int]:
    """(integers, exponent) with the shift folded into the integers where that changes nothing: a left shift
    always, a right shift of the sum when every weight is a multiple of it."""
    if exp >= 0:
        return weight << exp, 0
    if not np.any(weight % (1 << -exp)):
        return weight >> -exp, 0
    return weight, exp


def dense_read_problem(weight: np.ndarray, weight_exp: int, num_weight_bits: int) -> str:
    """Why netx would not compute the dense layer enof's Lava Dense does (``weight`` with ``weight_exp`` and
    ``num_weight_bits``, binary input spikes), or "" when it computes the same integers."""
    ours = lava_dense_weights(weight, num_weight_bits)
    netx = netx_dense_weights(weight)
    w = np.asarray(weight, np.int64)
    if netx is None:
        return (f"weights in [{w.min()}, {w.max()}]: netx clips mixed-sign weights outside [-256, 254], cannot "
                "scale excitatory weights above 255 and fails on all-zero weights")
    shifted, bits, exp = netx
    theirs = lava_dense_weights(shifted, bits)
    if ours is None or theirs is None:
        return f"weights in [{w.min()}, {w.max()}] give a negative truncation in Lava's Dense"
    a, b = _effective(ours, int(weight_exp)), _effective(theirs, exp)
    if a[1] != b[1] or not np.array_equal(a[0], b[0]):
        wrong = int(np.count_nonzero(a[0] != b[0])) if a[1] == b[1] else w.size
        return (f"weights in [{w.min()}, {w.max()}]: netx would read {wrong} of {w.size} differently "
                f"(weight exponent {exp} vs {weight_exp}, sign mode {_sign_mode(shifted)} vs {_sign_mode(w)})")
    return ""
