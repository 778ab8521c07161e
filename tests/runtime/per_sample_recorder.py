"""The per-step recorder as it was before its batching (enof at 03f3b80), kept as the reference that
tests/runtime/test_step_activity.py and benchmarks/step_recording.py hold the batched StepRecorder to. Not a
test module (no ``test_`` prefix): imported by both."""

from __future__ import annotations

import numpy as np

from enof.formats.run_result import STEP_FIELDS
from enof.runtime.program import INPUT
from enof.runtime.step_activity import StepRecorder
from enof.synapses import fan_in_events


class PerSampleRecorder(StepRecorder):
    """The recorder as it was before batching (enof 03f3b80): a Python loop over the samples of each step. Its
    tables (neuron → core columns, where each layer's spikes go) are StepRecorder's own, which the batching kept."""

    def add_step(self, t, spikes, input_events):
        n_cores = len(self.cores)
        for b in range(len(input_events)):
            per = {f: np.zeros(n_cores + 1) for f in STEP_FIELDS}
            for name, column in self._column.items():
                fired = np.asarray(spikes[name][b], np.float64).reshape(-1)
                per["spikes"] += np.bincount(column, fired, n_cores + 1)
                arriving = sum(fan_in_events(syn.connection, np.asarray(
                    input_events[b] if syn.source == INPUT else spikes[syn.source][b], np.int64))
                    for syn in self.program.incoming(name))  # fmt: skip
                per["synops"] += np.bincount(column, np.asarray(arriving, np.float64).reshape(-1), n_cores + 1)
                out = self._outgoing.get(name)
                if out is not None:
                    per["messages_out"] += np.bincount(column, fired * out.per_spike, n_cores + 1)
                    by_position = fired.reshape(-1, len(out.hit)).sum(axis=0)
                    per["messages_in"][out.cores] += by_position @ out.hit
            for f in STEP_FIELDS:
                counts = np.rint(per[f][:n_cores]).astype(np.int64)
                self.sums[f][:, t] += counts
                np.maximum(self.maxima[f][:, t], counts, out=self.maxima[f][:, t])
