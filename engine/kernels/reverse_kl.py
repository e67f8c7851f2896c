"""Reparameterised gradient of the reverse KL D_KL(q || p) for q = N(m, exp(rho)^2), p a 1-D Gaussian
mixture: the kernel of the seed's forward-vs-reverse study.

With x = m + sigma * eps, eps ~ N(0, 1) ("gradient of an expectation" = expectation of a gradient):

    D_KL(q || p) = -H(q) - E[log p(x)],          H(q) = 1/2 log(2 pi e) + rho
    d/dm   = -E[g(x)],     d/drho = -1 - E[g(x) sigma eps],     g(x) = d/dx log p(x)
           = -E[sum_k r_k(x) (mu_k - x) / s_k^2]

Averages run over a batch of counter-based normals (same seed, same batch => same gradient at any thread
count); per-part sums are reduced in a fixed order.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL
from .sampling import normal_pairs_block

PARTS = 16
_HALF_LOG_2PI = 0.9189385332046727


@njit(**PARALLEL)
def reverse_kl_gradient(m, rho, weights, mus, sds, key, offset, n):
    """(d/dm, d/drho, estimate of D_KL(q || p)) from n draws starting at normal number ``offset``."""
    sigma = np.exp(rho)
    K = weights.shape[0]
    parts_gm = np.zeros(PARTS)
    parts_gr = np.zeros(PARTS)
    parts_lp = np.zeros(PARTS)
    per = (n + PARTS - 1) // PARTS
    per += per % 2
    for p in prange(PARTS):
        lo = min(n, p * per)
        hi = min(n, lo + per)
        half = (hi - lo + 1) // 2
        za = np.empty(max(half, 1))
        zb = np.empty(max(half, 1))
        normal_pairs_block(key, np.uint64(offset + lo), np.uint64(2), half, za, zb)
        log_terms = np.empty(K)
        gm = 0.0
        gr = 0.0
        lp = 0.0
        for i in range(hi - lo):
            eps = za[i // 2] if i % 2 == 0 else zb[i // 2]
            x = m + sigma * eps
            mx = -np.inf
            for k in range(K):
                z = (x - mus[k]) / sds[k]
                log_terms[k] = np.log(weights[k]) - np.log(sds[k]) - _HALF_LOG_2PI - 0.5 * z * z
                mx = max(mx, log_terms[k])
            tot = 0.0
            score = 0.0
            for k in range(K):
                r = np.exp(log_terms[k] - mx)
                tot += r
                score += r * (mus[k] - x) / (sds[k] * sds[k])
            score /= tot
            lp += mx + np.log(tot)
            gm += score
            gr += score * sigma * eps
        parts_gm[p] = gm
        parts_gr[p] = gr
        parts_lp[p] = lp
    entropy = 0.5 + _HALF_LOG_2PI + rho
    return -parts_gm.sum() / n, -1.0 - parts_gr.sum() / n, -entropy - parts_lp.sum() / n
