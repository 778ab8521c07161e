"""run.json (docs/design.md §7, docs/run-json.md): what one ``enof-run`` measured.

Written by ``enof.runtime.run`` (atomically), read by the energy report. Spikes, synops and neuron
updates are totals over all samples and timesteps; the host figures are per inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from enof.errors import RunResultError
from enof.formats.atomic import atomic_write_text
from enof.formats.manifest import MAX_TIMESTEPS, TIMESTEPS_WHY
from enof.formats.validation import Fields, check_header, parse_json

RUN_FORMAT = "enof-run"
RUN_FORMAT_VERSION = 2
# Per core and timestep (docs/run-json.md "per_step"): summed over samples, and the maximum over samples.
STEP_FIELDS = ("spikes", "synops", "messages_out", "messages_in")
_OLD_VERSIONS = {1: "a run from before the chip-time model, without per-step counts: re-run with enof-run"}
BACKENDS = ("fast", "lava", "netx")  # netx: the bundle's chip.net.h5 run by lava-dl's netx in Lava
PRECISIONS = ("fixed", "float")


@dataclass(frozen=True)
class LayerActivity:
    name: str
    neurons: int
    cores: int
    spikes: int
    synops: int
    neuron_updates: int


@dataclass(frozen=True)
class CoreActivity:
    core_id: int
    layer: str
    spikes: int
    synops: int
    neuron_updates: int


@dataclass(frozen=True)
class CoreSteps:
    """One core's counts per timestep t of a sample (lists of T): ``spikes[t]`` summed over the samples,
    ``spikes_max[t]`` the most any one sample had; the same for synops, messages_out and messages_in."""

    core_id: int
    spikes: list[int]
    synops: list[int]
    messages_out: list[int]
    messages_in: list[int]
    spikes_max: list[int]
    synops_max: list[int]
    messages_out_max: list[int]
    messages_in_max: list[int]


@dataclass(frozen=True)
class HostCost:
    """Per inference (one sample): multiply-accumulates on the host and bytes crossing the host↔chip link."""

    host_in_macs: int
    host_out_macs: int
    bytes_host_to_chip: int
    bytes_chip_to_host: int


@dataclass(frozen=True)
class RunResult:
    bundle_manifest_sha256: str
    backend: str  # fast | lava | netx
    precision: str  # fixed | float
    target: str
    timesteps: int
    samples: int
    accuracy: float | None  # None when the inputs came without labels (enof-run --inputs FILE.npy)
    predictions: list[int]
    labels: list[int] | None  # None: no labels, and so no accuracy
    layers: list[LayerActivity]
    cores: list[CoreActivity]
    host: HostCost
    wall_s: float
    per_step: list[CoreSteps]  # one per entry of ``cores``, same order
    bundle: str = ""  # the bundle folder the run read (optional; lets enof-energy find it)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be fixed or float, got {self.precision!r}")
        if len(self.predictions) != self.samples or (self.labels is not None and len(self.labels) != self.samples):
            raise ValueError(
                f"{self.samples} samples but {len(self.predictions)} predictions and {len(self.labels)} labels"
            )
        if (self.labels is None) != (self.accuracy is None):
            raise ValueError("accuracy and labels are both present or both null")

    def to_dict(self) -> dict:
        return {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **asdict(self)}


def write_run_result(result: RunResult, path: str | Path) -> Path:
    """Write run.json through a temporary file in the same folder and rename it into place."""
    return atomic_write_text(path, json.dumps(result.to_dict(), indent=1) + "\n")


def read_run_result(path: str | Path) -> RunResult:
    """Read and check a run.json; every problem is a one-line RunResultError naming the file and field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RunResultError(f"{path}: cannot read ({exc.strerror})") from None
    return run_result_from_dict(parse_json(raw, str(path), RunResultError), str(path))


def run_result_from_dict(data, label: str = "run.json") -> RunResult:
    """Check every field's type and range and the counts' own consistency (docs/run-json.md), then build.

    Counts are integers ≥ 0; per layer neuron_updates = neurons · T · samples and spikes ≤ neuron_updates
    (a neuron fires at most once a step); a layer's cores sum to its totals; accuracy is the fraction of
    predictions equal to labels. Whether the run belongs to a bundle is check_run_matches_bundle's job."""
    check_header(data, label, RunResultError, version=RUN_FORMAT_VERSION, format_name=RUN_FORMAT, what="run.json",
                 advice="re-run with enof-run", old_versions=_OLD_VERSIONS)
    f = Fields(label, RunResultError)
    timesteps = f.integer(f.get(data, "timesteps"), "timesteps", 1, MAX_TIMESTEPS, TIMESTEPS_WHY)
    samples = f.integer(f.get(data, "samples"), "samples", 1, _INT64_MAX, _INT64_WHY)
    answers = {}
    for key in ("predictions", "labels"):
        value = f.get(data, key)
        if key == "labels" and value is None:  # a run of inputs without labels
            answers[key] = None
            continue
        answers[key] = f.array(value, key, length=samples)
        for i, v in enumerate(answers[key]):
            if type(v) is not int or not 0 <= v <= _INT64_MAX:
                f.integer(v, f"{key}[{i}]", 0, _INT64_MAX, "a class index")
    accuracy = f.get(data, "accuracy")
    if answers["labels"] is None:
        if accuracy is not None:
            f.fail("accuracy", f"is {accuracy!r}, but labels is null (a run without labels has accuracy null)")
    else:
        accuracy = f.number(accuracy, "accuracy", 0.0, 1.0)
        right = sum(p == t for p, t in zip(answers["predictions"], answers["labels"])) / samples
        if abs(accuracy - right) > 1e-9:  # both are the same float division when the run wrote them
            f.fail("accuracy", f"is {accuracy!r}, but {right!r} of the predictions equal the labels")
    steps = timesteps * samples
    layers = [LayerActivity(**row) for row in _rows(f, f.get(data, "layers"), "layers", _LAYER_INTS, ("name",))]
    names = {}
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        if layer.name in names:
            f.fail(f"{where}.name", f"is {layer.name!r} a second time")
        names[layer.name] = layer
        if layer.neurons < 1:
            f.outside(layer.neurons, f"{where}.neurons", 1, _INT64_MAX, "a layer has neurons")
        if layer.neuron_updates != layer.neurons * steps:
            f.fail(f"{where}.neuron_updates", f"is {layer.neuron_updates}, but neurons · timesteps · samples = {layer.neurons * steps}")
        if layer.spikes > layer.neuron_updates:
            f.fail(f"{where}.spikes", f"is {layer.spikes}, more than its {layer.neuron_updates} neuron updates (one spike per neuron and step at most)")
    cores = [CoreActivity(**row) for row in _rows(f, f.get(data, "cores"), "cores", _CORE_INTS, ("layer",))]
    _check_cores(f, cores, names, steps)
    per_step = _per_step(f, f.get(data, "per_step"), cores, timesteps, samples)
    host = f.obj(f.get(data, "host"), "host")
    host_cost = HostCost(**{k.name: f.integer(f.get(host, k.name, "host"), f"host.{k.name}", 0, _INT64_MAX, _INT64_WHY)
                            for k in fields(HostCost)})  # fmt: skip
    try:
        return RunResult(
            bundle_manifest_sha256=f.sha256(f.get(data, "bundle_manifest_sha256"), "bundle_manifest_sha256"),
            backend=f.string(f.get(data, "backend"), "backend", BACKENDS),
            precision=f.string(f.get(data, "precision"), "precision", PRECISIONS),
            target=f.string(f.get(data, "target"), "target"), timesteps=timesteps, samples=samples,
            accuracy=accuracy, predictions=answers["predictions"], labels=answers["labels"], layers=layers,
            cores=cores, host=host_cost, wall_s=f.number(f.get(data, "wall_s"), "wall_s", 0.0), per_step=per_step,
            bundle=f.string(data.get("bundle", ""), "bundle", nonempty=False),
        )  # fmt: skip
    except ValueError as exc:  # RunResult's own invariants (checked above already)
        raise RunResultError(f"{label}: {exc}") from None


_INT64_MAX = 2**63 - 1
_INT64_WHY = "a 64-bit count"
_LAYER_INTS = ("neurons", "cores", "spikes", "synops", "neuron_updates")
_CORE_INTS = ("core_id", "spikes", "synops", "neuron_updates")


def _rows(f: Fields, value, where: str, ints: tuple[str, ...], strings: tuple[str, ...]) -> list[dict]:
    """An array of objects with the given integer (≥ 0, 64-bit) and string fields (others are ignored)."""
    rows = f.array(value, where)
    for i, row in enumerate(rows):
        f.obj(row, f"{where}[{i}]")
        for key in strings:
            f.string(f.get(row, key, f"{where}[{i}]"), f"{where}[{i}].{key}")
    columns = {key: f.column(rows, key, where, 0, _INT64_MAX, _INT64_WHY) for key in ints}
    return [{**{k: row[k] for k in strings}, **{k: columns[k][i] for k in ints}} for i, row in enumerate(rows)]


def _per_step(f: Fields, value, cores: list[CoreActivity], timesteps: int, samples: int) -> list[CoreSteps]:
    """One entry per core, in the order of ``cores``; per field T integers ≥ 0 whose sum over t is the core's
    total (spikes, synops), each maximum ≤ its sum and ≥ sum / samples; messages in = messages out per step."""
    rows = f.array(value, "per_step", length=len(cores))
    names = [field.name for field in fields(CoreSteps) if field.name != "core_id"]
    result = []
    for i, (row, core) in enumerate(zip(rows, cores)):
        where = f"per_step[{i}]"
        f.obj(row, where)
        core_id = f.integer(f.get(row, "core_id", where), f"{where}.core_id", 0, _INT64_MAX, _INT64_WHY)
        if core_id != core.core_id:
            f.fail(f"{where}.core_id", f"is {core_id}, but cores[{i}] is core {core.core_id}")
        lists = {}
        for name in names:
            lists[name] = f.array(f.get(row, name, where), f"{where}.{name}", length=timesteps)
            for t, v in enumerate(lists[name]):
                f.integer(v, f"{where}.{name}[{t}]", 0, _INT64_MAX, _INT64_WHY)
        for name in STEP_FIELDS:
            for t, (total, most) in enumerate(zip(lists[name], lists[f"{name}_max"])):
                if most > total or most * samples < total:
                    f.fail(f"{where}.{name}_max[{t}]", f"is {most}, not between {name}[{t}] / samples and {name}[{t}] = {total}")
        for name in ("spikes", "synops"):
            if sum(lists[name]) != getattr(core, name):
                f.fail(f"{where}.{name}", f"sums to {sum(lists[name])}, but cores[{i}].{name} is {getattr(core, name)}")
        result.append(CoreSteps(core_id=core_id, **lists))
    for t in range(timesteps):
        sent, arrived = (sum(getattr(r, k)[t] for r in result) for k in ("messages_out", "messages_in"))
        if sent != arrived:
            f.fail(f"per_step[*].messages_in[{t}]", f"sums to {arrived}, but the cores sent {sent} messages at step {t}")
    return result


def _check_cores(f: Fields, cores: list[CoreActivity], layers: dict[str, LayerActivity], steps: int) -> None:
    seen, per_layer = set(), {name: [] for name in layers}
    for i, core in enumerate(cores):
        where = f"cores[{i}]"
        if core.core_id in seen:
            f.fail(f"{where}.core_id", f"is {core.core_id} a second time")
        seen.add(core.core_id)
        if core.layer not in layers:
            f.fail(f"{where}.layer", f"is {core.layer!r}, not one of the layers in 'layers'")
        if core.neuron_updates % steps or core.neuron_updates == 0:
            f.fail(f"{where}.neuron_updates", f"is {core.neuron_updates}, not a positive multiple of timesteps · samples = {steps}")
        if core.spikes > core.neuron_updates:
            f.fail(f"{where}.spikes", f"is {core.spikes}, more than its {core.neuron_updates} neuron updates")
        per_layer[core.layer].append(core)
    for i, (name, layer) in enumerate(layers.items()):
        mine = per_layer[name]
        if layer.cores != len(mine):
            f.fail(f"layers[{i}].cores", f"is {layer.cores}, but {len(mine)} entries of 'cores' hold {name!r}")
        for what in ("spikes", "synops", "neuron_updates") if mine else ():
            total = sum(getattr(c, what) for c in mine)
            if total != getattr(layer, what):
                f.fail(f"layers[{i}].{what}", f"is {getattr(layer, what)}, but its cores sum to {total}")


def check_run_matches_bundle(
    run: RunResult, label: str, *, timesteps: int, target: str, num_classes: int, layer_neurons: dict[str, int],
    core_neurons: dict[int, tuple[str, int]], host: HostCost,
) -> None:
    """run.json (already checked by itself) against the bundle it names: T, target, classes, the chip's layers and
    neurons, placement.json's cores (and so each core's neuron updates), the host figures the bundle implies."""
    f = Fields(label, RunResultError)
    if run.timesteps != timesteps:
        f.fail("timesteps", f"is {run.timesteps}, but the bundle runs T = {timesteps}")
    if run.target != target:
        f.fail("target", f"is {run.target!r}, but the bundle is for {target!r}")
    for key in ("predictions", "labels"):
        values = getattr(run, key) or []
        i = next((i for i, v in enumerate(values) if v >= num_classes), None)
        if i is not None:
            f.outside(values[i], f"{key}[{i}]", 0, num_classes - 1, f"the bundle's {num_classes} classes")
    names = [layer.name for layer in run.layers]
    if sorted(names) != sorted(layer_neurons):
        f.fail("layers", f"names {', '.join(names)}, but the bundle's chip layers are {', '.join(layer_neurons)}")
    for i, layer in enumerate(run.layers):
        if layer.neurons != layer_neurons[layer.name]:
            f.fail(f"layers[{i}].neurons", f"is {layer.neurons}, but the bundle's {layer.name!r} has {layer_neurons[layer.name]}")
    if sorted(c.core_id for c in run.cores) != sorted(core_neurons):
        f.fail("cores", f"has {len(run.cores)} cores, but the bundle's placement.json places {len(core_neurons)}")
    steps = run.timesteps * run.samples
    for i, core in enumerate(run.cores):
        layer, neurons = core_neurons[core.core_id]
        if core.layer != layer:
            f.fail(f"cores[{i}].layer", f"is {core.layer!r}, but placement.json puts core {core.core_id} in {layer!r}")
        if core.neuron_updates != neurons * steps:
            f.fail(f"cores[{i}].neuron_updates", f"is {core.neuron_updates}, but its {neurons} neurons · T · samples = {neurons * steps}")
    for k in fields(HostCost):
        if getattr(run.host, k.name) != getattr(host, k.name):
            f.fail(f"host.{k.name}", f"is {getattr(run.host, k.name)}, but the bundle gives {getattr(host, k.name)}")
