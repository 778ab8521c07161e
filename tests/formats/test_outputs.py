"""The shared output checks: what each refuses, in one line naming the flag, and that they create nothing.
(A read-only folder is tested through the commands, unprivileged: tests/cli/.)"""

from __future__ import annotations

import errno

import pytest

from enof.errors import EnofError
from enof.formats.outputs import check_output_file, check_output_folder, writing


def _refused(check, *args, **kwargs) -> str:
    with pytest.raises(EnofError) as info:
        check(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_file_whose_parents_do_not_exist_yet_passes_and_nothing_is_created(tmp_path):
    out = tmp_path / "a" / "b" / "run.json"
    assert check_output_file(out, "-o") == out
    assert check_output_folder(tmp_path / "c" / "bundle", "-o") == tmp_path / "c" / "bundle"
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_may_be_replaced(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    assert check_output_file(tmp_path / "run.json", "-o") == tmp_path / "run.json"


def test_file_output_refuses_a_folder_a_device_and_a_file_as_parent(tmp_path):
    assert _refused(check_output_file, tmp_path, "-o", example="run.json") == (
        f"-o {tmp_path}: is a folder; give a file's path, e.g. {tmp_path / 'run.json'}"
    )
    assert _refused(check_output_file, "/dev/null", "--plot").startswith("--plot /dev/null: is not a regular file")
    (tmp_path / "notes").write_text("x")
    assert _refused(check_output_file, tmp_path / "notes" / "deeper" / "run.json") == (
        f"{tmp_path / 'notes' / 'deeper' / 'run.json'}: {tmp_path / 'notes'} is a file, not a folder"
    )


def test_folder_output_refuses_a_file_and_what_replaceable_rejects(tmp_path):
    (tmp_path / "notes").write_text("x")
    assert _refused(check_output_folder, tmp_path / "notes", "-o", what="bundle folder") == (
        f"-o {tmp_path / 'notes'}: is a file, not a bundle folder; give a folder's path"
    )
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert "exists and is not a bundle folder; refusing to replace it" in _refused(
        check_output_folder, full, "-o", replaceable=lambda p: not any(p.iterdir()), what="bundle folder"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output_folder(empty, "-o", replaceable=lambda p: not any(p.iterdir())) == empty


def test_writing_turns_an_os_error_into_one_line_naming_the_flag(tmp_path):
    with pytest.raises(EnofError, match=r"^-o .*run\.json: cannot write \(No space left on device\)$"):
        with writing(tmp_path / "run.json", "-o"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with writing(tmp_path / "run.json", "-o"):  # nothing raised: nothing changed
        pass
