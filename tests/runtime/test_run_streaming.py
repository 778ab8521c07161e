"""run_bundle on a memory-mapped inputs file: the same result as the array, one batch in memory at a time;
and a run without labels round-trips through run.json with accuracy null."""

import tracemalloc

import numpy as np
import pytest

from enof.errors import RunResultError
from enof.formats.run_result import read_run_result, run_result_from_dict, write_run_result
from enof.run_request import FLAGS, RunRequest, choose_samples
from enof.runtime.bundle import open_bundle
from enof.runtime.inputs import read_inputs_file
from enof.runtime.run import run_bundle


def _peak_python_bytes(call) -> int:
    """Peak bytes numpy and Python allocate during ``call()`` (tracemalloc sees numpy's buffers, not mmap pages)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_mapped_inputs_file_gives_the_arrays_result_with_memory_of_one_batch(digits_bundle, digits_test_set, tmp_path):
    bundle = open_bundle(digits_bundle("loihi2")[0])
    images = np.tile(digits_test_set[0], (50, 1, 1, 1)).astype(np.float64)  # 2,000 samples, 1 MiB of float64
    np.save(tmp_path / "big.npy", images)
    mapped = read_inputs_file(tmp_path / "big.npy")
    assert isinstance(mapped.inputs, np.memmap)
    # enof-run's path (the checks enof.run makes, then --limit) keeps the map: no copy of the file
    request = RunRequest(limit=1500).checked(FLAGS)
    chosen = choose_samples(bundle, request, FLAGS, mapped.inputs, None, ("--inputs big.npy",) * 2, "big.npy")
    assert isinstance(chosen.inputs, np.memmap) and len(chosen.inputs) == 1500 and chosen.normalization is not None
    run = lambda inputs: run_bundle(bundle, inputs, None, batch_size=16, progress=False)  # noqa: E731
    run(mapped.inputs[:16])  # first-call allocations (sessions, caches) are not the run's growth
    peak = _peak_python_bytes(lambda: run(mapped.inputs))
    fifth = _peak_python_bytes(lambda: run(mapped.inputs[:400]))
    # A whole float32 copy would be 512 KiB, half the file: the run stays under that with everything else it holds
    # (a batch of 16 is 4 KiB of input; run.json's per-step counts a few (batch, neurons) arrays, 64 KiB each for
    # the 512 neurons of the first layer in int64, and the recorder's tables; per-sample predictions, 16 KiB of int64
    # and a list of Python ints: ~380 KiB measured in all).
    assert peak < images.nbytes // 2, peak
    # and memory does not follow the samples: 1,600 more cost only their predictions (~100 KiB), where a copy of
    # their inputs alone would be 400 KiB
    assert peak - fifth < 160 * 1024, (peak, fifth)
    first = run(mapped.inputs[:80])
    assert first.predictions == run(images[:80]).predictions and first.layers == run(images[:80]).layers


def test_a_run_without_labels_round_trips_with_null_accuracy(digits_bundle, digits_test_set, tmp_path):
    bundle = open_bundle(digits_bundle("loihi2")[0])
    result = run_bundle(bundle, digits_test_set[0][:5], None, progress=False)
    assert (result.accuracy, result.labels) == (None, None)
    assert read_run_result(write_run_result(result, tmp_path / "run.json")) == result
    data = result.to_dict()
    with pytest.raises(RunResultError, match="'accuracy' is 0.5, but labels is null"):
        run_result_from_dict({**data, "accuracy": 0.5})
    with pytest.raises(RunResultError, match="accuracy"):
        run_result_from_dict({**data, "labels": [0] * 5})  # labels but no accuracy
