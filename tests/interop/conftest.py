"""Interop fixtures: a trained digits network exported for both targets, and the chip's input and
per-layer spikes as enof's own float simulator computes them (the reference the importers must match)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REFERENCE_RUN = Path(__file__).parents[1] / "trainer" / "data" / "reference_run.pt"  # a short real digits run


@pytest.fixture(scope="session")
def trained_digits_bundles(tmp_path_factory):
    """{target: bundle dir} for loihi2 (graded input) and loihi (current input), exported by the real chain
    from the trained digits_cnn of tests/trainer/data (width 8, T = 2, RepAct): real BN-folded biases."""
    import torch

    from enof.datasets import dataset_spec
    from enof.exporter.export import export_bundle
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.trainer.neurons import NeuronConfig

    root = tmp_path_factory.mktemp("interop")
    state = torch.load(REFERENCE_RUN, weights_only=True)["snn"]
    ckpt = Checkpoint(
        arch="digits_cnn", arch_kwargs={"num_classes": 10, "width": 8}, neuron=NeuronConfig().to_dict(), timesteps=2,
        repact=True, state_dict=state, dataset=dataset_spec("digits"), seed=7, versions=versions(),
    )  # fmt: skip
    save_checkpoint(ckpt, root / "model.pt")
    return {target: export_bundle(root / "model.pt", target, root / target, calibrate=16).out_dir
            for target in ("loihi2", "loihi")}  # fmt: skip


@pytest.fixture(scope="session")
def enof_float_reference(trained_digits_bundles, digits_test_set):
    """``enof_float_reference(target)`` -> (chip input (B, *shape) float32, {LIF: spikes (T, B, *shape) uint8},
    timesteps): the chip's input (the images, or host_in.onnx's current) and enof's float simulator's spikes."""
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate
    from enof.runtime.host import open_session, run_host_in

    images, _ = digits_test_set
    made = {}

    def reference(target: str):
        if target not in made:
            bundle = open_bundle(trained_digits_bundles[target])
            x = images
            if bundle.program.input_mode == "current":
                x = run_host_in(open_session(trained_digits_bundles[target] / "host_in.onnx"), images)
            run = simulate(bundle.program, x, "float", record_spikes=True)
            made[target] = (np.asarray(x, np.float32), run.spikes, bundle.program.timesteps)
        return made[target]

    return reference
