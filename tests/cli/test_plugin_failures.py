"""--plugin as users write it (issue 27, issue 26 item 5): a .py path (relative, as people name files) works as a
module name does; a plugin that raises, has a syntax error, exits at import, or calls register_architecture with
bad arguments is one `error:` line naming it, before any other work."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from enof.cli.export import app as export_app
from enof.trainer.models import ARCHITECTURES, build_model, load_plugins
from enof.trainer.models.registry import provider_of

runner = CliRunner()
GOOD = '''
from torch import nn
from enof.trainer.models import register_architecture
from {helper} import WIDTH  # a neighbour module in the plugin's folder


def net(acts, *, in_channels=1, width=WIDTH):
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                         acts(last=True)), width


register_architecture("{name}", net, num_classes=10, input_shape=(1, 8, 8))
'''
BAD = {
    "raises": ("raise RuntimeError('boom at import')\n", "importing it raised RuntimeError: boom at import ({path}:1)"),
    "syntax": ("def f(:\n    pass\n", "a syntax error at {path}:1: invalid syntax"),
    "exits": ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    "empty_name": ("from enof.trainer.models import register_architecture\ndef b(acts): pass\n"
                   "register_architecture('', b, num_classes=10, input_shape=(1, 8, 8))\n",
                   "register_architecture('', ...): the name must be a non-empty word without spaces"),
    "bad_classes": ("from enof.trainer.models import register_architecture\ndef b(acts): pass\n"
                    "register_architecture('x_{name}', b, num_classes='ten', input_shape=(1, 8, 8))\n",
                    "num_classes is 'ten'; expected a whole number ≥ 1"),
    "bad_shape": ("from enof.trainer.models import register_architecture\ndef b(acts): pass\n"
                  "register_architecture('y_{name}', b, num_classes=10, input_shape=(1, 8))\n",
                  "input_shape is (1, 8); expected (channels, height, width)"),
    "not_callable": ("from enof.trainer.models import register_architecture\n"
                     "register_architecture('z_{name}', 42, num_classes=10, input_shape=(1, 8, 8))\n",
                     "build_backbone is a int, not a function"),
}


@pytest.fixture
def restore_architectures():
    before = dict(ARCHITECTURES)
    yield
    ARCHITECTURES.clear()
    ARCHITECTURES.update(before)


def test_a_relative_py_path_registers_its_architecture_and_imports_its_neighbours(tmp_path, monkeypatch,
                                                                                   restore_architectures):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "plugin_helper_a.py").write_text("WIDTH = 6\n")
    (tmp_path / "nets" / "mynets_a.py").write_text(GOOD.format(helper="plugin_helper_a", name="file_plugin_net"))
    monkeypatch.chdir(tmp_path)
    load_plugins(["./nets/mynets_a.py"])
    model = build_model("file_plugin_net", num_classes=10)
    assert model.backbone[0].out_channels == 6  # the neighbour's WIDTH
    assert provider_of("file_plugin_net") == str(tmp_path / "nets" / "mynets_a.py")  # what the checkpoint records
    load_plugins(["./nets/mynets_a.py"])  # a second --plugin of the same file (sweep checks twice): no error


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_failing_plugin_is_one_line_naming_it(tmp_path, monkeypatch, one_line_error, restore_architectures, kind):
    text, message = BAD[kind]
    path = tmp_path / f"plugin_{kind}.py"
    path.write_text(text.format(name=kind))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(export_app, [str(tmp_path / "none.pt"), "--target", "loihi2", "--plugin", f"./{path.name}",
                                        "-o", str(tmp_path / "b")])  # fmt: skip
    one_line_error(result, f"--plugin ./{path.name}: ", message.format(path=path))
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("plugin, message", [
    ("", "--plugin '': an empty name"),
    ("./missing_plugin.py", "--plugin ./missing_plugin.py: no such .py file"),
    ("no_such_module_anywhere", "--plugin no_such_module_anywhere: cannot be imported"),
])  # fmt: skip
def test_an_empty_or_missing_plugin_is_one_line(tmp_path, one_line_error, plugin, message):
    result = runner.invoke(export_app, [str(tmp_path / "none.pt"), "--target", "loihi2", "--plugin", plugin])
    one_line_error(result, message)
