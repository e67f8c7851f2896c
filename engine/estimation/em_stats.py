"""The Gaussian EM statistics type and its input helpers: a leaf module (numpy and validation only), imported by
``engine.estimation.em`` and ``engine.cuda`` alike."""
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array

#: scikit-learn adds 10 machine epsilons to every component's mass so an empty component cannot divide by 0
_EPS_MASS = 10 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class SufficientStats:
    """Additive EM statistics of a data set under one mixture (see ``engine.kernels.em``).

    nk : (K,)             sum_i w_i r_ik
    s1 : (K, D)           sum_i w_i r_ik (x_i - shift_k)
    s2 :                  (K, D, D) full, (D, D) tied (sum_i w_i (x_i - shift_0)(x_i - shift_0)^T),
                          (K, D) diag/spherical: sum_i w_i r_ik (x_i - shift_k)**2
    shift : (K, D)        the centres the moments are taken about (the E-step model's means; tied: one
                          common centre), identical for statistics that are added
    log_likelihood : float  sum_i w_i log p(x_i) under the E-step model
    weight : float        sum_i w_i (the number of points when unweighted)
    """

    covariance_type: str
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray
    log_likelihood: float
    weight: float

    def __add__(self, other):
        if not isinstance(other, SufficientStats):
            return NotImplemented
        if other.covariance_type != self.covariance_type or other.s2.shape != self.s2.shape:
            raise ValueError("cannot add statistics of different covariance types or shapes")
        if not np.array_equal(other.shift, self.shift):
            raise ValueError("cannot add statistics taken under different models (their shifts differ)")
        return SufficientStats(
            self.covariance_type,
            self.nk + other.nk,
            self.s1 + other.s1,
            self.s2 + other.s2,
            self.shift,
            self.log_likelihood + other.log_likelihood,
            self.weight + other.weight,
        )

    @property
    def mean_log_likelihood(self):
        """Average log-likelihood per (weighted) point: scikit-learn's EM lower bound."""
        return self.log_likelihood / self.weight if self.weight > 0 else -np.inf


def _shift(means, weights, covariance_type):
    # float64, C-contiguous, writeable: the kernels' one argument type (fitted attributes may be float32)
    means = np.asarray(means, dtype=np.float64)
    if covariance_type == "tied":
        centre = np.asarray(weights, dtype=np.float64) @ means
        return np.array(np.broadcast_to(centre, means.shape), order="C")
    return np.array(means, order="C")


def _check_sample_weight(sample_weight, n):
    if sample_weight is None:
        return np.empty(0)
    w = as_float_array(sample_weight, name="sample_weight", ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} entries but X has {n} rows")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"sample_weight must be finite and >= 0; first offending row: {bad[0]}")
    if n and not w.sum() > 0:
        raise ValueError("sample_weight: every weight is zero; at least one row needs a positive weight")
    return w.astype(np.float64, copy=False)


