import os

import numpy as np
import pytest

# tests/gpu needs NUMBA_ENABLE_CUDASIM (or a GPU) decided before numba is imported: it runs in its own
# process (tests/test_cuda_simulator.py), or directly with ENGINE_CUDA_TESTS=1 on a GPU machine
collect_ignore = [] if os.environ.get("ENGINE_CUDA_TESTS") else ["gpu"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def random_spd(rng, D, scale=1.0):
    A = rng.normal(size=(D, D))
    return scale * (A @ A.T / D + 0.5 * np.eye(D))


def random_mixture_params(rng, K, D, covariance_type, spread=3.0):
    """(weights, means, covariances) with scikit-learn's shapes for ``covariance_type``."""
    weights = rng.dirichlet(np.full(K, 2.0))
    means = rng.normal(scale=spread, size=(K, D))
    if covariance_type == "full":
        covs = np.stack([random_spd(rng, D) for _ in range(K)])
    elif covariance_type == "tied":
        covs = random_spd(rng, D)
    elif covariance_type == "diag":
        covs = rng.uniform(0.3, 2.0, size=(K, D))
    else:
        covs = rng.uniform(0.3, 2.0, size=K)
    return weights, means, covs


def sklearn_mixture(weights, means, covariances, covariance_type):
    """A scikit-learn GaussianMixture holding the given parameters (its own precision computation)."""
    from sklearn.mixture import GaussianMixture
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    gm = GaussianMixture(n_components=len(weights), covariance_type=covariance_type)
    gm.weights_ = np.asarray(weights)
    gm.means_ = np.asarray(means)
    gm.covariances_ = np.asarray(covariances)
    gm.precisions_cholesky_ = _compute_precision_cholesky(gm.covariances_, covariance_type)
    return gm


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
