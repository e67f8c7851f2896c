"""k-means for initialising mixtures: k-means++ seeding, then Lloyd steps run as hard-assignment EM
statistics (identity precisions), so k-means shares the fused kernel and its thread-count invariance."""
import numpy as np

from ..kernels import em as em_kernels
from ..kernels.kmeans import kmeans_plusplus
from .em import statistics
from .mle import gaussian_stats


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
    weights = sample_weight[::step] if sample_weight.size else sample_weight
    seeds = kmeans_plusplus(candidates, weights, n_clusters, np.uint64(key))
    centers = candidates[seeds].astype(np.float64)
    # per-feature variances from the statistics kernel: X.var() would allocate a temporary the size of X
    stats = gaussian_stats(X, full=False)
    threshold = tol * float(np.mean(stats.m2 / max(stats.n, 1.0)))
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
