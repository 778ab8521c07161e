"""SANA-FE 2.2.9 (its own venv, .venv-sanafe) replays enof's spikes at enof's placement on its calibrated Loihi
architecture: every energy component within 2 % of enof's sanafe_loihi model, the time per step within 10 % of
enof's [timing] model, on a digits and an mnist5k Loihi 1 bundle.

Remaining differences, and why: synapse and soma energy are the same rules on the same counts (equal to float
rounding); network energy differs where a core's neurons do not all reach the same cores (enof's energy model
spreads a core's spikes evenly over its neurons, "geometric"; SANA-FE sends each neuron's own messages); time
differs by SANA-FE's detailed scheduler (a receiving core waits for messages to arrive, ~1 %) against enof's
phases plus the longest route.
"""

import pytest

from enof.runtime.energy.referee import COMPONENTS, SANAFE_PYTHON, compare_with_sanafe

pytestmark = pytest.mark.skipif(not SANAFE_PYTHON.exists(), reason="make install builds .venv-sanafe (SANA-FE 2.2.9)")


@pytest.fixture(scope="module")
def loihi_bundles(tmp_path_factory, request):
    from tests.e2e.conftest import run_console_script

    root = tmp_path_factory.mktemp("referee")
    bundles = {}
    for name, dataset, arch in (("digits", "digits", "digits_cnn"), ("mnist5k", "mnist5k", "mnist_cnn")):
        run_console_script("enof-train", "--dataset", dataset, "--arch", arch, "--width", "4", "--timesteps", "2",
                           "--epochs", "1", "--teacher-epochs", "1", "-o", f"{name}.pt", cwd=root)  # fmt: skip
        run_console_script("enof-export", f"{name}.pt", "--target", "loihi", "-o", f"{name}-loihi", cwd=root)
        bundles[name] = root / f"{name}-loihi"
    return bundles


@pytest.mark.parametrize("network", ["digits", "mnist5k"])
def test_sanafe_prices_and_times_the_same_spikes_as_enof(loihi_bundles, network, tmp_path):
    c = compare_with_sanafe(loihi_bundles[network], samples=3, workdir=tmp_path)
    assert c.sanafe["synaptic_events"] == c.enof.synaptic_events  # the same events, counted independently
    assert c.sanafe["messages"] == c.enof.messages  # one per (spiking neuron, destination core): exact
    for component in COMPONENTS:
        assert c.energy_ratio(component) == pytest.approx(1.0, abs=0.02), component
    assert c.time_ratio == pytest.approx(1.0, abs=0.10)
    assert c.enof.synapse_j > 0 and c.enof.network_j > 0 and c.steps == 6
