"""NumPy twin of the k-nearest-neighbour kernel: brute force over blocks of queries (every pairwise distance,
written directly as sqrt(sum (x - y)^2), no GEMM identity, so it is exact to rounding). Test oracle."""
import numpy as np


def knn_distances(X, k, Y=None, block=256):
    """(n, k) ascending distances from each row of X to its k nearest rows of Y (Y None: of X, itself
    excluded)."""
    X = np.asarray(X, dtype=np.float64)
    same = Y is None
    Y = X if same else np.asarray(Y, dtype=np.float64)
    out = np.empty((X.shape[0], k))
    for s in range(0, X.shape[0], block):
        d2 = np.zeros((min(block, X.shape[0] - s), Y.shape[0]))
        for j in range(X.shape[1]):  # coordinate by coordinate: the kernel's order of summation
            diff = X[s:s + block, j, None] - Y[None, :, j]
            d2 = d2 + diff * diff
        d = np.sqrt(d2)
        if same:
            d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        out[s:s + block] = np.sort(d, axis=1)[:, :k]
    return out
