"""The report's numbers read: energies in the unit that fits, small shares with digits that tell cores apart."""

import pytest

from enof.runtime.energy.report import _share, format_energy


@pytest.mark.parametrize("pj, text", [
    (812.0, "812 pJ"), (3410.0, "3.41 nJ"), (1.2e6, "1.2 µJ"), (4.56e9, "4.56 mJ"),
    (1.91e12, "1.91 J"),  # was "1.91e+03 mJ"
    (1.91e15, "1.91e+03 J"), (None, "—"),
])
def test_energies_are_written_in_the_largest_unit_below_them(pj, text):
    assert format_energy(pj) == text


def test_shares_below_one_percent_keep_two_significant_digits():
    # one core of a 4,607-core network holds ~1/4607 = 0.022% of the energy: not "0.0%"
    assert _share(1 / 4607) == "0.022%"
    assert _share(0.5 / 4607) != _share(1 / 4607)
    assert (_share(0.188), _share(0.01), _share(0.0), _share(None)) == ("18.8%", "1.0%", "0%", "—")
