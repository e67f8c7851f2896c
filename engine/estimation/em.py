"""EM for Gaussian mixtures over additive sufficient statistics.

``e_step_stats(model, X)`` is one fused parallel pass over X returning a ``SufficientStats``; statistics of
batches add with ``+``; ``m_step(stats, ...)`` turns them into parameters. ``GaussianMixture.fit`` is a loop
over exactly these two functions, so a caller that streams batches from Parquet files, Dask partitions or
a GPU gets the same EM by summing ``e_step_stats`` over its batches.
"""
import numpy as np

from .._validation import as_float_array, raise_bad_row
from ..kernels import em as em_kernels
# the statistics type and its helpers live in a leaf module, so that engine.cuda (which returns them) and
# this module (which dispatches to engine.cuda) do not import each other
from .em_stats import _EPS_MASS, SufficientStats, _check_sample_weight, _shift  # noqa: F401


def statistics(X, sample_weight, kernel_params, shift, covariance_type, mode=em_kernels.POSTERIOR, key=0):
    """Run the fused statistics kernel on validated inputs and wrap the result."""
    from .._staging import as_kernel_vector, kernel_ready, staged_rows

    U, shifted, log_norm = kernel_params.prec_chol, kernel_params.shifted_means, kernel_params.log_norm
    tied = covariance_type == "tied"
    sample_weight = as_kernel_vector(sample_weight)
    if kernel_ready(X):
        nk, s1, s2, ll, wt, bad = em_kernels.statistics_parts(X, sample_weight, U, shifted, log_norm, shift, tied,
                                                              mode, np.uint64(key), 0)
        raise_bad_row(bad)
        # reduce the fixed partition of parts (same order at any thread count)
        nk, s1, s2, ll, wt = nk.sum(axis=0), s1.sum(axis=0), s2.sum(axis=0), ll.sum(), wt.sum()
    else:
        # float32, read-only or strided X: float64 chunks through the one compiled kernel, summed in order
        total = None
        chunks = staged_rows(X) if X.shape[0] else [(0, np.empty((0, X.shape[1])))]
        for start, chunk in chunks:
            m = chunk.shape[0]
            w = sample_weight[start:start + m] if sample_weight.size else sample_weight
            parts = em_kernels.statistics_parts(chunk, w, U, shifted, log_norm, shift, tied, mode, np.uint64(key),
                                                start)
            if parts[5] >= 0:
                raise_bad_row(start + parts[5])
            sums = (parts[0].sum(axis=0), parts[1].sum(axis=0), parts[2].sum(axis=0), parts[3].sum(), parts[4].sum())
            total = sums if total is None else tuple(a + b for a, b in zip(total, sums))
        nk, s1, s2, ll, wt = total
    if U.ndim == 3:
        s2 = np.tril(s2) + np.swapaxes(np.tril(s2, -1), -1, -2)  # the kernel fills the lower triangle
        if covariance_type == "tied":
            s2 = s2[0]
    else:
        s2 = s2[:, 0, :]
    return SufficientStats(covariance_type, nk, s1, s2, shift, float(ll), float(wt))


def e_step_stats(model, X, sample_weight=None, device=None):
    """E-step sufficient statistics of X (n, D) under the fitted/parametrised ``model``.

    One parallel pass; memory beyond X is O(K D^2) per part (at most 64 parts), whatever n is.
    sample_weight: optional (n,) non-negative weights. device: "cpu" | "cuda" | "auto" (default: the
    model's ``device``); on "cuda", X may be a GPU array.
    """
    model._check_fitted()
    from .. import _dispatch

    if _dispatch.resolve(device or getattr(model, "device", "cpu"), X) == "cuda":
        from ..cuda import e_step_stats as cuda_e_step_stats

        return cuda_e_step_stats(model, X, sample_weight)
    X = as_float_array(X, n_features=model.n_features_in_)
    w = _check_sample_weight(sample_weight, X.shape[0])
    shift = _shift(model.means_, model.weights_, model.covariance_type)
    return statistics(X, w, model._kernel_params, shift, model.covariance_type)


def m_step(stats, covariance_type=None, reg_covar=1e-6):
    """Parameters (weights (K,), means (K, D), covariances) maximising the expected log-likelihood.

    The same formulas as scikit-learn's ``_estimate_gaussian_parameters`` (including its 10 eps added to
    each component's mass), with ``reg_covar`` added to the covariances' diagonals.
    """
    covariance_type = covariance_type or stats.covariance_type
    if covariance_type != stats.covariance_type:
        raise ValueError(
            f"statistics were taken for covariance_type={stats.covariance_type!r}, not {covariance_type!r}"
        )
    nk = stats.nk + _EPS_MASS
    weights = nk / nk.sum()
    d = stats.s1 / nk[:, None]  # mean_k - shift_k
    means = stats.shift + d
    D = means.shape[1]
    if covariance_type == "full":
        covariances = stats.s2 / nk[:, None, None] - d[:, :, None] * d[:, None, :]
        covariances += reg_covar * np.eye(D)
    elif covariance_type == "tied":
        covariances = (stats.s2 - np.einsum("k,ki,kj->ij", nk, d, d)) / nk.sum()
        covariances += reg_covar * np.eye(D)
    else:
        covariances = stats.s2 / nk[:, None] - d * d + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    return weights, means, covariances
