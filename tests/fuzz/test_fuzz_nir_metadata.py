"""Mutated NIR graphs (issue 27's NIR-metadata family, owned by issue 26): a valid graph of an nn.Sequential
(node names "0" … "3") with its metadata (dt_s, timesteps, reset) or one neuron parameter (v_threshold, tau, r,
v_leak, v_reset) replaced by a seeded draw of strings, bytes, booleans, zero, negative, NaN, Inf, huge values
and arrays, written by nir.write and given to enof-export.

For every mutant: no traceback, and either exit 1 with one `error:` line and no bundle folder, or exit 0 with
a bundle that opens. Mutants invalid by construction (a non-number, NaN, a time constant or threshold ≤ 0, a
dt/tau above 1, reset by subtraction) must be refused; the untouched graph must deploy.
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
from typer.testing import CliRunner

from enof.cli.export import app

pytestmark = pytest.mark.fuzz
SEED = 20261207
DT_S, TAU = 1e-4, 5e-4
MUTANTS = 24
BAD_NUMBERS = ["1e-4", b"1e-4", True, 0.0, -1e-4, math.nan, math.inf, -math.inf, [1e-4, 2e-4]]
BAD_STEPS = ["4", 2.5, 0, -3, 2**40, math.nan, [4, 4]]
FIELD_VALUES = {  # value → must the export refuse it? (None: either answer is right, but only one line)
    "v_threshold": [(0.0, True), (-0.5, True), (math.nan, True), (math.inf, True), (0.05, False), (1e-3, None), (1e6, None)],
    "tau": [(0.0, True), (-TAU, True), (math.nan, True), (DT_S / 2, True), (1e30, None), (TAU * 4, False)],
    "r": [(math.nan, True), (math.inf, True), (0.0, None), (-1.0, None), (1e12, None)],
    "v_leak": [(0.3, True), (math.nan, True)],
    "v_reset": [(-1.0, True), (math.nan, True)],
}


def _graph(metadata: dict, lif_change: dict | None = None) -> nir.NIRGraph:
    rng = np.random.default_rng(4)
    fields = {"tau": TAU, "r": 1.25, "v_leak": 0.0, "v_threshold": 0.5, "v_reset": 0.0, **(lif_change or {})}
    lif = nir.LIF(**{k: np.full(3, v, np.float32) for k, v in fields.items()})
    nodes = {
        "input": nir.Input({"input": np.array([6])}),
        "0": nir.Affine(rng.normal(0, 1.0, (8, 6)).astype(np.float32), np.zeros(8, np.float32)),
        "1": nir.LIF(**{k: np.full(8, v, np.float32) for k, v in {"tau": TAU, "r": 1.25, "v_leak": 0.0, "v_threshold": 0.5, "v_reset": 0.0}.items()}),
        "2": nir.Affine(rng.normal(0, 1.0, (3, 8)).astype(np.float32), np.zeros(3, np.float32)), "3": lif,
        "output": nir.Output({"output": np.array([3])}),
    }  # fmt: skip
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order, order[1:])), metadata=metadata, type_check=False)


def mutants() -> list[tuple[str, nir.NIRGraph, bool | None]]:
    """(what, graph, must refuse): every neuron-parameter value once, MUTANTS seeded metadata draws, then the
    untouched graph."""
    rng = np.random.default_rng(SEED)
    cases = [(f"3.{name}={value!r}", _graph({"dt_s": DT_S, "timesteps": 3}, {name: value}), refuse)
             for name, values in FIELD_VALUES.items() for value, refuse in values]  # fmt: skip
    for _ in range(MUTANTS):
        family = ("dt_s", "timesteps", "reset")[int(rng.integers(0, 3))]
        metadata = {"dt_s": DT_S, "timesteps": 3}
        if family == "dt_s":
            value = BAD_NUMBERS[int(rng.integers(0, len(BAD_NUMBERS)))]
            metadata["dt_s"] = value
            cases.append((f"metadata dt_s={value!r}", _graph(metadata), True))
        elif family == "timesteps":
            value = BAD_STEPS[int(rng.integers(0, len(BAD_STEPS)))]
            metadata["timesteps"] = value
            cases.append((f"metadata timesteps={value!r}", _graph(metadata), True))
        else:
            value = ("subtract", "SUBTRACT", "reset-by-subtraction", "zero")[int(rng.integers(0, 4))]
            metadata["reset"] = value
            cases.append((f"metadata reset={value!r}", _graph(metadata), value != "zero"))
    cases.append(("untouched", _graph({"dt_s": DT_S, "timesteps": 3}), False))
    return cases


def test_mutated_nir_metadata_and_parameters_are_one_line_or_a_bundle(tmp_path):
    from enof.runtime.bundle import open_bundle

    refusals = 0
    for index, (what, graph, must_refuse) in enumerate(mutants()):
        folder = tmp_path / str(index)
        folder.mkdir()
        try:
            nir.write(str(folder / "graph.nir"), graph)
        except Exception:  # noqa: BLE001  nir cannot store this value: no file a tool could hand over
            continue
        result = CliRunner().invoke(app, [str(folder / "graph.nir"), "--target", "loihi2", "-o", str(folder / "bundle"), "-q"])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{what}: traceback {type(result.exception).__name__}: {result.exception}")
        if result.exit_code == 0:
            assert must_refuse is not True, f"{what}: accepted\n{result.output}"
            open_bundle(folder / "bundle")
            continue
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {result.stderr}"
        assert must_refuse is not False, f"{what}: refused: {lines[0]}"
        assert not (folder / "bundle").exists(), what
        refusals += 1
    assert refusals >= 30  # most mutants are invalid input: the checks ran, nothing was skipped
