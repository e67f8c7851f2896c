"""Gaussian mixtures: the parameter container (and, with ``fit``, the estimator).

The class follows scikit-learn's ``GaussianMixture`` (constructor parameters, fitted attributes with
trailing underscores, ``score_samples``/``sample``), so it drops into code written for it. Build one from
known parameters with ``GaussianMixture.from_params``.
"""
import numpy as np

from .. import _random
from .._validation import as_float_array, as_param, check_n_samples, raise_bad_row
from ..kernels.gaussian import mixture_log_density
from ..kernels.sampling import mixture_sample
from . import _covariance as cov


class GaussianMixture:
    """Gaussian mixture model  p(x) = sum_k w_k N(x | mean_k, cov_k).

    Parameters follow ``sklearn.mixture.GaussianMixture``. Fitted (or ``from_params``) attributes:

    weights_ : (K,)            mixture weights, non-negative, summing to 1
    means_ : (K, D)            component means
    covariances_ :             (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical
    precisions_cholesky_ :     same shapes; U with precision = U U^T (upper triangular for full/tied)
    precisions_ :              same shapes; the inverse covariances
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------------ construction from parameters
    @classmethod
    def from_params(cls, weights, means, covariances, covariance_type="full"):
        """A mixture with the given parameters (shapes as scikit-learn's fitted attributes).

        weights: (K,) non-negative, summing to 1 (within 1e-6; renormalised exactly);
        means: (K, D); covariances: see the class docstring for each ``covariance_type``.
        """
        cov.check_covariance_type(covariance_type)
        weights = as_param(weights, "weights")
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError(f"parameter 'weights' must be a non-empty 1-D array, got shape {weights.shape}")
        K = weights.shape[0]
        means = as_param(means, "means")
        if means.ndim != 2 or means.shape[0] != K:
            raise ValueError(
                f"parameter 'means' must have shape (n_components={K}, n_features), got {means.shape}"
            )
        model = cls(n_components=K, covariance_type=covariance_type)
        model._set_parameters(weights, means, covariances)
        return model

    def _set_parameters(self, weights, means, covariances):
        """Validate and install parameters, and derive everything the kernels need (once, not per call)."""
        K, D = means.shape
        if np.any(weights < 0):
            k = int(np.argmax(weights < 0))
            raise ValueError(f"parameter 'weights' must be non-negative; weights[{k}] = {weights[k]}")
        total = weights.sum()
        if not abs(total - 1.0) <= 1e-6:
            raise ValueError(f"parameter 'weights' must sum to 1, got {total!r}")
        covariances = cov.validate_covariances(covariances, self.covariance_type, K, D)
        cov_chol, prec_chol = cov.cholesky_factors(covariances, self.covariance_type)
        self.weights_ = weights / total
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = cov.precisions(prec_chol, self.covariance_type)
        self.n_features_in_ = D
        with np.errstate(divide="ignore"):  # zero weights are allowed: log 0 = -inf
            log_w = np.log(self.weights_)
        self._kernel_params = cov.kernel_params(log_w, means, prec_chol, self.covariance_type)
        cum = np.cumsum(self.weights_)
        cum[-1] = 1.0
        self._sampler_params = (cum, means, cov.sampling_layout(cov_chol, self.covariance_type, D))

    def _check_fitted(self):
        if not hasattr(self, "weights_"):
            raise ValueError(
                "this GaussianMixture has no parameters yet: call fit(X) or build it with from_params(...)"
            )

    # ------------------------------------------------------------------ density
    def logpdf(self, X):
        """log p(x) for each row of X: (n, D) float32/float64 -> (n,) of the same dtype."""
        self._check_fitted()
        X = as_float_array(X, n_features=self.n_features_in_)
        out = np.empty(X.shape[0], dtype=X.dtype)
        raise_bad_row(mixture_log_density(X, *self._kernel_params, out))
        return out

    def score_samples(self, X):
        """Alias of ``logpdf`` (scikit-learn's name): the weighted log-probability of each sample."""
        return self.logpdf(X)

    def score(self, X, y=None):
        """Mean log-likelihood of X (computed in float64)."""
        return float(np.mean(self.logpdf(X), dtype=np.float64))

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples=1, random_state=None, *, dtype=np.float64):
        """Draw (X, labels): X (n_samples, D), labels (n_samples,) int64 drawn i.i.d. from the weights.

        ``random_state`` (None, int or numpy Generator; None falls back to the estimator's
        ``random_state``): the same seed gives bit-identical output at any thread count.
        """
        self._check_fitted()
        n = check_n_samples(n_samples)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        key = _random.stream_key(self.random_state if random_state is None else random_state)
        X = np.empty((n, self.n_features_in_), dtype=dtype)
        labels = np.empty(n, dtype=np.int64)
        mixture_sample(key, 0, *self._sampler_params, X, labels)
        return X, labels

    @property
    def n_parameters(self):
        """Number of free parameters (as in scikit-learn's BIC)."""
        self._check_fitted()
        K, D = self.means_.shape
        cov_params = {
            "full": K * D * (D + 1) / 2.0,
            "tied": D * (D + 1) / 2.0,
            "diag": K * D,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + K * D + K - 1)

    def __repr__(self):
        fitted = f", n_features={self.n_features_in_}" if hasattr(self, "weights_") else ""
        return (
            f"GaussianMixture(n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r}{fitted})"
        )
