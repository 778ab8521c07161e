"""The built-in simulator: bit-exact with Lava's fixed_pt models, in aligned time, vectorized over the batch."""

from enof.runtime.fast.simulate import simulate

__all__ = ["simulate"]
