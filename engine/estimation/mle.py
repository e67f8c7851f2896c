"""Closed-form Gaussian maximum likelihood from additive sufficient statistics.

The statistics of a data set are (n, mean, M2) with M2 = sum_i (x_i - mean)(x_i - mean)^T. Two sets merge
exactly with the pairwise update of Chan, Golub & LeVeque (1979):

    n = n_a + n_b,  delta = mean_b - mean_a,  mean = mean_a + delta n_b / n,
    M2 = M2_a + M2_b + delta delta^T n_a n_b / n,

which, unlike raw (n, sum x, sum x x^T), does not lose precision to cancellation when |mean| >> std. So
statistics of batches (streamed files, Dask partitions) add with ``+`` to those of the whole, and the MLE
is mean = mean, covariance = M2 / n (the seed's formulas, numpy.cov(bias=True)).
"""
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, raise_bad_row
from ..kernels.moments import partial_moments
from ..models import MultivariateNormal, Normal
from ..models._covariance import check_covariance_type


@dataclass(frozen=True)
class GaussianStats:
    """Sufficient statistics of a Gaussian sample.

    n : number of points; mean : (D,); m2 : (D, D) centred scatter matrix, or (D,) its diagonal when the
    statistics were taken with ``full=False``.
    """

    n: float
    mean: np.ndarray
    m2: np.ndarray

    @property
    def full(self):
        return self.m2.ndim == 2

    def __add__(self, other):
        if not isinstance(other, GaussianStats):
            return NotImplemented
        if self.mean.shape != other.mean.shape:
            raise ValueError(f"cannot add statistics of dimension {self.mean.shape} and {other.mean.shape}")
        if self.full != other.full:
            raise ValueError("cannot add full and diagonal statistics")
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        f = self.n * other.n / n
        corr = np.outer(delta, delta) * f if self.full else delta * delta * f
        return GaussianStats(n, mean, self.m2 + other.m2 + corr)

    def covariance(self, covariance_type="full"):
        """The MLE covariance: (D, D) full, (D,) diag, or a scalar spherical variance."""
        if self.n <= 0:
            raise ValueError("cannot estimate a covariance from 0 samples")
        if covariance_type == "full":
            if not self.full:
                raise ValueError("full covariance needs statistics taken with full=True")
            return self.m2 / self.n
        diag = (np.diag(self.m2) if self.full else self.m2) / self.n
        return diag if covariance_type == "diag" else float(diag.mean())


def gaussian_stats(X, full=True):
    """Sufficient statistics of X (n, D) (or (n,) for one variable), computed in one parallel pass."""
    X = as_float_array(X, ndim=np.ndim(X) if np.ndim(X) in (1, 2) else 2)
    if X.ndim == 1:
        X = X[:, None]
    D = X.shape[1]
    if X.shape[0] == 0:
        return GaussianStats(0.0, np.zeros(D), np.zeros((D, D) if full else D))
    counts, means, m2, bad = partial_moments(X, full)
    raise_bad_row(bad)
    total = GaussianStats(0.0, np.zeros(D), np.zeros((D, D) if full else D))
    for c, mu, s in zip(counts, means, m2):
        total = total + GaussianStats(float(c), mu, s if full else s[0])
    return total


def fit_mle(X, family="mvn", covariance_type="full"):
    """Maximum-likelihood Gaussian for X.

    family="normal": X (n,) or (n, 1) -> ``Normal(mean, sqrt(M2 / n))``.
    family="mvn": X (n, D) -> ``MultivariateNormal(mean, M2 / n)`` with covariance_type "full", "diag"
    or "spherical" (the MLE within that family: diagonal of M2 / n, or its average).
    Accepts a ``GaussianStats`` instead of X (e.g. the sum of statistics of batches).
    """
    if family not in ("normal", "mvn"):
        raise ValueError(f"family must be 'normal' or 'mvn', got {family!r}")
    if family == "mvn":
        check_covariance_type(covariance_type, allowed=("full", "diag", "spherical"))
    if isinstance(X, GaussianStats):
        stats = X
    else:
        if family == "normal":
            X = np.asarray(X)
            if X.ndim == 2 and X.shape[1] == 1:
                X = X[:, 0]
            X = as_float_array(X, ndim=1)
        else:
            X = as_float_array(X)
        stats = gaussian_stats(X, full=(family == "mvn" and covariance_type == "full"))
    if stats.n < 2:
        raise ValueError(f"maximum likelihood needs at least 2 samples, got {int(stats.n)}")
    if family == "normal":
        if stats.mean.shape[0] != 1:
            raise ValueError(f"family='normal' needs one variable, got {stats.mean.shape[0]}")
        var = stats.covariance("diag")[0]
        if not var > 0:
            raise ValueError("X is constant: the MLE scale is 0, which is not a valid Normal")
        return Normal(stats.mean[0], np.sqrt(var))
    try:
        return MultivariateNormal(stats.mean, stats.covariance(covariance_type), covariance_type)
    except ValueError as exc:
        raise ValueError(
            f"the MLE covariance is singular ({exc}); X has a constant column, collinear columns or "
            "fewer samples than features"
        ) from None
