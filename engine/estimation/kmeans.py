"""k-means for initialising mixtures: k-means++ seeding, then Lloyd steps run as hard-assignment EM
statistics (identity precisions), so k-means shares the fused kernel and its thread-count invariance."""
import numpy as np

from ..kernels import em as em_kernels
from ..kernels.kmeans import kmeans_plusplus
from .._staging import as_kernel_vector, kernel_ready
from .em import statistics
from .mle import GaussianStats


def lloyd_params(centers, dense=False):
    """Kernel parameters under which the largest component term is the nearest centre.

    dense=False: identity precisions in the diagonal layout (K, D); dense=True: one shared identity in the
    dense layout (1, D, D), the tied case, where x U is formed once per point, so a Lloyd step costs about
    what it costs in the diagonal layout. A full/tied fit uses the dense layout: its EM kernel is the same
    compiled specialisation, so k-means costs no compile of its own (7 s of a cold start, measured)."""
    from ..models._covariance import GaussianKernelParams

    K, D = centers.shape
    U = np.eye(D)[None].copy() if dense else np.ones((K, D))
    return GaussianKernelParams(U, np.ascontiguousarray(centers, dtype=np.float64), np.zeros(K))


#: k-means++ seeding keeps one distance per candidate row; above this many rows it seeds from evenly
#: spaced rows (a strided view, no copy) so seeding memory stays bounded (8 MiB) for any n
MAX_SEEDING_ROWS = 1 << 20


def seeding_candidates(X, sample_weight, max_rows=MAX_SEEDING_ROWS):
    """(candidate rows, their weights) for k-means++ seeding: every row up to ``max_rows`` rows (None: every
    row), else evenly spaced rows (a strided view of float64 data, no copy: 8 MiB of seeding state for any n).

    float32, read-only or non-contiguous data are seeded from a float64 copy of the candidates (at most
    2^20 rows) rather than through another compiled specialisation of the seeding kernel."""
    step = 1 if max_rows is None else max(1, -(-X.shape[0] // max_rows))
    candidates = X[::step]
    if not kernel_ready(X):
        candidates = np.array(candidates, dtype=np.float64, order="C")
    weights = as_kernel_vector(sample_weight[::step] if sample_weight.size else sample_weight)
    return candidates, weights


def kmeans(X, n_clusters, sample_weight, key, max_iter=300, tol=1e-4, dense=False, n_init=1):
    """Cluster centres (K, D): k-means++ seeds then Lloyd iterations over all of X until the squared
    centre shift is below tol * (mean per-feature variance of X), as scikit-learn's KMeans does.
    n_init > 1: the best (least within-cluster sum of squares) of that many seedings, keyed from ``key`` (in the
    diagonal layout, whose statistics hold each cluster's own scatter)."""
    if n_init > 1 and dense:
        raise ValueError("kmeans: n_init > 1 needs dense=False (the dense layout keeps one pooled scatter)")
    candidates, weights = seeding_candidates(X, sample_weight)
    threshold = tol * float(np.mean(_variances(X)))
    best, best_inertia = None, np.inf
    keys = [np.uint64(key)] if n_init == 1 else np.random.SeedSequence(int(key)).generate_state(n_init, np.uint64)
    for run_key in keys:
        seeds = kmeans_plusplus(candidates, weights, n_clusters, np.uint64(run_key))
        centers = candidates[seeds].astype(np.float64)
        inertia = np.inf
        for _ in range(max_iter):
            stats = statistics(X, sample_weight, lloyd_params(centers, dense), centers, "tied" if dense else "diag",
                               em_kernels.HARD)
            new = centers.copy()
            filled = stats.nk > 0
            new[filled] = centers[filled] + stats.s1[filled] / stats.nk[filled, None]  # empty clusters stay put
            shift = np.sum((new - centers) ** 2)
            # the sum of squares about the assigned centres, less what moving them to the means removes
            inertia = float(np.sum(stats.s2)) - float(np.sum(stats.nk[filled, None] * (new[filled] - centers[filled]) ** 2))
            centers = new
            if shift <= threshold:
                break
        if inertia < best_inertia or best is None:
            best, best_inertia = centers, inertia
    return best


def _variances(X, rows=1 << 16):
    """Per-feature variances of X in bounded memory, in NumPy (the threshold needs no kernel of its own: one
    compiled kernel less on a cold start); chunks merge through ``GaussianStats``' pairwise update."""
    total = GaussianStats(0.0, np.zeros(X.shape[1]), np.zeros(X.shape[1]))
    for start in range(0, X.shape[0], rows):
        chunk = np.asarray(X[start:start + rows], dtype=np.float64)
        mu = chunk.mean(axis=0)
        total = total + GaussianStats(float(chunk.shape[0]), mu, ((chunk - mu) ** 2).sum(axis=0))
    return total.m2 / max(total.n, 1.0)
