"""k-means++ seeding (Arthur & Vassilvitskii 2007) as a parallel kernel.

Lloyd iterations need no kernel of their own: with identity precisions, a zero log-normaliser and the
centres as means, ``em.em_statistics`` in HARD mode assigns every point to its nearest centre and returns
per-cluster counts, sums and scatter, which is exactly a Lloyd step (see ``estimation.kmeans``).
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL
from ._partition import part_count, part_rows
from .sampling import uniform_open


@njit(**PARALLEL)
def kmeans_plusplus(X, sample_weight, n_clusters, key):
    """Indices (n_clusters,) of the seeds: the first drawn with probability ~ w_i, each next one with
    probability ~ w_i * min_j ||x_i - c_j||^2. Draws are word j of stream ``key`` for seed j, and the
    weighted sums are reduced over a fixed partition, so the result does not depend on the thread count.
    """
    n, D = X.shape
    weighted = sample_weight.shape[0] > 0
    n_parts = part_count(n, 1024)
    d2 = np.empty(n)
    for i in prange(n):
        d2[i] = sample_weight[i] if weighted else 1.0
    chosen = np.empty(n_clusters, dtype=np.int64)
    part_sum = np.zeros(n_parts)
    for j in range(n_clusters):
        for p in prange(n_parts):
            acc = 0.0
            lo, hi = part_rows(n, p, n_parts)
            for i in range(lo, hi):
                acc += d2[i]
            part_sum[p] = acc
        total = 0.0
        for p in range(n_parts):
            total += part_sum[p]
        target = (uniform_open(key, np.uint64(j)) - 1.1102230246251565e-16) * total
        idx = n - 1
        if total > 0:
            p = 0
            while p < n_parts - 1 and target >= part_sum[p]:
                target -= part_sum[p]
                p += 1
            run = 0.0
            lo, hi = part_rows(n, p, n_parts)
            for i in range(lo, hi):
                run += d2[i]
                if run > target and d2[i] > 0:
                    idx = i
                    break
        else:  # every point coincides with a seed already: take the next unused index
            idx = j % n
        chosen[j] = idx
        for i in prange(n):
            acc = 0.0
            for t in range(D):
                v = X[i, t] - X[idx, t]
                acc += v * v
            w = sample_weight[i] if weighted else 1.0
            d2[i] = min(d2[i], w * acc) if j > 0 else w * acc
    return chosen
