"""k-means for initialising mixtures: k-means++ seeding, then Lloyd steps run as hard-assignment EM
statistics (identity precisions), so k-means shares the fused kernel and its thread-count invariance."""
import numpy as np

from ..kernels import em as em_kernels
from ..kernels.kmeans import kmeans_plusplus
from .em import statistics


def lloyd_params(centers):
    """Kernel parameters under which the largest component term is the nearest centre."""
    K, D = centers.shape
    return np.ones((K, D)), np.ascontiguousarray(centers), np.zeros(K)


#: k-means++ seeding keeps one distance per candidate row; above this many rows it seeds from evenly
#: spaced rows (a strided view, no copy) so seeding memory stays bounded (8 MiB) for any n
MAX_SEEDING_ROWS = 1 << 20


def kmeans(X, n_clusters, sample_weight, key, max_iter=300, tol=1e-4):
    """Cluster centres (K, D): k-means++ seeds then Lloyd iterations over all of X until the squared
    centre shift is below tol * (mean per-feature variance of X), as scikit-learn's KMeans does."""
    step = max(1, -(-X.shape[0] // MAX_SEEDING_ROWS))
    candidates = X[::step]
    if X.dtype != np.float64 or not X.flags.writeable or not X.flags.c_contiguous:
        # float32 / read-only data: seed from a float64 copy of the candidates (at most 2^20 rows) rather
        # than compile another specialisation of the seeding kernel
        candidates = np.ascontiguousarray(candidates, dtype=np.float64)
    weights = sample_weight[::step] if sample_weight.size else sample_weight
    weights = weights if weights.flags.writeable and weights.flags.c_contiguous else np.array(weights)
    seeds = kmeans_plusplus(candidates, weights, n_clusters, np.uint64(key))
    centers = candidates[seeds].astype(np.float64)
    threshold = tol * float(np.mean(_variances(X)))
    for _ in range(max_iter):
        stats = statistics(X, sample_weight, lloyd_params(centers), centers, "diag", em_kernels.HARD)
        new = centers.copy()
        filled = stats.nk > 0
        new[filled] = centers[filled] + stats.s1[filled] / stats.nk[filled, None]  # empty clusters stay put
        shift = np.sum((new - centers) ** 2)
        centers = new
        if shift <= threshold:
            break
    return centers


def _variances(X, rows=1 << 16):
    """Per-feature variances of X in bounded memory (chunks merged by Chan et al.'s update), in NumPy: the
    threshold needs no kernel of its own (one compiled kernel less on a cold start)."""
    n = 0
    mean = np.zeros(X.shape[1])
    m2 = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], rows):
        chunk = np.asarray(X[start:start + rows], dtype=np.float64)
        m = chunk.shape[0]
        mu = chunk.mean(axis=0)
        c2 = ((chunk - mu) ** 2).sum(axis=0)
        delta = mu - mean
        total = n + m
        mean = mean + delta * (m / total)
        m2 = m2 + c2 + delta**2 * (n * m / total)
        n = total
    return m2 / max(n, 1)
