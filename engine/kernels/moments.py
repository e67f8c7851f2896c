"""Additive Gaussian sufficient statistics (count, mean, centred second moment) of a data set."""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL
from ._partition import part_count, part_rows
from .gaussian import first_bad_row

# the data is cut into ``part_count(n)`` contiguous parts (a function of n only, so the statistics are
# bit-identical at any thread count); each part is summed two-pass, then parts are merged (Chan et al.)


@njit(**PARALLEL)
def partial_moments(X, full):
    """Per-part statistics of X (n, D): counts (P,), means (P, D), M2 (P, D, D) if ``full`` else (P, 1, D).

    M2 = sum_i (x_i - mean)(x_i - mean)^T over the part (only its diagonal when not ``full``), computed
    two-pass in float64 whatever X's dtype. Returns also the first non-finite row or -1.
    """
    n, D = X.shape
    n_parts = part_count(n)
    counts = np.zeros(n_parts)
    means = np.zeros((n_parts, D))
    m2 = np.zeros((n_parts, D if full else 1, D))
    bad = np.full(n_parts, -1, dtype=np.int64)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        Xp = X[lo:hi]  # indexed from 0: Numba's negative-index wraparound would block vectorisation
        s = np.zeros(D)
        for i in range(hi - lo):
            for j in range(D):
                s[j] += Xp[i, j]
        cnt = hi - lo
        poison = 0.0
        for j in range(D):
            poison += s[j] * 0.0
        if poison != poison:
            for i in range(hi - lo):
                for j in range(D):
                    if not np.isfinite(Xp[i, j]):
                        bad[p] = lo + i
                        break
                if bad[p] >= 0:
                    break
            continue
        mu = s / max(cnt, 1)
        d = np.empty(D)
        for i in range(hi - lo):
            for j in range(D):
                d[j] = Xp[i, j] - mu[j]
            if full:
                for a in range(D):
                    for b in range(a + 1):
                        m2[p, a, b] += d[a] * d[b]
            else:
                for a in range(D):
                    m2[p, 0, a] += d[a] * d[a]
        if full:
            for a in range(D):
                for b in range(a):
                    m2[p, b, a] = m2[p, a, b]
        counts[p] = cnt
        means[p] = mu
    return counts, means, m2, first_bad_row(bad)
