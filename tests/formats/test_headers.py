"""One header check (enof.formats.validation.check_header) serves every JSON reader in enof.formats: the
manifest, placement.json and run.json refuse a foreign document, a wrong format name and an unknown
format_version in the same wording."""

import pytest

from enof.errors import BundleError, RunResultError
from enof.formats.manifest import manifest_from_dict
from enof.formats.placement import placement_from_dict
from enof.formats.run_result import run_result_from_dict

READERS = [  # reader, its error, its format name (placement.json has none), the version it reads, its advice
    (manifest_from_dict, BundleError, "enof-bundle", 2, "; re-export the bundle"),
    (placement_from_dict, BundleError, None, 3, "; re-export the bundle"),
    (run_result_from_dict, RunResultError, "enof-run", 2, "; re-run with enof-run"),
]


@pytest.mark.parametrize("read, error, name, version, advice", READERS)
def test_every_reader_refuses_a_foreign_header_in_one_wording(read, error, name, version, advice):
    with pytest.raises(error, match=r"^doc: expected a JSON object, got array$"):
        read([1, 2], "doc")
    head = {"format": name} if name else {}
    unknown = rf"^doc: format_version 99 is not supported \(this enof reads {version}{advice}\)$"
    with pytest.raises(error, match=unknown):
        read({**head, "format_version": 99}, "doc")
    with pytest.raises(error, match=rf"^doc: format_version True is not supported \(this enof reads {version}"):
        read({**head, "format_version": True}, "doc")  # a boolean is not a version number
    if name:
        with pytest.raises(error, match=rf"^doc: format 'enof-energy' is not '{name}' \(not an enof "):
            read({"format": "enof-energy", "format_version": version}, "doc")
