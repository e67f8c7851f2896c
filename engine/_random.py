"""``random_state`` handling: every sampler is keyed by one 64-bit word derived from it."""
import numbers

import numpy as np


def stream_key(random_state=None):
    """The 64-bit key of the counter-based stream for ``random_state``.

    None: fresh OS entropy. int: ``SeedSequence(int)`` (so equal ints give equal draws). A
    ``numpy.random.Generator``/``RandomState`` is advanced by one draw, as scikit-learn does with it, so
    successive calls with the same generator give different samples.
    """
    if random_state is None:
        return np.random.SeedSequence().generate_state(1, np.uint64)[0]
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError("random_state must be None, an int or a numpy.random.Generator, got a bool")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.SeedSequence(int(random_state)).generate_state(1, np.uint64)[0]
    if isinstance(random_state, np.random.SeedSequence):
        return random_state.generate_state(1, np.uint64)[0]
    if isinstance(random_state, np.random.Generator):
        return np.uint64(random_state.integers(0, 2**64, dtype=np.uint64))
    if isinstance(random_state, np.random.RandomState):
        return np.uint64(random_state.randint(0, 2**63, dtype=np.int64))
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.Generator, got {type(random_state).__name__}"
    )
