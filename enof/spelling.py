"""How the commands (enof-run, enof-energy) and the API (enof.run, enof.energy) name their arguments in errors: one table each (:data:`FLAGS`: ``--limit 0``;
:data:`KEYWORDS`: ``limit=0``), so that an error raised deep in the runtime (the device, ``batch_size`` auto)
speaks as the caller wrote. No heavy imports: the runtime and ``enof.run_request`` both read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spelling:
    """How a caller names its arguments in errors: enof-run's flags, or enof.run's keywords."""

    inputs: str
    own_inputs: str  # the caller's own samples, in a sentence
    labels: str
    normalized: str
    dataset: str
    data_root: str
    limit: str
    batch_size: str
    device: str
    backend: str
    precision: str
    timeout_s: str
    lava_workers: str
    model: str  # enof-energy / enof.energy
    timestep_us: str
    flags: bool  # True: "--limit 0"; False: "limit=0"

    def given(self, name: str, value, quoted: bool = False) -> str:
        """The argument ``name`` with ``value`` as the caller wrote it."""
        if not self.flags:
            return f"{getattr(self, name)}={value!r}"
        return f"{getattr(self, name)} {value!r}" if quoted else f"{getattr(self, name)} {value}"

    def either(self, name: str, first, second) -> str:
        """Two values of ``name`` to choose from: ``--device cpu or auto``, ``device='cpu' or 'auto'``."""
        return f"{self.given(name, first)} or {second if self.flags else repr(second)}"


FLAGS = Spelling("--inputs", "an --inputs file", "--inputs", "--normalized", "--dataset", "--data-root", "--limit",
                 "--batch-size", "--device", "--backend", "--precision", "--timeout", "--lava-workers", "--model",
                 "--timestep-us", flags=True)  # fmt: skip
KEYWORDS = Spelling("inputs", "your own inputs", "labels", "normalized", "dataset", "data_root", "limit", "batch_size",
                    "device", "backend", "precision", "timeout_s", "lava_workers", "model", "timestep_us",
                    flags=False)  # fmt: skip

__all__ = ["Spelling", "FLAGS", "KEYWORDS"]
