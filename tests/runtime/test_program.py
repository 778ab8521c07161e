"""ChipProgram validation: which conv synapses may carry a weight exponent (docs/design.md §6)."""

import numpy as np
import pytest

from enof.runtime.program import Synapse
from enof.synapses.conv import conv_output_shape


def _conv(weight_int, weight_exp, stride=(1, 1), padding=(0, 0)):
    """A conv synapse from a 6×6 layer "a" into the layer "b" its geometry gives."""
    c_out, c_in, *kernel = weight_int.shape
    out = conv_output_shape(weight_int.shape, (c_in, 6, 6), stride, padding)
    shapes = {"a": (c_in, 6, 6), "b": out}
    return Synapse.between("s", "conv", "a", "b", shapes, weight_int.astype(np.float32), weight_int.astype(np.int32),
                           weight_exp, stride, padding)  # fmt: skip


def test_identity_conv_accepts_a_weight_exponent():
    diag = np.zeros((4, 4, 1, 1), np.int32)
    diag[np.arange(4), np.arange(4), 0, 0] = [100, 100, 90, 7]  # a scaled identity; per-channel values allowed
    syn = _conv(diag, 3)
    assert syn.is_identity and syn.weight_exp == 3 and list(syn.diagonal_int) == [100, 100, 90, 7]
    assert _conv(diag, -2).is_identity


@pytest.mark.parametrize(
    "weight, options",
    [
        (np.ones((4, 4, 3, 3)), {"padding": (1, 1)}),  # a 3×3 conv
        (np.ones((4, 4, 1, 1)), {}),  # 1×1 but not diagonal
        (np.eye(4).reshape(4, 4, 1, 1), {"stride": (2, 2)}),  # diagonal but strided
        (np.eye(4).reshape(4, 4, 1, 1), {"padding": (1, 1)}),  # diagonal but padded
        (np.eye(4, 3).reshape(4, 3, 1, 1), {}),  # C_out != C_in
    ],
)
def test_any_other_conv_with_a_weight_exponent_is_refused(weight, options):
    with pytest.raises(ValueError, match="conv weight_exp must be 0, got 2"):
        _conv(weight, 2, **options)
    assert not _conv(weight, 0, **options).is_identity  # weight_exp 0: accepted, as any conv


def _edited_nir(bundle_dir, tmp_path, edit):
    """The bundle's chip.nir with `edit(graph)` applied, written beside a copy of its quant.npz."""
    import shutil

    import nir

    graph = nir.read(str(bundle_dir / "chip.nir"))
    edit(graph)
    nir.write(str(tmp_path / "chip.nir"), graph)
    shutil.copy(bundle_dir / "quant.npz", tmp_path / "quant.npz")
    return tmp_path / "chip.nir", tmp_path / "quant.npz"


@pytest.mark.parametrize(
    "edit, tail",
    [
        (lambda g: g.nodes["conv2"].weight.__setitem__((0, 0, 0, 0), np.nan),
         "weight node 'conv2' weight holds nan, expected finite values"),
        (lambda g: setattr(g.nodes["conv2"], "stride", np.array([1, 1])),
         "cannot read NIR (Type inference error: type mismatch: conv2.output: [[16  8  8]] -> act2.input: [[16  4  4]])"),
        (lambda g: g.nodes["act1"].v_threshold.__setitem__(..., -0.5),
         "LIF 'act1' v_threshold holds -0.5, expected finite values > 0"),
        (lambda g: g.metadata.update(decay=1.5),
         "LIF 'act1' tau gives decay 1 − dt_s/tau = 0.25, but the graph metadata says decay 1.5"),
        (lambda g: [g.metadata.pop("dt_s"), g.metadata.update(decay=1.5)], "LIF 'act1' decay 1.5 is outside [0, 1]"),
        (lambda g: g.nodes["conv2"].bias.__setitem__(0, np.nan), "weight node 'conv2' bias holds nan, expected finite values"),
        (lambda g: g.edges.remove(("act2", "output")),  # nir.write adds an Input and an Output at the loose ends
         "'input_output' is a second Input node; the chip has one input, 'input'"),
        (lambda g: g.nodes["act2"].tau.__setitem__(..., np.inf), "LIF 'act2' tau holds inf, expected finite values > 0"),
    ],
)  # fmt: skip
def test_chip_nir_that_does_not_hold_together_is_one_line(digits_bundle, tmp_path, edit, tail):
    """chip.nir edited and rewritten (the bundle would need its hash edited too): shapes, finiteness, wiring."""
    from enof.errors import BundleError
    from enof.runtime.chip_nir import program_from_bundle

    bundle, _ = digits_bundle("loihi2")
    nir_path, quant_path = _edited_nir(bundle, tmp_path, edit)
    with pytest.raises(BundleError) as info:
        program_from_bundle(nir_path, quant_path, 2, 24)
    assert str(info.value) == f"{nir_path}: {tail}"


@pytest.mark.parametrize(
    "edit, line",
    [
        (lambda g: g.nodes["act1"].v_leak.__setitem__(..., 0.1),
         "act1: LIF v_leak = 0.1; the chip's LIF leaks to 0 and resets to 0 (v_leak = 0)"),
        (lambda g: g.nodes["act2"].v_reset.__setitem__((0, 0, 0), -0.25),
         "act2: LIF v_reset = -0.25; the chip's LIF leaks to 0 and resets to 0 (v_reset = 0)"),
        (lambda g: g.nodes["act1"].r.__setitem__((0, 0, 0), 2.0),
         "act1: LIF r differs between neurons (2 values); the chip needs one per layer"),
    ],
)  # fmt: skip
def test_lif_parameters_the_chip_cannot_compute_are_refused_by_node_name(digits_bundle, tmp_path, edit, line):
    from enof.errors import UnsupportedModuleError
    from enof.runtime.chip_nir import program_from_bundle

    bundle, _ = digits_bundle("loihi2")
    nir_path, quant_path = _edited_nir(bundle, tmp_path, edit)
    with pytest.raises(UnsupportedModuleError) as info:
        program_from_bundle(nir_path, quant_path, 2, 24)
    assert str(info.value) == line


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_the_program_takes_the_trained_float_network_from_chip_nir(digits_bundle, target):
    """chip.nir's weights and biases carry the input gain 1/(1 − decay); the program gets the trained ones
    back (float32 rounding of the two products: 3e-7 relative)."""
    from enof.exporter.graph import capture
    from enof.exporter.quantize import lif_bias_float
    from enof.runtime.bundle import open_bundle

    bundle, model = digits_bundle(target)
    program = open_bundle(bundle).program
    graph = capture(model, (1, 8, 8), 2)
    weight_nodes = {syn.name for syn in program.synapses}
    for syn in program.synapses:
        if syn.kind != "current":
            np.testing.assert_allclose(syn.weight, graph.nodes[syn.name].weight, rtol=3e-7, atol=1e-30)
    for name, layer in program.layers.items():
        sources = [s for s in graph.nodes[name].sources if s in weight_nodes]
        np.testing.assert_allclose(layer.bias_float, lif_bias_float(graph, graph.nodes[name], sources), rtol=3e-7, atol=1e-12)
        assert layer.v_threshold == 0.5 and layer.decay == 0.25  # the current-fed LIF's 0.375 / 0.75 too
