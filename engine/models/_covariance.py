"""Covariance parametrisations: validation, Cholesky factors and the kernels' common layout.

Shapes follow scikit-learn's ``covariances_`` for each ``covariance_type``:

=========== ============== =========================== ==========================
type        covariances    precisions_cholesky (U)     kernel layout of U
=========== ============== =========================== ==========================
full        (K, D, D)      (K, D, D) upper triangular   (K, D, D)
tied        (D, D)         (D, D) upper triangular      (1, D, D)  shared by all k
diag        (K, D)         (K, D)                       (K, D)
spherical   (K,)           (K,)                         (K, D)     broadcast
=========== ============== =========================== ==========================

with precision = U U^T, so log N(x | m, C) = log det U - D/2 log 2 pi - 0.5 ||x U - m U||^2.
"""
from typing import NamedTuple

import numpy as np

from .._validation import as_param


class GaussianKernelParams(NamedTuple):
    """What the Gaussian log-density/E-step kernels take: U in kernel layout, mean_k U_k, log w_k + log det U_k
    - D/2 log 2 pi."""

    prec_chol: np.ndarray
    shifted_means: np.ndarray
    log_norm: np.ndarray


class GaussianSamplerParams(NamedTuple):
    """What the Gaussian samplers take: cumulative weights, means, L^T (dense) or standard deviations."""

    cum_weights: np.ndarray
    means: np.ndarray
    cov_chol_t: np.ndarray

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
LOG_2PI = np.log(2.0 * np.pi)


def check_covariance_type(covariance_type, allowed=COVARIANCE_TYPES):
    if covariance_type not in allowed:
        raise ValueError(f"covariance_type must be one of {allowed}, got {covariance_type!r}")
    return covariance_type


def covariance_shape(covariance_type, n_components, n_features):
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _component_name(name, covariance_type, k):
    return name if covariance_type == "tied" else f"{name}[{k}]"


def cholesky_factors_from_precision_cholesky(prec_chol, covariance_type):
    """(cov_chol, prec_chol) when the model is given by U: the lower factor of the covariance is U^-T."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol, prec_chol
    return np.swapaxes(np.linalg.inv(prec_chol), -1, -2), prec_chol


def cholesky_factors(covariances, covariance_type, name="covariances"):
    """Validate covariances (finite, symmetric, positive definite) and return (cov_chol, prec_chol).

    cov_chol is the lower Cholesky factor L of each covariance (standard deviations for diag/spherical),
    used for sampling; prec_chol is scikit-learn's ``precisions_cholesky_`` (U = L^-T).
    """
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("diag", "spherical"):
        if np.any(cov <= 0):
            idx = tuple(int(i) for i in np.argwhere(cov <= 0)[0])
            raise ValueError(
                f"{name} must be positive ({covariance_type} variances); found {cov[idx]} at index {idx}"
            )
        std = np.sqrt(cov)
        return std, 1.0 / std
    mats = cov[None] if covariance_type == "tied" else cov
    cov_chol = np.empty_like(mats)
    prec_chol = np.empty_like(mats)
    eye = np.eye(mats.shape[-1])
    for k, c in enumerate(mats):
        where = _component_name(name, covariance_type, k)
        scale = np.max(np.abs(c))
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * scale):
            raise ValueError(f"{where} must be symmetric")
        try:
            L = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"{where} is not positive definite (a singular or indefinite covariance); "
                "add a small ridge to its diagonal"
            ) from None
        if not np.all(np.isfinite(L)) or np.any(np.diag(L) <= 0):
            raise ValueError(f"{where} is not positive definite (numerically singular)")
        cov_chol[k] = L
        prec_chol[k] = np.linalg.solve(L, eye).T  # U = L^-T: upper triangular
    if covariance_type == "tied":
        return cov_chol[0], prec_chol[0]
    return cov_chol, prec_chol


def precision_cholesky_from_precisions(precisions, covariance_type, name="precisions_init"):
    """scikit-learn's ``precisions_cholesky_`` from precisions, keeping U upper triangular (the kernels rely
    on it): with J the reversal permutation, chol(J P J) = L lower and U = J L J is upper with U U^T = P."""
    P = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("diag", "spherical"):
        if np.any(P <= 0):
            raise ValueError(f"{name} must be positive ({covariance_type} precisions)")
        return np.sqrt(P)
    mats = P[None] if covariance_type == "tied" else P
    out = np.empty_like(mats)
    for k, p in enumerate(mats):
        try:
            L = np.linalg.cholesky(p[::-1, ::-1])
        except np.linalg.LinAlgError:
            raise ValueError(f"{_component_name(name, covariance_type, k)} is not positive definite") from None
        out[k] = L[::-1, ::-1]
    return out[0] if covariance_type == "tied" else out


def covariances_from_precision_cholesky(prec_chol, covariance_type):
    """Inverse of ``cholesky_factors``: covariances from ``precisions_cholesky_``."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol**2
    mats = prec_chol[None] if covariance_type == "tied" else prec_chol
    inv = np.linalg.inv(mats)  # U^-1 = L^T
    cov = np.einsum("kji,kjl->kil", inv, inv)
    return cov[0] if covariance_type == "tied" else cov


def precisions(prec_chol, covariance_type):
    """scikit-learn's ``precisions_`` (U U^T)."""
    if covariance_type in ("diag", "spherical"):
        return prec_chol**2
    return prec_chol @ np.swapaxes(prec_chol, -1, -2)


def log_det_precision_cholesky(prec_chol, covariance_type, n_features):
    """log det U per component, shape (K,) (a scalar for tied)."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def kernel_layout(prec_chol, covariance_type, n_features):
    """prec_chol in the kernels' layout: (P, D, D) dense or (K, D) diagonal, contiguous float64."""
    if covariance_type == "tied":
        return np.ascontiguousarray(prec_chol[None])
    if covariance_type == "spherical":
        return np.ascontiguousarray(np.repeat(prec_chol[:, None], n_features, axis=1))
    return np.ascontiguousarray(prec_chol)


def kernel_params(log_weights, means, prec_chol, covariance_type):
    """(U in kernel layout, shifted_means = mean_k U_k, log_norm) for ``mixture_log_density``."""
    K, D = means.shape
    U = kernel_layout(prec_chol, covariance_type, D)
    if U.ndim == 3:
        P = U.shape[0]
        shifted = np.einsum("kj,kji->ki", means, U if P == K else np.broadcast_to(U, (K, D, D)))
    else:
        shifted = means * U
    log_norm = (
        log_weights
        + log_det_precision_cholesky(prec_chol, covariance_type, D)
        - 0.5 * D * LOG_2PI
    )
    # np.array, not ascontiguousarray: a broadcast view is read-only, and a read-only argument is another
    # Numba type, i.e. another full compile of every kernel that takes it (measured: 8 s of a cold fit)
    return GaussianKernelParams(U, np.ascontiguousarray(shifted),
                                np.array(np.broadcast_to(log_norm, (K,)), dtype=np.float64, order="C"))


def sampling_layout(cov_chol, covariance_type, n_features):
    """The sampler's layout: transposed lower factors L^T (P, D, D), or standard deviations (K, D)."""
    layout = kernel_layout(cov_chol, covariance_type, n_features)
    return np.ascontiguousarray(np.swapaxes(layout, -1, -2)) if layout.ndim == 3 else layout


def validate_covariances(covariances, covariance_type, n_components, n_features, name="covariances"):
    shape = covariance_shape(covariance_type, n_components, n_features)
    return as_param(covariances, name, shape)
