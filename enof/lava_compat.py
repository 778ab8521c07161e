"""Make lava-nc 0.10.0 importable on Python >= 3.11 without editing site-packages.

lava's ``lava/magma/compiler/var_model.py`` declares ``ByteEncoder`` as a plain
``@dataclass`` (eq=True, hence unhashable) and uses instances of it as class-level
defaults of other dataclasses. Python 3.11 rejects unhashable defaults (gh-88840),
so ``import lava.magma...`` fails with "mutable default ... is not allowed".

``install()`` puts a ``sys.meta_path`` finder in front for exactly that module; its
loader compiles the module from source with that one decorator rewritten to
``@dataclass(unsafe_hash=True)`` (3.10 semantics: mutable, equality by value, one
shared default). It reads the ``.py`` source, never the ``.pyc`` pip wrote, and fails
loudly if the source no longer has the expected text. Forked Lava workers inherit it.
On Python <= 3.10 it does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys

TARGET_MODULE = "lava.magma.compiler.var_model"
_ORIGINAL = "@dataclass\nclass ByteEncoder:"
_PATCHED = "@dataclass(unsafe_hash=True)\nclass ByteEncoder:"


class _VarModelLoader(importlib.machinery.SourceFileLoader):
    """Loads var_model.py from source with the ByteEncoder decorator made hashable."""

    def get_code(self, fullname):  # bypasses the cached .pyc on purpose
        source = self.get_data(self.path).decode("utf-8")
        if _ORIGINAL not in source:
            if _PATCHED in source:
                return compile(source, self.path, "exec", dont_inherit=True)
            raise ImportError(
                f"enof.lava_compat: {self.path} no longer contains {_ORIGINAL!r}; "
                "this lava-nc version is not the 0.10.0 the fix was written for"
            )
        return compile(source.replace(_ORIGINAL, _PATCHED, 1), self.path, "exec", dont_inherit=True)


class _VarModelFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                spec.loader = _VarModelLoader(fullname, spec.origin)
                return spec
        return None


def needed() -> bool:
    return sys.version_info >= (3, 11)


def install() -> None:
    """Install the finder once (idempotent). Must run before the first ``import lava``."""
    if not needed():
        return
    if any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        return
    if TARGET_MODULE in sys.modules:
        raise ImportError(
            f"enof.lava_compat.install() came after {TARGET_MODULE} was imported; "
            "import enof before lava"
        )
    sys.meta_path.insert(0, _VarModelFinder())
