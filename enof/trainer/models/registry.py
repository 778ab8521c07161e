"""``ARCHITECTURES`` and ``build_model``: the one way to make an EnofNet (docs/design.md §2).

A user's own architecture is one ``register_architecture`` call in a module of theirs, made known to the
commands by ``--plugin MODULE`` (or ``--plugin path/to/file.py``) or by an entry point in the ``enof.architectures`` group of an installed
package (README "Your own architecture"); ``load_plugins`` imports both.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from importlib.metadata import entry_points
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from enof.errors import EnofError
from enof.trainer.models.digits import digits_cnn
from enof.trainer.models.mnist import mnist_cnn
from enof.trainer.models.net import MODES, ActivationFactory, EnofNet, Mode
from enof.trainer.models.resnet import resnet19, resnet20, resnet20_dvs
from enof.trainer.neurons import NeuronConfig

BackboneBuilder = Callable[..., tuple[nn.Sequential, int]]


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: its backbone builder, default class count and expected input (C, H, W)."""

    build_backbone: BackboneBuilder
    num_classes: int
    input_shape: tuple[int, int, int]
    description: str

    def kwarg_names(self) -> tuple[str, ...]:
        params = inspect.signature(self.build_backbone).parameters
        return ("num_classes",) + tuple(name for name in params if name != "acts")


ARCHITECTURES: dict[str, ArchSpec] = {
    "digits_cnn": ArchSpec(digits_cnn, 10, (1, 8, 8), "3-conv net for 8×8 digits"),
    "mnist_cnn": ArchSpec(mnist_cnn, 10, (1, 28, 28), "4-conv net for 28×28 MNIST (two strided convs)"),
    "resnet20": ArchSpec(resnet20, 10, (3, 32, 32), "ResNet20 (modified), CIFAR"),
    "resnet19": ArchSpec(resnet19, 10, (3, 32, 32), "ResNet19, CIFAR"),
    "resnet20_dvs": ArchSpec(resnet20_dvs, 10, (2, 48, 48), "ResNet20 for CIFAR10-DVS frames"),
}


ENTRY_POINT_GROUP = "enof.architectures"
_PLUGIN_FILES: dict[str, str] = {}  # module name → the .py file --plugin imported it from


def register_architecture(
    name: str, build_backbone: BackboneBuilder, num_classes: int, input_shape: tuple[int, int, int], description: str = ""
) -> ArchSpec:
    """Make ``name`` an architecture of ``build_model`` (and so of enof-train and enof-export).

    ``build_backbone(acts, **kwargs) -> (nn.Sequential, feature_channels)`` builds the backbone from
    ``acts`` (an ActivationFactory: ``acts()`` is the LIF or ReLU of the run) and the layers the
    exporter reads (docs/design.md §3); the EnofNet adds the pool and classifier. Registering the same
    builder again is a no-op (a plugin imported twice); another builder under a taken name is refused.
    """
    spec = _checked_spec(name, build_backbone, num_classes, input_shape, description)
    known = ARCHITECTURES.get(name)
    if known is not None and known.build_backbone is not build_backbone:
        raise EnofError(f"architecture {name!r} is already registered (by {known.build_backbone.__module__}); pick another name")
    ARCHITECTURES[name] = spec
    return spec


def _checked_spec(name, build_backbone, num_classes, input_shape, description) -> ArchSpec:
    """The ArchSpec of a register_architecture call whose every argument is of the documented kind."""
    where = f"register_architecture({name!r}, ...)"
    if not isinstance(name, str) or not name.strip() or name != name.strip() or any(c.isspace() for c in name):
        raise EnofError(f"{where}: the name must be a non-empty word without spaces, such as 'tiny_cnn'")
    if not callable(build_backbone):
        raise EnofError(f"{where}: build_backbone is a {type(build_backbone).__name__}, not a function")
    try:
        takes_acts = "acts" in inspect.signature(build_backbone).parameters
    except (TypeError, ValueError):
        takes_acts = False
    if not takes_acts:
        raise EnofError(f"architecture {name!r}: its backbone builder must take `acts` (an ActivationFactory)")
    if not _whole(num_classes) or num_classes < 1:
        raise EnofError(f"{where}: num_classes is {num_classes!r}; expected a whole number ≥ 1")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if len(shape) != 3 or not all(_whole(v) and v >= 1 for v in shape):
        raise EnofError(f"{where}: input_shape is {input_shape!r}; expected (channels, height, width), whole numbers ≥ 1")
    if not isinstance(description, str):
        raise EnofError(f"{where}: description is a {type(description).__name__}; expected a string")
    return ArchSpec(build_backbone, int(num_classes), tuple(int(v) for v in shape), description or name)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import the installed ``enof.architectures`` entry points and then ``modules`` (``--plugin``: a module
    name, or the path of a .py file); an entry point naming a callable is called. Whatever goes wrong in a
    plugin (not found, a syntax error, an exception, ``sys.exit`` at import, a bad register_architecture
    call) is one EnofError line naming it."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = _imported(point.value, lambda p=point: p.load(), f"entry point {point.name} ({ENTRY_POINT_GROUP})")
        if callable(loaded):
            _imported(point.value, loaded, f"entry point {point.name} ({ENTRY_POINT_GROUP})")
    for module in modules:
        _imported(module, lambda m=module: _import_plugin(m), "--plugin")


def _import_plugin(module: str) -> Any:
    """``module`` imported by name, or, when it names a .py file (``./mynets.py``, ``nets/mine.py``), that file,
    as a module named after its stem whose folder is on sys.path (so that it can import its neighbours)."""
    if not module.strip():
        raise EnofError("--plugin '': an empty name; give a module name (mynets) or a .py file (./mynets.py)")
    if not (module.endswith(".py") or "/" in module or os.sep in module):
        return importlib.import_module(module)
    path = Path(module).expanduser()
    if not path.is_file() or path.suffix != ".py":
        raise EnofError(f"--plugin {module}: no such .py file; give an existing Python file or a module name")
    name = path.stem
    if not name.isidentifier():
        raise EnofError(f"--plugin {module}: {name!r} is not a Python module name; rename the file (letters, digits, _)")
    known = sys.modules.get(name)
    if known is not None:
        if getattr(known, "__file__", None) and Path(known.__file__).resolve() == path.resolve():
            return known  # imported already (a second --plugin of it, or a check run twice)
        raise EnofError(f"--plugin {module}: a module named {name!r} is already imported (from "
                        f"{getattr(known, '__file__', None) or 'a built-in'}); rename the file")
    _PLUGIN_FILES[name] = str(path.resolve())
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded


def provider_of(arch: str) -> str:
    """What --plugin would make ``arch`` known again: the .py file or the module that registered it (a built-in
    architecture's module for the others); recorded in the checkpoints trained with it."""
    module = ARCHITECTURES[arch].build_backbone.__module__
    return _PLUGIN_FILES.get(module, module)


def _imported(what: str, load: Callable[[], Any], where: str) -> Any:
    """``load()``; a plugin's failure of any kind as one EnofError naming ``where`` and ``what``."""
    try:
        return load()
    except EnofError as exc:
        text = str(exc)
        raise EnofError(text if text.startswith(where) else f"{where} {what}: {text}") from None
    except ModuleNotFoundError as exc:
        raise EnofError(f"{where} {what}: cannot be imported ({exc}); is it on PYTHONPATH or installed, or give "
                        "its .py file (./mynets.py)?") from None
    except SyntaxError as exc:
        raise EnofError(f"{where} {what}: a syntax error at {exc.filename}:{exc.lineno}: {exc.msg}") from None
    except SystemExit as exc:
        raise EnofError(f"{where} {what}: called sys.exit({exc.code!r}) while being imported; a plugin module "
                        "only defines and registers architectures (put a script's code under "
                        "`if __name__ == \"__main__\":`)") from None
    except Exception as exc:  # the user's own code: whatever it raised, said in one line with where it was
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise EnofError(f"{where} {what}: importing it raised {type(exc).__name__}: {_one_line(exc)} "
                        f"({frame.filename}:{frame.lineno})") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def unknown_architecture(arch: str, module: str | None = None) -> str:
    """Why ``arch`` is not known (it is "not one of ..."), and what would provide it: ``module`` (where the checkpoint was trained, when it
    says) to pass to --plugin, or any module that registers it, or an installed entry point."""
    known = ", ".join(sorted(ARCHITECTURES))
    which = f"--plugin {module} (the module that registered it in training)" if module else \
        "--plugin with the module or .py file that calls register_architecture"
    return (f"not one of {known}; an architecture of your own is made known by {which}, or by an "
            f"installed package's '{ENTRY_POINT_GROUP}' entry point")


def build_model(
    arch: str,
    mode: Mode = "snn",
    repact: bool = False,
    timesteps: int = 4,
    neuron: NeuronConfig = NeuronConfig(),
    **arch_kwargs: Any,
) -> EnofNet:
    """Build ``arch`` as a spiking (``snn``) or ReLU (``ann``) EnofNet.

    ``arch_kwargs``: ``num_classes`` and the builder's own (``in_channels``, ``width``, ...).
    """
    spec = ARCHITECTURES.get(arch)
    if spec is None:
        load_plugins()  # an installed package's entry point may define it
        spec = ARCHITECTURES.get(arch)
    if spec is None:
        raise EnofError(f"unknown architecture {arch!r}: {unknown_architecture(arch)}")
    if mode not in MODES:
        raise EnofError(f"{arch}: unknown mode {mode!r}; choose one of {MODES}")
    if timesteps < 1:
        raise EnofError(f"{arch}: timesteps must be >= 1, got {timesteps}")
    unknown = sorted(set(arch_kwargs) - set(spec.kwarg_names()))
    if unknown:
        raise EnofError(
            f"{arch}: unknown architecture argument(s) {unknown}; it takes {list(spec.kwarg_names())}"
        )
    kwargs = dict(arch_kwargs)
    num_classes = int(kwargs.pop("num_classes", spec.num_classes))
    acts = ActivationFactory(mode=mode, repact=repact, timesteps=timesteps, neuron=neuron)
    backbone, feature_channels = spec.build_backbone(acts, **kwargs)
    return EnofNet(
        backbone,
        feature_channels,
        num_classes,
        arch=arch,
        mode=mode,
        repact=repact,
        timesteps=timesteps,
        neuron=neuron,
    )
