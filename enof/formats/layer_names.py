"""The name a report shows for a layer: the user's own where the export had to rename it.

A NIR graph written from an ``nn.Sequential`` names its nodes "0", "1", ...; torch.onnx refuses all-digit
tensor names, so the export renames them ``<kind><name>`` ("3" → "lif3", enof.exporter.nir_metadata) and
keeps the user's name in the manifest's ``module_paths``. Tables show ``3 (lif3)``, as the export's errors
do; JSON and CSV keep the enof name, which is stable, and run.json's layers are keyed by it.
"""

from __future__ import annotations

from collections.abc import Mapping


def shown_name(name: str, module_paths: Mapping[str, str]) -> str:
    """``"3 (lif3)"`` for a layer renamed from the all-digit source name "3"; the layer's own name otherwise."""
    source = module_paths.get(name)
    if source is None or source == name or not source.isdigit():
        return name
    return f"{source} ({name})"
