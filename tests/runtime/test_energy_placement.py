"""The energy model on a bundle from the real chain (trainer checkpoint -> export_bundle -> run_bundle):
its spike destinations agree with the placer's output axons, and its ANN baseline counts the host's
per-timestep layers once."""

import numpy as np
import pytest
import torch

from enof.exporter.export import export_bundle
from enof.formats.run_result import write_run_result
from enof.runtime.energy.price import compute_energy
from enof.runtime.energy.inputs import load_energy_inputs
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle

WIDTH, T, SAMPLES = 32, 2, 8  # width 32 (the design's digits net): 4 + 5 cores


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A random-weight digits_cnn (RepAct, width 32, T = 2) exported for loihi and run on 8 test digits."""
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.datasets import dataset_spec, load_dataset
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    root = tmp_path_factory.mktemp("energy_chain")
    torch.manual_seed(0)
    model = build_model("digits_cnn", repact=True, timesteps=T, neuron=NeuronConfig(), num_classes=10, width=WIDTH)
    ckpt = Checkpoint(
        arch="digits_cnn", arch_kwargs={"num_classes": 10, "width": WIDTH}, neuron=NeuronConfig().to_dict(),
        timesteps=T, repact=True, state_dict=model.state_dict(), dataset=dataset_spec("digits"),
        seed=0, versions=versions(),
    )
    save_checkpoint(ckpt, root / "model.pt")
    bundle = export_bundle(root / "model.pt", "loihi", root / "bundle", calibrate=0).out_dir
    test = load_dataset("digits", train_augment=False).test
    images = np.stack([test[i][0].numpy() for i in range(SAMPLES)]).astype(np.float32)
    labels = np.array([int(test[i][1]) for i in range(SAMPLES)])
    run = run_bundle(open_bundle(bundle), images, labels, progress=False)
    return bundle, write_run_result(run, root / "run.json"), run


def test_geometric_messages_per_spike_equal_the_placers_output_axons(digits_run):
    # Two independent counts of destination cores: the placer's output axons and the energy model's routing.
    # Loihi's population axons: one per (source pixel, destination core) pair, two slots each (pop32), plus one
    # per neuron read by the host; dense consumers one per (neuron, core). Routing counts (neuron, core) pairs:
    # a conv pair of a pixel is one for each of the core's channels.
    bundle_dir, run_path, _ = digits_run
    inputs, models, _ = load_energy_inputs(run_path)
    result = compute_energy(inputs, models)
    outputs = set(open_bundle(bundle_dir).program.outputs)
    slots = open_bundle(bundle_dir).profile.limits.population_axon_slots.value
    conv_only = {p.source for p in inputs.projections if p.kind == "conv"} - {
        p.source for p in inputs.projections if p.kind != "conv"}
    assert len(result.cores) > len(result.layers)  # the placer split at least one layer
    checked = 0
    for core, placed in zip(result.cores, inputs.placement):
        to_host = placed.neurons if placed.layer in outputs else 0
        if placed.layer in conv_only and placed.box is not None:
            channels = placed.box[2][1] - placed.box[2][0]
            # a mean of integers times the neuron count: exact up to float rounding
            expected = (placed.output_axons - to_host) // slots * channels
            assert core.route.messages_per_spike * placed.neurons == pytest.approx(expected, rel=1e-12)
            checked += 1
    assert checked > 0


def test_ann_baseline_counts_the_host_layers_once_while_the_snn_runs_them_every_step(digits_run):
    _, run_path, run = digits_run
    inputs, models, _ = load_energy_inputs(run_path)
    result = compute_energy(inputs, models)
    w, wide = WIDTH, 2 * WIDTH
    host_in = w * 8 * 8 * 1 * 9  # conv3x3 1->w on 8x8 (ONNX counts padded taps)
    per_step = wide * 4 * 4 * wide * 9  # RepAct cut: conv3x3 wide->wide on 4x4, on the host every step
    fc = wide * 10
    assert (run.host.host_in_macs, run.host.host_out_macs) == (host_in, T * per_step + fc)
    assert result.ann_host_macs == host_in + per_step + fc
    # chip: conv3x3/2 w->wide, 8x8 -> 4x4, valid taps per axis 2+3+3+3 = 11 (padding excluded)
    assert result.ann_macs == wide * w * 11 * 11 + result.ann_host_macs
