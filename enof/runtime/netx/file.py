"""chip.net.h5 checked against the bundle's chip program before Lava starts (``netx_file_for_run``).

The manifest's hash is checked by ``read_bundle``; here the file is read as netx reads it
(``enof.formats.netx.read_netx``: only layer types netx runs, every field present) and every layer is compared
with what the chip program (chip.nir + quant.npz) says that layer is: kind, shape, weights, stride, padding,
threshold, decays and bias at netx's exponent 6. A hand-edited file that still hashes (a re-listed manifest)
is refused by layer name; so is a dense layer whose weights netx would read as other integers.
"""

from __future__ import annotations

import importlib.util

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
    if importlib.util.find_spec("lava.lib.dl") is None:  # namespace packages: nothing of lava-dl is imported here
        raise RunError("--backend netx needs lava-dl 0.6.0 (its netx), which is not installed: run make install")
    path = bundle.file(NETX_FILE)
    data = path.read_bytes()
    input_shape, layers = read_netx(data, str(path))
    check_against_program(layers, input_shape, bundle.program, int(bundle.profile.fixed_point.bias_mant_bits.value),
                          str(path))  # fmt: skip
    return data


def netx_layers_of(program: ChipProgram, bias_mant_bits: int, label: str = "chip.nir") -> list[NetxLayer]:
    """The chip program as netx layers (what chip.net.h5 must hold); BundleError where netx cannot express it."""
    layers, previous = [], INPUT
    for name, lif in program.layers.items():
        incoming = program.incoming(name)
        if len(incoming) != 1 or incoming[0].source != previous:
            raise BundleError(f"{label}: {name} is not fed by {previous} alone: netx reads only sequential networks")
        syn = incoming[0]
        if syn.runs_as not in ("conv", "dense") or syn.connection.groups != 1:
            raise BundleError(f"{label}: {syn.name} runs as {syn.runs_as} ({syn.connection.groups} group(s)), which "
                              "enof writes no netx layer for")
        if syn.runs_as == "dense" and (problem := dense_read_problem(syn.weight_int, syn.weight_exp, syn.num_weight_bits)):
            raise BundleError(f"{label}: {syn.name}: {problem}")
        bias, problem = bias_at_netx_exp(lif.bias_mant, lif.bias_exp, bias_mant_bits)
        if bias is None:
            raise BundleError(f"{label}: {name}: {problem}")
        layers.append(NetxLayer(
            name=name, kind=syn.runs_as, shape=tuple(lif.shape), weight=np.asarray(syn.weight_int, np.int64),
            vth=int(lif.vth), du=int(lif.du), dv=int(lif.dv), bias=bias, stride=tuple(syn.stride),
            padding=tuple(syn.padding), flatten_before=syn.runs_as == "dense" and len(program.shape_of(syn.source)) != 1,
        ))  # fmt: skip
        previous = name
    return layers


_FIELDS = (("kind", "layer type"), ("shape", "shape"), ("stride", "stride"), ("padding", "padding"),
           ("flatten_before", "flatten before it"), ("vth", "neuron vThMant"), ("du", "neuron iDecay − 1"),
           ("dv", "neuron vDecay"))  # fmt: skip


def check_against_program(layers: list[NetxLayer], input_shape, program: ChipProgram, bias_mant_bits: int,
                          label: str) -> None:
    """Each netx layer is the chip program's layer of the same position, integer for integer."""
    expected = netx_layers_of(program, bias_mant_bits, f"{label} (from chip.nir)")
    if len(layers) != len(expected):
        raise BundleError(f"{label}: {len(layers)} weight layers, chip.nir has {len(expected)} LIF layers "
                          f"({', '.join(e.name for e in expected)})")
    if expected[0].kind == "conv" and input_shape is None:
        raise BundleError(f"{label}: no input layer before the first conv (netx cannot infer its input shape)")
    if input_shape is not None and tuple(input_shape) != tuple(program.input_shape):
        raise BundleError(f"{label}: input shape {tuple(input_shape)} is not chip.nir's {tuple(program.input_shape)}")
    for layer, want in zip(layers, expected):
        where = f"{label} layer {layer.name}"
        if layer.name != want.name:
            raise BundleError(f"{where}: feeds {layer.name!r}, chip.nir's layer there is {want.name}")
        for attribute, what in _FIELDS:
            if getattr(layer, attribute) != getattr(want, attribute):
                raise BundleError(f"{where}: {what} is {getattr(layer, attribute)}, chip.nir and quant.npz say "
                                  f"{getattr(want, attribute)}")
        for attribute in ("weight", "bias"):
            mine, theirs = getattr(layer, attribute), getattr(want, attribute)
            if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
                raise BundleError(f"{where}: {attribute} {mine.shape} differs from quant.npz's integers for {want.name}")
