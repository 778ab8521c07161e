"""User-facing errors. Their message is the one line the CLI prints, with exit code 1 (README "Exit codes":
0 ok, 1 invalid input or a failed check, 2 a usage error that click reports itself; 143 a run stopped by
SIGTERM, :class:`TerminatedError`).

Anything else escaping a command is a bug and shows its traceback.
"""


class EnofError(Exception):
    """Base of every error the user is meant to read: one line, names the file/layer/limit."""

    exit_code = 1


class DataError(EnofError):
    """A data set root that is missing or not in the expected on-disk format."""


class CheckpointError(EnofError):
    """A model.pt that is truncated, hostile, of an unknown format version or inconsistent."""


class ProfileError(EnofError):
    """A hardware profile TOML with a missing or wrong field."""


class UnsupportedModuleError(EnofError):
    """A module or NIR node the exporter/runtime does not support."""


class DoesNotFitError(EnofError):
    """A network that violates a target limit (cores, axons, synapse memory, bit widths)."""


class BundleError(EnofError):
    """A bundle that is incomplete, of an unknown format version, or whose hashes do not match."""


class RunError(EnofError):
    """A simulation that failed: a Lava hang or crash, or inputs that do not match the bundle."""


class TerminatedError(RunError):
    """A run stopped by SIGTERM (what Slurm and Kubernetes send before they stop a job): 143, the shell's
    128 + 15, as for enof-train and for a process the signal itself ends."""

    exit_code = 143


class RunResultError(EnofError):
    """A run.json that is truncated, of an unknown format, or from another bundle."""
