"""enof's version, in a module of its own: the trainer and the exporter record it in their files without
importing the package's API (enof/__init__ imports enof.api, which imports both)."""

__version__ = "0.1.0"  # as pyproject.toml's
