"""Seeded uniform row samples of streams, independent of how the stream is cut into batches."""
import numpy as np

from .. import _random
from ..reference.sampling import splitmix64


def reservoir_sample(batches, size, random_state=None):
    """(sample (<= size, D) float64, rows seen, D) from an iterable of (m, D) arrays.

    Row r (counted over the whole stream) gets the key splitmix64(seed, r); the sample is the ``size`` rows
    with the smallest keys (bottom-k sampling): a uniform sample without replacement, ordered by key,
    whatever the batch sizes, in one pass and O(size) memory.
    """
    key = _random.stream_key(random_state) if not isinstance(random_state, np.random.Generator) else _random.stream_key(0)
    kept_rows, kept_keys = None, None
    seen, D = 0, None
    for X in batches:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"batches must be 2-D arrays, got shape {X.shape}")
        if D is None:
            D = X.shape[1]
        elif X.shape[1] != D:
            raise ValueError(f"batches disagree on the number of features ({D} and {X.shape[1]})")
        m = X.shape[0]
        if m == 0:
            continue
        keys = splitmix64(key, np.arange(seen, seen + m, dtype=np.uint64))
        seen += m
        if kept_rows is None:
            kept_rows, kept_keys = X[:0].astype(np.float64), keys[:0]
        rows = np.concatenate([kept_rows, X.astype(np.float64, copy=False)])
        all_keys = np.concatenate([kept_keys, keys])
        if rows.shape[0] > size:
            idx = np.argpartition(all_keys, size - 1)[:size]
            rows, all_keys = rows[idx], all_keys[idx]
        kept_rows, kept_keys = rows, all_keys
    if kept_rows is None:
        return np.empty((0, D or 0)), 0, D or 0
    order = np.argsort(kept_keys, kind="stable")
    return np.ascontiguousarray(kept_rows[order]), seen, D
