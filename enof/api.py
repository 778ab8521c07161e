"""The Python entry points: ``enof.export``, ``enof.run``, ``enof.energy`` (README "Python").

They are what ``enof-export``, ``enof-run`` and ``enof-energy`` do, on objects a notebook holds: a
``torch.nn.Module`` or a NIR graph in, NumPy arrays or tensors as inputs, typed results out
(:class:`~enof.results.Bundle`, :class:`~enof.results.RunResult`, :class:`~enof.results.EnergyReport`).
Every bad argument is one :class:`enof.errors.EnofError` naming it.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from enof.errors import EnofError
from enof.formats.digest import file_sha256
from enof.results import Bundle, EnergyReport, RunResult
from enof.spelling import KEYWORDS, Spelling

def export(
    source,
    target: str | Path,
    out: str | Path,
    *,
    timesteps: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    dt_s: float | None = None,
    dataset: str | None = None,
    calibration=None,
    calibrate: int = 32,
    data_root: str | Path | None = None,
    input_bound: float = 1.0,
    max_chips: int | None = None,
    weight_bits: int | None = None,
    netx: Literal["auto", "required", "off"] = "auto",
) -> Bundle:
    """Export ``source`` for ``target`` (``"loihi"``, ``"loihi2"`` or a profile TOML) into the bundle folder ``out``.

    ``source``: an enof ``model.pt`` path or EnofNet (enof.trainer.models; T, decay and threshold from its LIF
    layers, a sample from ``dataset`` or ``input_shape``); a NIR graph (a ``.nir`` path or a ``nir.NIRGraph``); or
    a ``torch.nn.Module``: an ``nn.Sequential`` of ``Conv2d``/``Linear``/``Flatten``/``AvgPool2d``/``BatchNorm``
    layers and snnTorch ``Leaky`` (``reset_mechanism="zero"``), Norse ``LIFBoxCell``/``LIFCell``/``LIF`` or
    SpikingJelly ``LIFNode``/``IFNode`` neurons (enof.exporter.from_module), which needs ``timesteps`` and
    ``input_shape`` (one sample: (C, H, W) or (N,)). ``dt_s``: a NIR graph's Euler step when its metadata has
    none (a module's neurons carry theirs). ``dataset``: the data set the network classifies (calibration and
    ``enof.run``'s default inputs); without one, ``calibration`` (an array of inputs, (N, *input_shape), as the
    network takes them) runs to size the fixed-point ranges, else |input| ≤ ``input_bound`` sizes them. ``netx``:
    chip.net.h5 for Loihi 2 where netx can express the chip part (auto), or refused without it (required: biases
    at netx's exponent 6), or none (off) (docs/loihi2-hardware.md).
    """
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    from enof.exporter.export import NirSource, bundle_from_prepared, check_bundle_folder, export_bundle, is_nir_file

    clock = time.perf_counter()
    out = check_bundle_folder(out)
    nir_source = NirSource(timesteps, dataset, input_bound, dt_s)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise EnofError(f"source {path}: no such file (a model.pt written by enof-train or a NIR graph was expected)")
        if not is_nir_file(path):
            if calibration is not None or input_shape is not None:
                raise EnofError(f"{path}: a checkpoint calibrates on its own data set and knows its input shape; "
                                "leave calibration and input_shape out")  # fmt: skip
            result = export_bundle(path, target, out, calibrate, data_root, max_chips=max_chips, weight_bits=weight_bits,
                                   netx=netx)
            return Bundle(result.out_dir, result.manifest, result)
        # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
        from enof.exporter.from_nir import read_nir_file

        graph, sha, where = read_nir_file(path), file_sha256(path), str(path)
    elif _is_enof_model(source):
        # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
        from enof.exporter.export import prepare_model_export

        batch = None if calibration is None else _array(calibration, "calibration")
        prep = prepare_model_export(source, _module_sha256(source), target, nir_source, input_shape, calibrate, data_root, batch,
                                    weight_bits, netx_biases=netx == "required")  # fmt: skip
        result = bundle_from_prepared(prep, out, max_chips=max_chips, clock=clock, netx=netx)
        return Bundle(result.out_dir, result.manifest, result)
    else:
        graph, sha, where = _graph_of(source, timesteps, input_shape, dt_s)
    prep = _prepare_graph(graph, sha, where, target, nir_source, calibrate, data_root, calibration, weight_bits, netx)
    result = bundle_from_prepared(prep, out, max_chips=max_chips, clock=clock, netx=netx)
    return Bundle(result.out_dir, result.manifest, result)


def _is_enof_model(source) -> bool:
    """An EnofNet (enof.trainer.models: backbone, pool, fc), as a checkpoint rebuilds it."""
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    import torch

    return isinstance(source, torch.nn.Module) and all(hasattr(source, part) for part in ("backbone", "pool", "fc"))


def _module_sha256(module) -> str:
    """sha256 over a module's parameters and buffers, by name: what the manifest records as the source."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _graph_of(source, timesteps, input_shape, dt_s):
    """(NIR graph, sha256 of the source, its name in errors) of a nir.NIRGraph or a torch module."""
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    import nir
    import torch

    if isinstance(source, nir.NIRGraph):
        with tempfile.TemporaryDirectory(prefix="enof-nir-") as scratch:  # the graph's bytes as nir.write stores them
            nir.write(str(Path(scratch) / "graph.nir"), source)
            digest = hashlib.sha256((Path(scratch) / "graph.nir").read_bytes()).hexdigest()
        return source, digest, "NIR graph"
    if isinstance(source, torch.nn.Module):
        # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
        from enof.exporter.from_module import module_to_nir

        if timesteps is None or input_shape is None:
            raise EnofError(f"{type(source).__name__}: a module does not say how many steps a sample runs or what a sample is; "
                            "pass timesteps= and input_shape= (one sample: (C, H, W) or (N,))")  # fmt: skip
        return module_to_nir(source, tuple(input_shape), dt_s), _module_sha256(source), type(source).__name__
    raise EnofError(f"source: a model.pt or .nir path, a nir.NIRGraph or a torch.nn.Module, not a {type(source).__name__}")


def _prepare_graph(graph, sha, where, target, nir_source, calibrate, data_root, calibration, weight_bits, netx="auto"):
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    from enof.exporter.export import prepare_nir_graph_export

    if calibration is not None and nir_source.dataset is not None:
        raise EnofError(f"calibration and dataset={nir_source.dataset!r}: the data set calibrates; give one of the two")
    batch = None if calibration is None else _array(calibration, "calibration")
    return prepare_nir_graph_export(graph, sha, where, target, nir_source, calibrate, data_root, calibration=batch,
                                    weight_bits=weight_bits, netx_biases=netx == "required")  # fmt: skip


def _as_numpy(values, name: str) -> np.ndarray:
    """A NumPy view of a tensor or array-like ``name`` (no copy where it already is one)."""
    try:
        # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
        import torch

        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        return np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise EnofError(f"{name}: not an array ({exc})") from None


def _array(values, name: str) -> np.ndarray:
    """A NumPy array of a tensor or array-like ``name``: a float array of at least one sample, every value finite."""
    array = _as_numpy(values, name)
    if array.dtype.kind not in "fiub":
        raise EnofError(f"{name}: dtype {array.dtype}; expected numbers (a float array)")
    if array.ndim < 2 or len(array) == 0:
        raise EnofError(f"{name}: shape {array.shape}; expected (N, *sample shape) with N ≥ 1")
    if not np.isfinite(array).all():
        raise EnofError(f"{name}: holds NaN or Inf; every value must be finite")
    return array.astype(np.float32)


def run(
    bundle: Bundle | str | Path,
    inputs=None,
    *,
    labels=None,
    backend: Literal["fast", "lava", "netx"] = "fast",
    precision: Literal["fixed", "float"] = "fixed",
    record_spikes: bool = False,
    normalized: bool = False,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    limit: int | None = None,
    batch_size: int | Literal["auto"] = 256,
    device: str = "auto",
    timeout_s: float = 600.0,
    lava_workers: int = 1,
    progress: bool = False,
) -> RunResult:
    """Classify ``inputs`` with ``bundle`` on the built-in simulator (``backend="fast"``) or Lava: ``enof-run``.

    ``inputs``: a float NumPy array or tensor, (N, C, H, W) or (N, features) as the bundle's input, or
    (N, T, C, H, W) event frames for a bundle of event input; None: the test split of ``dataset`` (default the
    bundle's). Raw values are normalized by the manifest's data set normalization where it has one
    (``normalized=True``: they already are). ``labels`` (N,) give ``accuracy``. ``record_spikes``:
    ``RunResult.spikes`` holds every chip layer's raster (T, N, *shape). ``limit``: the first N samples only.
    ``device`` (built-in simulator): ``"auto"`` runs on a CUDA GPU when torch sees one, else on the CPU (the
    fixed-point counts are the same on both), or ``"cpu"``, ``"cuda"``, ``"cuda:N"``. ``batch_size``: samples
    per simulator batch, or ``"auto"`` (CUDA: from free memory). The same defaults and checks as enof-run's.
    """
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    from enof.run_request import RunRequest, choose_samples, run_request
    from enof.runtime.bundle import open_bundle

    request = RunRequest(backend, precision, batch_size, device, timeout_s, lava_workers, limit, dataset, data_root,
                         normalized, record_spikes, progress).checked(KEYWORDS)  # fmt: skip
    opened = open_bundle(bundle.path if isinstance(bundle, Bundle) else bundle)
    xs = None if inputs is None else _as_numpy(inputs, "inputs")
    ys = None if labels is None else _as_numpy(labels, "labels")
    return run_request(opened, choose_samples(opened, request, KEYWORDS, xs, ys), request)


def energy(
    run: RunResult | str | Path,
    *,
    model: str | None = None,
    bundle: Bundle | str | Path | None = None,
    profile: str | None = None,
    routing: Literal["geometric", "all-cores"] = "geometric",
    timestep_us: float | None = None,
) -> EnergyReport:
    """What one inference of ``run`` (an ``enof.run`` result or a run.json path) costs on the chip, under every cost
    model of the profile (default: the bundle's), with the ANN baseline: ``enof-energy``'s report.

    ``model``: the cost model of the breakdown tables and plot (default: the one that prices the most chip parts);
    ``timestep_us``: a measured time per step instead of the profile's timing model."""
    return energy_report(run, model=model, bundle=bundle, profile=profile, routing=routing, timestep_us=timestep_us)


def energy_report(
    run: RunResult | str | Path, *, model: str | None = None, bundle: Bundle | str | Path | None = None,
    profile: str | None = None, routing: Literal["geometric", "all-cores"] = "geometric",
    timestep_us: float | None = None, names: Spelling = KEYWORDS, before_reading: Callable[[], None] | None = None,
) -> EnergyReport:
    """``enof.energy`` and ``enof-energy`` in one: check the arguments (errors spelled by ``names``), call
    ``before_reading`` (the command checks its output paths there), read run.json (unless ``run`` is in memory),
    its bundle and the profile once, price the run under every cost model, check ``model`` is one of them."""
    # lazy: `import enof` stays light; torch, ONNX and NIR load when a function runs
    from enof.runtime.energy.inputs import load_energy_inputs
    from enof.runtime.energy.report_model import priced_report

    if timestep_us is not None and not (math.isfinite(timestep_us) and timestep_us > 0):
        said = names.given("timestep_us", timestep_us)
        raise EnofError(f"{said}: must be > 0" if math.isfinite(timestep_us) else f"{said}: must be a finite number")
    if before_reading is not None:
        before_reading()
    bundle_dir = bundle.path if isinstance(bundle, Bundle) else bundle
    if isinstance(run, RunResult):
        label = run.path if run.path is not None else Path("(unsaved enof.run result)")
        inputs, models, sources = load_energy_inputs(label, bundle_dir, profile, run=run.record)
    else:
        inputs, models, sources = load_energy_inputs(Path(run), bundle_dir, profile)
    report = priced_report(inputs, models, sources, routing=routing, timestep_us=timestep_us)
    if model is not None and model not in report.model_names:
        raise EnofError(f"{names.given('model', model)}: not a cost model of {sources.profile_path} "
                        f"({', '.join(report.model_names)})")
    return EnergyReport(report, model)


__all__ = ["export", "run", "energy", "Bundle", "RunResult", "EnergyReport"]
