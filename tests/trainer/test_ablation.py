"""Ablation bookkeeping: cells are mean ± sample std over seeds, and the page shows every variant."""

import json

import pytest

from enof.trainer.ablation import VARIANTS, AblationRun, _summary, markdown_table, paired_differences, write_ablation


def _runs():
    accs = {"baseline": [0.975, 0.980, 0.985], "+L_AF": [0.99, 0.99, 0.99]}
    return [AblationRun(variant, 2, seed, acc, 0.99, 1.0) for variant, values in accs.items()
            for seed, acc in enumerate(values)]


def test_summary_is_mean_and_sample_std_in_percent_per_variant_and_t():
    table = _summary(_runs(), (2, 4))
    assert table["baseline"]["2"]["mean"] == pytest.approx(98.0, abs=1e-9)
    assert table["baseline"]["2"]["std"] == pytest.approx(0.5, abs=1e-9)  # sample std (n − 1) of 97.5, 98, 98.5
    assert table["+L_AF"]["2"] == {"mean": pytest.approx(99.0), "std": pytest.approx(0.0, abs=1e-12), "n": 3}
    assert table["baseline"] .get("4") is None and table["+RepAct"] == {}


def test_variants_are_the_papers_four_cells_plus_vanilla_kd():
    assert VARIANTS == {
        "baseline": (False, False, False), "+L_AF": (True, False, False), "+RepAct": (False, True, False),
        "+L_AF +RepAct (EnOF)": (True, True, False), "vanilla KD": (False, False, True),
    }


def test_written_page_and_json_agree(tmp_path):
    result = {"dataset": "digits", "arch": "digits_cnn", "seeds": [0, 1, 2], "timesteps": [2, 4],
              "settings": {"epochs": 3}, "teacher_test_accuracy_percent": {"0": 99.0, "1": 98.0, "2": 97.0},
              "summary_percent": _summary(_runs(), (2, 4)), "runs": [], "test_images": 360, "wall_s": 60.0}
    md_path, json_path = write_ablation(result, tmp_path / "abl.md", "enof-train ablation --seeds 3")
    page = md_path.read_text()
    assert "| baseline | 98.00 ± 0.50 | — |" in page
    assert "| +L_AF | 99.00 ± 0.00 | — |" in page
    assert "| +RepAct | — | — |" in page
    assert "ANN teacher: 98.00 ± 1.00 %" in page
    assert json.loads(json_path.read_text())["summary_percent"]["baseline"]["2"]["n"] == 3
    assert page == markdown_table(result, "enof-train ablation --seeds 3")


def test_paired_difference_subtracts_the_baseline_of_the_same_seed():
    runs = [{"variant": v, "timesteps": 1, "seed": s, "test_accuracy": acc}
            for v, accs in {"baseline": [0.90, 0.95], "+L_AF": [0.91, 0.97]}.items() for s, acc in enumerate(accs)]
    diffs = paired_differences({"runs": runs, "timesteps": [1], "seeds": [0, 1]})
    # Per seed +1 and +2 points: mean 1.5, sample std 0.71 (the unpaired cells would have std ≈ 3.5).
    assert diffs["+L_AF"]["1"]["mean"] == pytest.approx(1.5) and diffs["+L_AF"]["1"]["std"] == pytest.approx(0.7071, abs=1e-4)
    assert diffs["+RepAct"] == {}


def test_an_event_ablation_bins_the_recordings_into_each_runs_t_frames(tmp_path, monkeypatch):
    """Every run of the grid trains on frames binned at its own T, at the --frame-size asked for (the training
    itself is replaced by a recorder: the loop's event path is tested in test_loop.py)."""
    import numpy as np

    from enof.datasets.cifar_dvs import CLASSES, write_events_npz
    from enof.trainer import ablation
    from enof.trainer.ablation import AblationConfig, run_ablation
    from enof.trainer.loop import TrainConfig, TrainResult

    rng = np.random.default_rng(0)
    for name in CLASSES:
        (tmp_path / name).mkdir()
        for i in range(2):
            write_events_npz(tmp_path / name / f"{i}.npz", np.sort(rng.integers(0, 5000, 50)),
                             *(rng.integers(0, 128, 50) for _ in range(2)), rng.integers(0, 2, 50))
    seen = []

    def record(config, progress=None, data=None):
        seen.append((config.timesteps, tuple(data.train[0][0].shape)))
        return TrainResult(tmp_path / "m.pt", None, 0.5, 0.5, None)

    monkeypatch.setattr(ablation, "train", record)
    monkeypatch.setattr(ablation, "train_teacher", lambda config, data, progress: (tmp_path / "t.pt", 0.5))
    base = TrainConfig(dataset="cifar10dvs", data_root=str(tmp_path), arch="mnist_cnn", frame_size=[20, 24])
    run_ablation(AblationConfig(base=base, seeds=1, timesteps=(1, 3)), log=lambda line: None)
    assert sorted(set(seen)) == [(1, (1, 2, 20, 24)), (3, (3, 2, 20, 24))] and len(seen) == 2 * len(VARIANTS)
