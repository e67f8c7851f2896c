import numpy as np


def gaussian_moments(X, full=True):
    """Twin of the statistics pass: (n, mean, M2) of X in float64, two-pass (M2 diagonal if not full)."""
    X = X.astype(np.float64)
    mean = X.mean(axis=0)
    d = X - mean
    m2 = d.T @ d if full else np.sum(d * d, axis=0)
    return float(X.shape[0]), mean, m2
