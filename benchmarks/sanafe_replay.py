"""Replay spikes recorded by enof on SANA-FE's Loihi architecture: energy and time of the same spikes.

    .venv-sanafe/bin/python benchmarks/sanafe_replay.py JOB.npz --arch ARCH.yaml -o OUT.json \
        [--timing-model detailed|simple] [--update-on-spike-only]

Runs in the SANA-FE venv (numpy, pyyaml, sanafe 2.2.x; never imports enof). JOB.npz: `timesteps`,
`cores_per_tile`, `layer_names`, `layer{i}_core` (core g: tile g // cores_per_tile, core g % it),
`layer{i}_spikes` (timesteps, neurons), `edge_count`, `edge{k}_src`, `edge{k}_dst`, `edge{k}_pairs`.

Choices (checked against the 2.2.9 wheel's C++ source, site-packages/src, and by experiment):
- Each neuron is an `input` soma unit replaying its raster; edges have weight 0 (an input unit raises
  on non-zero current) on `loihi_dense_synapse`. An input unit holds ONE spike train and step counter
  whatever neuron it serves, hence loihi.yaml's `loihi_inputs[0..1023]` per core: the j-th neuron
  of a core gets unit j.
- A temp copy of the arch gives the input units the `loihi_lif` figures. SANA-FE charges access every
  step but update only when the soma returns `updated`/`fired`; an input unit returns only
  `fired`/`idle` and has no `force_update` (only the LIF and TrueNorth models have it). To charge
  access + update every step and spike-out per spike (enof's rule; LIF + force_update) the copy
  folds update into access: 51.2 + 21.6 = 72.8 pJ, 6.0 + 3.7 = 9.7 ns, update 0, spike out 69.3 pJ,
  30 ns. --update-on-spike-only copies the LIF figures unchanged instead.
- SpikingChip builds every unit listed, ~12 KB each (128 x 1024 input units: 1.7 GB, 5 s), so the
  copy writes tiles and cores out one by one, each with only as many input units as it holds neurons
  (results unchanged), and without YAML aliases (SANA-FE's reader does not follow them).
- Edges: connect_neurons_sparse per group in chunks of 65536: ~3 us and ~0.85 KB per edge
  (connect_to_neuron per edge is as fast; connect_neurons_dense 2x faster, full groups only).
- perf_trace=True gives per-step lists (sim_time, fired, hops, spikes, energies). res["spikes"] counts
  synaptic events, res["packets_sent"] messages: one per (spiking neuron, core holding a target).
- Step time = timing model + barrier (latency_sync at the largest key <= tiles in use). "simple": max
  over cores of neuron processing (access [+update] per neuron, spike out per spike, axon out per
  message) and message processing (axon in per message + synapse per edge). "detailed" schedules each
  message (hop latency or congestion estimate, FIFO at the receiver): about 1 % above "simple".
Errors: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import io
import json
import os
import sys
import tempfile
from importlib.metadata import version

import numpy as np
import sanafe
import yaml

SOMA_KEYS = ("access_neuron", "update_neuron", "spike_out")
SYNAPSE_UNIT = "loihi_dense_synapse"
LIF_UNIT = "loihi_lif"
EDGE_CHUNK = 1 << 16


class _NoAliasDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """SANA-FE's YAML reader does not follow anchors/aliases: write shared dicts out in full."""

    def ignore_aliases(self, data):
        return True


def patch_arch(arch: dict, fold_update: bool, need: dict) -> tuple[dict, list[list[list[str]]]]:
    """Write every tile and core out one by one; give each core's input soma units its LIF figures,
    keeping only need[(tile, core)] of them; return [tile][core] -> its input unit names."""
    tiles_out, per_tile = [], []
    for tile in arch["architecture"]["tile"]:
        for tname in _expand(tile["name"]):
            t = len(tiles_out)
            cores_out, names_t = [], []
            for core in tile["core"]:
                for cname in _expand(core["name"]):
                    c = len(cores_out)
                    core2 = copy.deepcopy(core)
                    core2["name"] = cname
                    cores_out.append(core2)
                    names_t.append(_patch_core(core2, fold_update, need.get((t, c), 0)))
            tiles_out.append({**tile, "name": tname, "core": cores_out})
            per_tile.append(names_t)
    arch["architecture"]["tile"] = tiles_out
    return arch, per_tile


def _patch_core(core: dict, fold_update: bool, n: int) -> list[str]:
    somas = core.get("soma") or []
    lif = next((u for u in somas if u["name"] == LIF_UNIT), None)
    if lif is None:
        raise ValueError(f"arch core {core['name']!r} has no soma unit {LIF_UNIT!r}")
    if not any(u["name"] == SYNAPSE_UNIT for u in core.get("synapse") or []):
        raise ValueError(f"arch core {core['name']!r} has no synapse unit {SYNAPSE_UNIT!r}")
    la = lif["attributes"]
    fig = {f"{kind}_{k}": float(la.get(f"{kind}_{k}", 0.0)) for kind in ("energy", "latency") for k in SOMA_KEYS}
    if fold_update:
        for kind in ("energy", "latency"):
            fig[f"{kind}_access_neuron"] += fig[f"{kind}_update_neuron"]
            fig[f"{kind}_update_neuron"] = 0.0
    names, kept = [], []
    for u in somas:
        if str(u.get("attributes", {}).get("model")) != "input":
            kept.append(u)
            continue
        left = n - len(names)
        if left > 0:  # keep only the units this core needs
            if ".." in u["name"]:
                base, lo, hi = _range(u["name"])
                u["name"] = f"{base}[{lo}..{min(hi, lo + left - 1)}]"
            u["attributes"].update(fig)
            names += _expand(u["name"])
            kept.append(u)
    core["soma"] = kept
    return names


def _range(name: str) -> tuple[str, int, int]:
    base, rng = name.split("[", 1)
    lo, hi = rng.rstrip("]").split("..")
    return base, int(lo), int(hi)


def _expand(name: str) -> list[str]:
    """SANA-FE names unit i of 'foo[0..3]' 'foo[i]'."""
    if ".." not in name:
        return [name]
    base, lo, hi = _range(name)
    return [f"{base}[{i}]" for i in range(lo, hi + 1)]


def sync_delay(arch: dict, tiles_in_use: int) -> float | None:
    attrs = arch["architecture"].get("attributes", {})
    model, lat = attrs.get("sync_model", "fixed"), attrs.get("latency_sync", 0.0)
    if model == "fixed" or not isinstance(lat, (dict, list)):
        return float(lat)
    table = dict(enumerate(lat)) if isinstance(lat, list) else {int(k): float(v) for k, v in lat.items()}
    keys = [k for k in sorted(table) if k <= tiles_in_use]
    return float(table[keys[-1] if keys else min(table)])


def load_job(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        job = {k: z[k] for k in z.files}
    names = [str(n) for n in np.atleast_1d(job["layer_names"])]
    steps, cpt = int(job["timesteps"]), int(job["cores_per_tile"])
    layers = []
    for i, name in enumerate(names):
        cores = np.asarray(job[f"layer{i}_core"], dtype=np.int64).ravel()
        spikes = np.asarray(job[f"layer{i}_spikes"]).astype(bool)
        if spikes.shape != (steps, cores.size):
            raise ValueError(f"layer{i}_spikes has shape {spikes.shape}, expected {(steps, cores.size)}")
        layers.append((name, cores, spikes))
    edges = []
    for k in range(int(job.get("edge_count", 0))):
        pairs = np.asarray(job[f"edge{k}_pairs"], dtype=np.int64).reshape(-1, 2)
        src, dst = int(job[f"edge{k}_src"]), int(job[f"edge{k}_dst"])
        if not (0 <= src < len(layers) and 0 <= dst < len(layers)):
            raise ValueError(f"edge{k} joins layers {src} -> {dst}; the job has {len(layers)}")
        for col, layer in ((0, src), (1, dst)):
            n = layers[layer][1].size
            if pairs.size and (pairs[:, col].min() < 0 or pairs[:, col].max() >= n):
                raise ValueError(f"edge{k}_pairs column {col} out of range for layer {layer} ({n} neurons)")
        edges.append((src, dst, pairs))
    return {"steps": steps, "cpt": cpt, "layers": layers, "edges": edges}


def build(job: dict, arch_obj, inputs: list[list[list[str]]]):
    net = sanafe.Network()
    groups, used = [], {}
    cpt = job["cpt"]
    cores_hw = [list(t.cores) for t in arch_obj.tiles]  # .tiles copies the whole list: fetch it once
    for i, (name, cores, spikes) in enumerate(job["layers"]):
        g = net.create_neuron_group(f"{i}_{name}", int(cores.size), default_synapse_hw_name=SYNAPSE_UNIT)
        trains = spikes.T.tolist()
        for n, gc in enumerate(cores.tolist()):
            t, c = divmod(gc, cpt)
            if not (0 <= t < len(cores_hw)) or c >= len(cores_hw[t]):
                raise ValueError(f"layer {name!r} neuron {n}: core {gc} (tile {t}, core {c}) not in the arch")
            j = used.get(gc, 0)
            units = inputs[t][c]
            if j >= len(units):
                raise ValueError(f"core {gc} holds more than {len(units)} neurons (input units in the arch)")
            used[gc] = j + 1
            g[n].set_attributes(soma_hw_name=units[j], model_attributes={"spikes": trains[n]})
            g[n].map_to_core(cores_hw[t][c])
        groups.append(g)
    for src, dst, pairs in job["edges"]:
        for i in range(0, len(pairs), EDGE_CHUNK):  # chunks bound the Python lists' transient memory
            part = pairs[i:i + EDGE_CHUNK]
            groups[src].connect_neurons_sparse(groups[dst], {"weight": [0.0] * len(part)}, part.tolist())
    return net, len({gc // cpt for gc in used}), len(used)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job")
    ap.add_argument("--arch", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--timing-model", default="detailed", choices=("detailed", "simple"))
    ap.add_argument("--update-on-spike-only", action="store_true",
                    help="copy the LIF figures unchanged (SANA-FE then charges update only on a spike)")
    args = ap.parse_args(argv)
    tmp = None
    try:
        with open(args.arch, "rb") as f:
            raw = f.read()
        arch_sha = hashlib.sha256(raw).hexdigest()
        job = load_job(args.job)
        all_cores = np.concatenate([c for _, c, _ in job["layers"]] + [np.zeros(0, np.int64)])
        if all_cores.size and all_cores.min() < 0:
            raise ValueError(f"negative core index {all_cores.min()} in the job")
        gs, counts = np.unique(all_cores, return_counts=True)
        need = {divmod(int(g), job["cpt"]): int(n) for g, n in zip(gs, counts)}
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        arch, inputs = patch_arch(yaml.load(raw, Loader=loader), not args.update_on_spike_only, need)
        fd, tmp = tempfile.mkstemp(prefix="sanafe_arch_", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            yaml.dump(arch, f, Dumper=_NoAliasDumper, sort_keys=False)
        arch_obj = sanafe.load_arch(tmp)
        if [len(c) for c in inputs] != [len(t.cores) for t in arch_obj.tiles]:
            raise ValueError("could not match the arch file's tiles and cores to SANA-FE's")
        net, tiles_in_use, cores_in_use = build(job, arch_obj, inputs)
        chip = sanafe.SpikingChip(arch_obj)
        chip.load(net)
        with contextlib.redirect_stdout(io.StringIO()):  # its "Executed steps" line
            res = chip.sim(job["steps"], timing_model=args.timing_model, perf_trace=True)
        perf = res.get("perf_trace") or {}
        e = res["energy"]
        out = {
            "energy_j": {k: float(e[k]) for k in ("synapse", "dendrite", "soma", "network", "total")},
            "sim_time_s": float(res["sim_time"]),
            "step_time_s": [float(x) for x in perf["sim_time"]] if "sim_time" in perf else None,
            "synaptic_events": int(res["spikes"]),
            "messages": int(res["packets_sent"]),
            "hops": int(sum(perf["hops"])) if "hops" in perf else None,
            "neurons_fired": int(res["neurons_fired"]),
            "timesteps": job["steps"],
            "timing_model": args.timing_model,
            "tiles_in_use": tiles_in_use,
            "cores_in_use": cores_in_use,
            "sync_delay_s": sync_delay(arch, tiles_in_use),
            "sanafe_version": version("sanafe"),
            "arch_sha256": arch_sha,
            "notes": [
                f"each neuron: its own input soma unit replaying its raster; edges: weight 0, {SYNAPSE_UNIT}",
                "input units: loihi_lif figures unchanged, update charged only on a spike"
                if args.update_on_spike_only else "input units: loihi_lif figures with update folded into "
                "access (input units have no force_update): access+update every step, spike_out per spike",
                "synaptic_events = res['spikes'], messages = res['packets_sent']; sync_delay_s once per step",
            ],
        }
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
        return 0
    except Exception as exc:  # noqa: BLE001 - one line on stderr by contract
        msg = (f"missing key {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())) or repr(exc)
        print(f"sanafe_replay: error: {msg}", file=sys.stderr)
        return 1
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    sys.exit(main())
