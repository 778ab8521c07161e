"""``export_bundle``: checkpoint → graph → partition → NIR / ONNX / quant → placement → bundle.

Everything is computed in memory first; placement and range errors surface before a single
file is written, and the bundle directory appears only complete (``write_bundle``: temp dir + rename).
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import nir
import numpy as np
import onnx
import torch

from enof.datasets import check_data_root, dataset_spec
from enof.datasets.spec import DatasetSpec
from enof.errors import UnsupportedModuleError
from enof.exporter.calibrate import (
    calibration_batch, chip_peaks, current_bound_peaks, graded_input_scale, input_abs_max,
)
from enof.exporter.graph import Graph, NeuronParams, capture
from enof.exporter.from_nir import graph_from_nir, read_nir_file
from enof.exporter.host_macs import host_macs
from enof.exporter.netx import netx_outcome
from enof.exporter.layers import layer_specs
from enof.exporter.nir_metadata import graph_timesteps_and_dt
from enof.exporter.partition import Partition, partition
from enof.exporter.placement import place
from enof.exporter.quantize import Quantized, quantize
from enof.fixed_point_rules import FixedPointLimits
from enof.exporter.to_nir import DT_S, chip_graph, chip_nir_bytes
from enof.exporter.to_onnx import write_host_in, write_host_out
from enof.formats.bundle import replaceable_folder, write_bundle
from enof.formats.manifest import Manifest, PartitionRecord, TargetInfo
from enof.formats.digest import file_sha256
from enof.formats.netx import NETX_FILE
from enof.formats.outputs import check_output_folder, writing
from enof.formats.placement import Placement
from enof.formats.quant import quant_npz_bytes
from enof.hardware_profiles import Profile, load_profile
from enof.trainer.checkpoint import Checkpoint, build_model_from_checkpoint, load_checkpoint
from enof.trainer.neurons import LIF
from enof.version import __version__


@dataclass
class ExportResult:
    out_dir: Path
    graph: Graph
    partition: Partition
    quant: Quantized
    placement: Placement
    manifest: Manifest  # as written: file hashes and versions filled in
    calibration_samples: int
    timings_s: dict[str, float] = field(default_factory=dict)  # graph (capture..quantize), placement, files


def default_out_dir(checkpoint_path: Path, target_name: str) -> Path:
    return checkpoint_path.parent / f"{checkpoint_path.stem}-{target_name}-bundle"


def check_bundle_folder(out_dir: str | Path, flag: str | None = None) -> Path:
    """Refuse, before any work, a bundle folder that cannot be written: a file there, a folder that is
    neither empty nor a bundle (write_bundle would refuse to replace it: `replaceable_folder` is its rule),
    no writable folder above it."""
    return check_output_folder(out_dir, flag, replaceable=replaceable_folder, what="bundle folder")


def _onnx_bytes(writer, graph: Graph, part: Partition, scratch: Path) -> bytes:
    path = scratch / "part.onnx"
    model: onnx.ModelProto = writer(graph, part, path)
    data = model.SerializeToString()
    path.unlink()
    return data


def _versions() -> dict[str, str]:
    return {"enof": __version__, "nir": nir.version, "onnx": onnx.__version__, "torch": torch.__version__}


def _interfaces(graph: Graph, part: Partition, quant: Quantized, temporal: bool) -> dict:
    t = graph.timesteps
    chip_in = graph.nodes[part.current_target].shape if part.input_mode == "current" else graph.input_shape
    if temporal:
        time = "event frame t enters at step t" + (" as binary spikes (counts clipped to 1)"
                                                    if part.input_mode == "spikes" else " as graded spikes")
    elif part.input_mode == "current":
        time = "the same values at every one of the T steps"
    else:
        time = "the image repeated over the T steps (direct encoding)"
    out = {
        "chip_input": {"shape": list(chip_in), "mode": part.input_mode, "input_scale": quant.input_scale,
                       "input_abs_max": quant.input_abs_max, "time": time},
        "chip_outputs": [
            {"name": lif, "shape": [t, "B", *graph.nodes[lif].shape], "time": "aligned: step t from input step t"}
            for lif in part.chip_outputs
        ],
        "host_out": {"inputs": list(part.chip_outputs), "output": "logits", "shape": ["B", graph.nodes[graph.output].shape[0]]},
    }
    if part.input_mode == "current":
        out["host_in"] = {"input": "x", "shape": ["B", *graph.input_shape], "output": "current",
                          "output_shape": ["B", *chip_in], "feeds": part.current_target}
    return out


@dataclass
class PreparedExport:
    """Everything an export computes before placement: nothing of it is on disk."""

    source_sha256: str  # of the checkpoint or the NIR file the graph came from
    dataset: DatasetSpec  # the manifest's dataset (a NIR graph without a data set: name "none" and its input shape)
    profile: Profile
    graph: Graph
    partition: Partition
    quant: Quantized
    limits: FixedPointLimits
    calibration_samples: int

    def layer_specs(self) -> list:
        return layer_specs(self.graph, self.partition, self.limits.weight_bits)


def _profile(target) -> Profile:
    return target if isinstance(target, Profile) else load_profile(target)


def quantize_for_target(graph: Graph, profile: Profile, dataset: DatasetSpec, calibrate: int = 32, data_root=None,
                        x_bound: float | None = None, weight_bits: int | None = None,
                        calibration: torch.Tensor | None = None, netx_biases: bool = False):
    """Partition, calibrate and quantize ``graph`` for ``profile``: the exporter's chain after the graph,
    which quantization-aware fine-tuning (enof.trainer.finetune) runs at every step.

    Calibration runs ``calibration`` (a time-major batch the caller holds) or ``calibrate`` samples of
    ``dataset``; where there is no data set to run, ``x_bound`` (a bound on |input|) sizes the ranges.
    ``netx_biases`` (enof-export --netx required): every bias at exactly netx's exponent 6 on a Loihi 2 target,
    the LIF's scale lowered where its bias would need 7 (it costs accuracy: docs/loihi2-hardware.md).
    Returns (partition, quantized, limits, calibration samples)."""
    graded = bool(profile.target.graded_spikes.value)
    part = partition(graph, graded_spikes=graded, temporal=dataset.is_temporal)
    peaks, samples = None, 0
    if x_bound is None and (calibration is not None or calibrate > 0):
        x = calibration if calibration is not None else calibration_batch(dataset, graph.timesteps, calibrate, data_root)
        samples = x.shape[1]
        peaks = chip_peaks(graph, part, x)
    elif part.input_mode == "current":
        peaks = current_bound_peaks(graph, part, input_abs_max(dataset) if x_bound is None else x_bound)
    if not graded:
        input_scale = 1.0  # current mode: the host-in current in the LIF's units; spikes: one spike per count
    elif x_bound is None and dataset.mean is None:  # the caller's own calibration inputs, no data set
        input_scale = 127.0 / max(peaks["input"]["x_max"], np.finfo(np.float32).tiny)
    elif x_bound is None:
        input_scale = graded_input_scale(dataset, peaks)
    else:
        input_scale = 127.0 / x_bound  # 8-bit signed resolution over the bound, as graded_input_scale without data
    limits = FixedPointLimits.from_profile(profile, weight_bits)  # --weight-bits: a coarser grid, fewer synapse bits
    if netx_biases and limits.bias_exp_min > 0:
        limits = replace(limits, bias_exp_max=limits.bias_exp_min)
    # the range the scale was sized for: the calibrated input peak, else (none, or all zero) the bound
    x_peak = (peaks or {}).get("input", {}).get("x_max")
    sized_for = x_peak or (1.0 if part.input_mode == "spikes" else x_bound if x_bound is not None
                           else input_abs_max(dataset) if dataset.mean is not None else x_peak)
    quant = replace(quantize(graph, part, limits, input_scale, peaks),
                    input_abs_max=None if sized_for is None else float(sized_for))
    return part, quant, limits, samples


def capture_checkpoint_model(model: torch.nn.Module, ckpt: Checkpoint) -> Graph:
    """``model`` (built from ``ckpt``, or its weights being fine-tuned) captured at the checkpoint's input
    shape, timesteps and neuron."""
    input_shape = tuple(int(v) for v in ckpt.dataset.input_shape)
    neuron = NeuronParams(float(ckpt.neuron["decay"]), float(ckpt.neuron["v_threshold"]))
    return capture(model, input_shape, ckpt.timesteps, neuron)


def prepare_export(
    checkpoint_path: str | Path, target, calibrate: int = 32, data_root: str | Path | None = None,
    weight_bits: int | None = None, netx_biases: bool = False,
) -> PreparedExport:
    """Checkpoint → graph → partition → (calibration) → quantization, for ``target`` (a profile name,
    a TOML path or a loaded Profile)."""
    profile = _profile(target)
    ckpt = load_checkpoint(checkpoint_path)
    if ckpt.mode != "snn":
        raise UnsupportedModuleError(f"{checkpoint_path}: an ANN (mode={ckpt.mode!r}) checkpoint has no spiking part to export")
    if calibrate > 0:  # a missing data root is refused now, not after the graph is built
        check_data_root(ckpt.dataset.name, data_root)
    graph = capture_checkpoint_model(build_model_from_checkpoint(ckpt), ckpt)
    part, quant, limits, samples = quantize_for_target(graph, profile, ckpt.dataset, calibrate, data_root, None, weight_bits,
                                                       netx_biases=netx_biases)
    return PreparedExport(file_sha256(checkpoint_path), ckpt.dataset, profile, graph, part, quant, limits, samples)


@dataclass(frozen=True)
class NirSource:
    """How to deploy a NIR graph that carries no checkpoint (prepare_nir_export)."""

    timesteps: int | None = None
    dataset: str | None = None
    input_bound: float = 1.0
    dt_s: float | None = None


def prepare_nir_export(
    nir_path: str | Path, target, timesteps: int | None, dataset: str | None = None, calibrate: int = 32,
    data_root: str | Path | None = None, input_bound: float = 1.0, dt_s: float | None = None, weight_bits: int | None = None,
    netx_biases: bool = False,
) -> PreparedExport:
    """A NIR graph written by another tool (enof.exporter.from_nir) → partition → quantization for ``target``.

    ``dataset``: a data set name (its test split is what enof-run classifies; its training samples
    calibrate), else the record is ``none`` and |input| ≤ ``input_bound`` sizes the fixed-point ranges.
    ``timesteps``: steps per sample, ``dt_s``: the Euler step (default: the graph metadata's; a graph with
    neither and no argument is refused).
    """
    return prepare_nir_graph_export(read_nir_file(nir_path), file_sha256(nir_path), str(nir_path), target,
                                    NirSource(timesteps, dataset, input_bound, dt_s), calibrate, data_root, weight_bits=weight_bits,
                                    netx_biases=netx_biases)


def prepare_nir_graph_export(
    nir_graph: nir.NIRGraph, source_sha256: str, where: str, target, source: NirSource, calibrate: int = 32,
    data_root: str | Path | None = None, calibration: np.ndarray | None = None, weight_bits: int | None = None,
    netx_biases: bool = False,
) -> PreparedExport:
    """``prepare_nir_export`` of a graph in memory (``where`` names it in errors); ``calibration``: the user's
    inputs (N, *input shape) as the network takes them, which calibrate instead of the data set or the bound."""
    profile = _profile(target)
    steps, dt_s = graph_timesteps_and_dt(nir_graph, where, source.timesteps, source.dt_s)
    graph = graph_from_nir(nir_graph, steps, dt_s)
    if source.dataset is not None:
        spec = dataset_spec(source.dataset)
        if spec.temporal and len(graph.input_shape) == 3:  # event frames: binned to the graph's input size
            spec = dataset_spec(source.dataset, graph.input_shape[1:])
        record = spec
        if tuple(record.input_shape) != graph.input_shape:
            raise UnsupportedModuleError(
                f"{where}: Input shape {graph.input_shape} does not match data set {source.dataset}'s {tuple(record.input_shape)}"
            )
        bound = None
    else:
        record = DatasetSpec.unnamed(graph.input_shape)
        bound = None if calibration is not None else float(source.input_bound)
    return prepare_graph_export(graph, source_sha256, record, profile, where, calibrate, data_root, bound, calibration, weight_bits,
                                netx_biases)


def prepare_graph_export(graph: Graph, source_sha256: str, record: DatasetSpec, profile, where: str, calibrate: int = 32,
                         data_root=None, x_bound: float | None = None, calibration: np.ndarray | None = None,
                         weight_bits: int | None = None, netx_biases: bool = False) -> PreparedExport:
    """An exporter graph from any source → partition → quantization: calibrated on ``calibration`` (the user's
    inputs, (N, *input shape)), else on ``calibrate`` samples of the ``record``'s data set, else sized by ``x_bound``."""
    if calibration is not None:
        if tuple(calibration.shape[1:]) != graph.input_shape:
            raise UnsupportedModuleError(f"calibration: shape {tuple(calibration.shape)}; {where} takes (N, {', '.join(map(str, graph.input_shape))})")
        calibration = torch.from_numpy(np.asarray(calibration, np.float32)).unsqueeze(0).expand(graph.timesteps, *calibration.shape).contiguous()
    part, quant, limits, samples = quantize_for_target(graph, profile, record, calibrate, data_root, x_bound, weight_bits,
                                                       calibration=calibration, netx_biases=netx_biases)
    return PreparedExport(source_sha256, record, profile, graph, part, quant, limits, samples)


def prepare_model_export(model: torch.nn.Module, source_sha256: str, target, source: NirSource, input_shape=None,
                         calibrate: int = 32, data_root=None, calibration: np.ndarray | None = None,
                         weight_bits: int | None = None, netx_biases: bool = False) -> PreparedExport:
    """An EnofNet in memory (what a checkpoint rebuilds; enof.trainer.models) → partition → quantization: its LIF
    layers give T, decay and threshold; ``source.dataset`` (or ``input_shape``) what a sample is."""
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    if not lifs:
        raise UnsupportedModuleError(f"{type(model).__name__}: an EnofNet without enof LIF layers has no spiking part to export")
    neuron, steps = lifs[0].neuron, lifs[0].timesteps
    if source.timesteps is not None and source.timesteps != steps:
        raise UnsupportedModuleError(f"timesteps = {source.timesteps}: the model's LIF layers were built for T = {steps}; leave timesteps out")
    record = dataset_spec(source.dataset) if source.dataset is not None else None
    if input_shape is None and record is None:
        raise UnsupportedModuleError(f"{type(model).__name__}: name its dataset= or give input_shape= (one sample, (C, H, W))")
    shape = tuple(int(v) for v in (input_shape if input_shape is not None else record.input_shape))
    if record is not None and tuple(record.input_shape) != shape:
        raise UnsupportedModuleError(f"input_shape = {shape}: data set {source.dataset} gives {tuple(record.input_shape)}")
    graph = capture(model.eval(), shape, steps, NeuronParams(float(neuron.decay), float(neuron.v_threshold)))
    record = record or DatasetSpec.unnamed(shape)
    bound = None if calibration is not None or source.dataset is not None else float(source.input_bound)
    return prepare_graph_export(graph, source_sha256, record, _profile(target), type(model).__name__, calibrate, data_root,
                                bound, calibration, weight_bits, netx_biases)


def bundle_files(prep: PreparedExport, dt_s: float = DT_S) -> dict[str, bytes]:
    """The bytes of chip.nir, host_out.onnx, host_in.onnx (current mode) and quant.npz."""
    graph, part = prep.graph, prep.partition
    files = {"chip.nir": chip_nir_bytes(chip_graph(graph, part, dt_s))}
    with tempfile.TemporaryDirectory(prefix="enof-onnx-") as scratch:
        files["host_out.onnx"] = _onnx_bytes(write_host_out, graph, part, Path(scratch))
        if part.input_mode == "current":
            files["host_in.onnx"] = _onnx_bytes(write_host_in, graph, part, Path(scratch))
    files["quant.npz"] = quant_npz_bytes(prep.quant.arrays())
    return files


def is_nir_file(path: str | Path) -> bool:
    """A NIR graph (an HDF5 file, nir.write's format) rather than an enof checkpoint (a torch zip)."""
    path = Path(path)
    return path.suffix == ".nir" or (path.is_file() and h5py.is_hdf5(path))


def _refuse_unknown_source(path: Path) -> None:
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise UnsupportedModuleError(
            f"{path}: neither an enof model.pt (a torch zip archive) nor a NIR graph (HDF5, nir.write); enof-export reads those two"
        )


def export_bundle(
    checkpoint_path: str | Path,
    target: str | Path,
    out_dir: str | Path | None = None,
    calibrate: int = 32,
    data_root: str | Path | None = None,
    dt_s: float = DT_S,
    max_chips: int | None = None,
    weight_bits: int | None = None,
    nir_source: NirSource | None = None,
    netx: str = "auto",
) -> ExportResult:
    """Export ``checkpoint_path`` (an enof model.pt, or a NIR graph: then ``nir_source`` says how; its
    defaults if None) for ``target`` (profile name or TOML path) into a bundle directory.

    ``calibrate``: training samples run through the float chip part to size the state ranges;
    ``max_chips``: override the profile's chip count (placement only). ``netx``: auto (chip.net.h5 where netx
    can express the chip part, else the manifest says why), required (biases at exactly netx's exponent; refuse
    the export without the file) or off (no file; enof.exporter.netx). ``out_dir`` is checked first
    (not a file, not a folder of something else, a writable folder above it; missing folders are made).
    """

    clock = time.perf_counter()
    checkpoint_path = Path(checkpoint_path)
    profile = load_profile(target)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(checkpoint_path, profile.name)
    check_bundle_folder(out_dir)
    if nir_source is not None or is_nir_file(checkpoint_path):
        nir_source = nir_source or NirSource()
        prep = prepare_nir_export(
            checkpoint_path, profile, nir_source.timesteps, nir_source.dataset, calibrate, data_root,
            nir_source.input_bound, nir_source.dt_s, weight_bits, netx_biases=netx == "required",
        )  # fmt: skip
    else:
        _refuse_unknown_source(checkpoint_path)
        prep = prepare_export(checkpoint_path, profile, calibrate, data_root, weight_bits, netx_biases=netx == "required")
    return bundle_from_prepared(prep, out_dir, dt_s, max_chips, clock, netx)


def bundle_from_prepared(prep: PreparedExport, out_dir: str | Path, dt_s: float = DT_S, max_chips: int | None = None,
                         clock: float | None = None, netx: str = "auto") -> ExportResult:
    """Place a prepared export and write its bundle into ``out_dir`` (checked by the caller:
    ``check_bundle_folder``); ``clock``: when the export began (perf_counter), for its timings; ``netx``: as
    ``export_bundle``'s (prepare "required" with ``netx_biases``)."""
    clock = time.perf_counter() if clock is None else clock
    profile, out_dir = prep.profile, Path(out_dir)
    timings = {"graph": time.perf_counter() - clock}
    placement = place(prep.layer_specs(), prep.profile, max_chips=max_chips)  # DoesNotFitError before any file exists
    timings["placement"] = time.perf_counter() - clock - timings["graph"]

    graph, part = prep.graph, prep.partition
    netx_file = netx_outcome(prep, netx)  # --netx required: refused here, before any file exists
    files = bundle_files(prep, dt_s)
    files["placement.json"] = placement.to_json_bytes()
    if netx_file.data is not None:
        files[NETX_FILE] = netx_file.data
    manifest = Manifest(
        checkpoint_sha256=prep.source_sha256,
        target=TargetInfo(name=profile.name, profile_sha256=profile.sha256, profile=profile.text),
        timesteps=int(graph.timesteps),
        num_classes=int(graph.nodes[graph.output].shape[0]),
        dataset=prep.dataset,
        input_mode=part.input_mode,
        partition=tuple(PartitionRecord(e.node, e.where, list(e.shape), e.reason) for e in part.entries),
        host_macs=host_macs(files.get("host_in.onnx"), files["host_out.onnx"], tuple(prep.dataset.input_shape),
                            {n: tuple(graph.nodes[n].shape) for n in part.chip_outputs}, int(graph.timesteps)),
        interfaces=_interfaces(graph, part, prep.quant, prep.dataset.is_temporal),
        versions=_versions(),
        module_paths=dict(graph.module_paths),  # readable layer name -> the torch module path (or NIR node) it came from
        weight_bits=int(prep.limits.weight_bits),
        netx=netx_file.record(),
    )  # write_bundle hashes the files into it
    with writing(out_dir):
        manifest = write_bundle(out_dir, manifest, files)
    timings["files"] = time.perf_counter() - clock - timings["graph"] - timings["placement"]
    return ExportResult(out_dir, graph, part, prep.quant, placement, manifest, prep.calibration_samples, timings)
