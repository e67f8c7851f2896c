"""Moments of log-density differences: the fused pass behind Monte Carlo KL and cross-entropy.

For points x_i (samples of p, or data) the kernel forms v_i = log p(x_i) - log q(x_i) block by block with
the mixture machinery of ``gaussian`` (both densities from the same transposed block, no n-length
temporaries) and returns per-part (count, mean, M2) of v, merged by the caller with Chan's update.
"""
import numpy as np
from numba import njit, prange

from ._config import BLOCK, PARALLEL
from ._partition import part_count, part_rows
from .gaussian import component_terms, first_bad_row, load_block, logsumexp_block


@njit(inline="always")
def _block_log_density(xt, m, U, shifted, log_norm, terms, y, mx, out):
    component_terms(xt, m, U, shifted, log_norm, terms, y)
    if terms.shape[0] == 1:
        for b in range(m):
            out[b] = terms[0, b]
    else:
        logsumexp_block(terms, m, mx, out, False)


@njit(**PARALLEL)
def log_ratio_moments(X, p_U, p_shifted, p_log_norm, q_U, q_shifted, q_log_norm, subtract_q):
    """Per-part (counts, means, M2) of v = log p(x) - log q(x) over the rows of X (just log p(x) when
    ``subtract_q`` is False). Parts: a fixed partition of the rows (a function of n only). Also returns
    the first non-finite row of X, or -1."""
    n, D = X.shape
    Kp = p_shifted.shape[0]
    Kq = q_shifted.shape[0]
    n_parts = part_count(n)
    counts = np.zeros(n_parts)
    means = np.zeros(n_parts)
    m2 = np.zeros(n_parts)
    bad = np.full(n_parts, -1, dtype=np.int64)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        tp = np.empty((Kp, BLOCK))
        tq = np.empty((Kq, BLOCK))
        mx = np.empty(BLOCK)
        lp = np.empty(BLOCK)
        lq = np.empty(BLOCK)
        cnt = 0.0
        mean = 0.0
        acc2 = 0.0
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            r = load_block(X, start, m, xt)
            if r >= 0:
                bad[p] = r
                break
            _block_log_density(xt, m, p_U, p_shifted, p_log_norm, tp, y, mx, lp)
            if subtract_q:
                _block_log_density(xt, m, q_U, q_shifted, q_log_norm, tq, y, mx, lq)
                for b in range(m):
                    lp[b] -= lq[b]
            # block mean and centred sum of squares, merged into the part's running moments (Chan)
            bs = 0.0
            for b in range(m):
                bs += lp[b]
            bmean = bs / m
            bm2 = 0.0
            for b in range(m):
                d = lp[b] - bmean
                bm2 += d * d
            tot = cnt + m
            delta = bmean - mean
            mean += delta * m / tot
            acc2 += bm2 + delta * delta * cnt * m / tot
            cnt = tot
        counts[p] = cnt
        means[p] = mean
        m2[p] = acc2
    return counts, means, m2, first_bad_row(bad)
