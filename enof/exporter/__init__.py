"""Checkpoint → bundle. The one public entry: ``export_bundle`` (enof.exporter.export).

Imported lazily so that ``enof.exporter.placement`` and friends load without torch/onnx/nir.
"""


def __getattr__(name: str):
    if name == "export_bundle":
        from enof.exporter.export import export_bundle  # lazy: see the docstring

        return export_bundle
    raise AttributeError(f"module 'enof.exporter' has no attribute {name!r}")


__all__ = ["export_bundle"]
