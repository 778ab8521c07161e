"""chip.net.h5 checked against the bundle's chip program before Lava starts (``netx_file_for_run``).

The manifest's hash is checked by ``read_bundle``; here the file is read as netx reads it
(``enof.formats.netx.read_netx``: only layer types netx runs, every field present) and every layer is compared
with what the chip program (chip.nir + quant.npz) says that layer is: kind, shape, weights, stride, padding,
threshold, decays and bias at netx's exponent 6. A hand-edited file that still hashes (a re-listed manifest)
is refused by layer name; so is a dense layer whose weights netx would read as other integers.
"""

from __future__ import annotations

import numpy as np

from enof.errors import BundleError, RunError
from enof.formats.netx import NETX_FILE, NetxLayer, bias_at_netx_exp, dense_read_problem, read_netx
from enof.runtime.program import INPUT, ChipProgram


def netx_file_for_run(bundle) -> bytes:
    """The bytes of an OpenedBundle's chip.net.h5, checked against its chip program; RunError (no file: the
    reason the export gave) or BundleError (a file that is not this bundle's chip part) otherwise."""
    record = bundle.manifest.netx
    if NETX_FILE not in bundle.paths:
        why = record.get("skipped") or "it was exported before enof wrote netx files: re-export it"
        raise RunError(f"{bundle.root}: no {NETX_FILE} for --backend netx: {why}")
    path = bundle.file(NETX_FILE)
    data = path.read_bytes()
    input_shape, layers = read_netx(data, str(path))
    check_against_program(layers, input_shape, bundle.program, int(bundle.profile.fixed_point.bias_mant_bits.value),
                          str(path))  # fmt: skip
    return data


def check_against_program(layers: list[NetxLayer], input_shape, program: ChipProgram, bias_mant_bits: int,
                          label: str) -> None:
    """Each netx layer is the chip program's layer of the same position, integer for integer."""
    names = list(program.layers)
    if len(layers) != len(names):
        raise BundleError(f"{label}: {len(layers)} weight layers, chip.nir has {len(names)} LIF layers ({', '.join(names)})")
    if input_shape is not None and tuple(input_shape) != tuple(program.input_shape):
        raise BundleError(f"{label}: input shape {tuple(input_shape)} is not chip.nir's {tuple(program.input_shape)}")
    previous = INPUT
    for layer, name in zip(layers, names):
        where = f"{label} layer {layer.name}"
        incoming = program.incoming(name)
        if len(incoming) != 1 or incoming[0].source != previous:
            raise BundleError(f"{label}: chip.nir's {name} is not fed by {previous} alone: netx reads only sequential networks")
        _check_layer(layer, name, incoming[0], program, bias_mant_bits, where)
        previous = name
    if layers[0].kind == "conv" and input_shape is None:
        raise BundleError(f"{label}: no input layer before the first conv (netx cannot infer its input shape)")


def _check_layer(layer: NetxLayer, name: str, syn, program: ChipProgram, bias_mant_bits: int, where: str) -> None:
    lif = program.layers[name]
    if layer.name != name:
        raise BundleError(f"{where}: feeds {layer.name!r}, chip.nir's layer there is {name}")
    if layer.kind != syn.runs_as:
        raise BundleError(f"{where}: a {layer.kind} layer, chip.nir's {syn.name} runs as {syn.runs_as}")
    if tuple(layer.shape) != tuple(lif.shape):
        raise BundleError(f"{where}: shape {tuple(layer.shape)} is not chip.nir's {tuple(lif.shape)}")
    if layer.weight.shape != syn.weight_int.shape or not np.array_equal(layer.weight, syn.weight_int):
        raise BundleError(f"{where}: weight {layer.weight.shape} differs from quant.npz's {syn.name}.weight_int")
    if layer.kind == "conv" and (tuple(layer.stride) != tuple(syn.stride) or tuple(layer.padding) != tuple(syn.padding)):
        raise BundleError(f"{where}: stride {layer.stride} / padding {layer.padding} differ from chip.nir's "
                          f"{tuple(syn.stride)} / {tuple(syn.padding)}")
    expected_flatten = layer.kind == "dense" and len(program.shape_of(syn.source)) != 1
    if layer.flatten_before != expected_flatten:
        raise BundleError(f"{where}: {'a' if layer.flatten_before else 'no'} flatten before it, but its source "
                          f"{syn.source} has shape {program.shape_of(syn.source)}")
    if layer.kind == "dense" and (problem := dense_read_problem(layer.weight, syn.weight_exp, syn.num_weight_bits)):
        raise BundleError(f"{where}: {problem}")
    for field, value, expected in (("vThMant", layer.vth, lif.vth), ("iDecay − 1", layer.du, lif.du),
                                   ("vDecay", layer.dv, lif.dv)):  # fmt: skip
        if value != expected:
            raise BundleError(f"{where}: neuron {field} is {value}, quant.npz's {name} says {expected}")
    bias, problem = bias_at_netx_exp(lif.bias_mant, lif.bias_exp, bias_mant_bits)
    if bias is None:
        raise BundleError(f"{where}: {problem}")
    if not np.array_equal(layer.bias, bias):
        raise BundleError(f"{where}: bias differs from quant.npz's {name} bias at exponent 6")
