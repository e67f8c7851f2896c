"""Gaussian mixtures: the parameter container (and, with ``fit``, the estimator).

The class follows scikit-learn's ``GaussianMixture`` (constructor parameters, fitted attributes with
trailing underscores, ``score_samples``/``sample``), so it drops into code written for it. Build one from
known parameters with ``GaussianMixture.from_params``.
"""
import numbers



import numpy as np

from .. import _dispatch, _random
from .._registry import register
from .._staging import STAGE_ROWS, kernel_ready, staged_rows
from .._sklearn_compat import (ConvergenceWarning, EstimatorParams, check_em_numbers, check_feature_names,
                               not_fitted)
from .._validation import as_float_array, as_param, check_n_samples, output_array, raise_bad_row
from ..kernels.gaussian import mixture_log_density, transformed_mixture_log_density
from ..kernels.sampling import mixture_sample
from . import _covariance as cov

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


__all__ = ["GaussianMixture", "ConvergenceWarning", "INIT_PARAMS"]

@register
class GaussianMixture(EstimatorParams):
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
        device="cpu",
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
        self.device = device

    # ------------------------------------------------------------------ construction from parameters
    @classmethod
    def from_params(cls, weights, means, covariances, covariance_type="full", device="cpu"):
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
        model = cls(n_components=K, covariance_type=covariance_type, device=device)
        model._set_parameters(weights, means, covariances)
        return model

    def _set_parameters(self, weights, means, covariances=None, precisions_cholesky=None):
        """Validate and install parameters, and derive everything the kernels need (once, not per call).

        Give either covariances or precisions_cholesky (scikit-learn's shapes for the covariance type).
        """
        K, D = means.shape
        if np.any(weights < 0):
            k = int(np.argmax(weights < 0))
            raise ValueError(f"parameter 'weights' must be non-negative; weights[{k}] = {weights[k]}")
        total = weights.sum()
        if not abs(total - 1.0) <= 1e-6:
            raise ValueError(f"parameter 'weights' must sum to 1, got {total!r}")
        if precisions_cholesky is None:
            covariances = cov.validate_covariances(covariances, self.covariance_type, K, D)
            cov_chol, prec_chol = cov.cholesky_factors(covariances, self.covariance_type)
        else:
            prec_chol = precisions_cholesky
            cov_chol, _ = cov.cholesky_factors_from_precision_cholesky(prec_chol, self.covariance_type)
            covariances = cov.covariances_from_precision_cholesky(prec_chol, self.covariance_type)
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
        self._sampler_params = cov.GaussianSamplerParams(cum, means, cov.sampling_layout(cov_chol, self.covariance_type, D))

    def _check_fitted(self):
        if not hasattr(self, "weights_"):
            # scikit-learn's NotFittedError (a ValueError and AttributeError) when scikit-learn is loaded
            raise not_fitted(self)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "weights_")

    def __sklearn_tags__(self):
        from .._sklearn_compat import density_estimator_tags

        return density_estimator_tags(self)

    def _validate_data(self, X, *, reset):
        """X as a float32/float64 ndarray; records (reset) or checks scikit-learn's ``n_features_in_`` and
        ``feature_names_in_`` (DataFrames and Arrow tables carry names)."""
        check_feature_names(self, X, reset=reset)
        if reset:
            X = as_float_array(X)
            n, D = X.shape
            if n == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
            if D == 0:
                raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
            return X
        X = as_float_array(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return X

    # ------------------------------------------------------------------ scikit-learn parameter protocol
    _PARAM_NAMES = (
        "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init", "init_params",
        "weights_init", "means_init", "precisions_init", "random_state", "warm_start", "verbose",
        "verbose_interval", "device",
    )

    def _check_hyperparameters(self, n_samples, n_features):
        check_em_numbers(self)
        cov.check_covariance_type(self.covariance_type)
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"parameter 'init_params' must be one of {INIT_PARAMS}, got {self.init_params!r}")
        if n_samples < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}: use fewer components or more data"
            )
        K, D = self.n_components, n_features
        self._init_overrides = {}
        # scikit-learn's wording for the *_init parameters (its own test-suite matches it)
        if self.weights_init is not None:
            w = np.array(self.weights_init)
            # checked in the caller's precision (float32 weights sum to 1 in float32), used in float64
            w = w.astype(np.float64) if w.dtype not in (np.float32, np.float64) else w
            if w.shape != (K,):
                raise ValueError(f"The parameter 'weights' should have the shape of ({K},), but got {w.shape}")
            if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > 1):
                raise ValueError("The parameter 'weights' should be in the range [0, 1], but got max value "
                                 f"{np.min(w):.5f}, min value {np.max(w):.5f}")
            if not np.allclose(float(np.abs(1.0 - np.sum(w))), 0.0, atol=1e-6 if w.dtype == np.float32 else 1e-8):
                raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(w):.5f}")
            w = w.astype(np.float64)
            self._init_overrides["weights"] = w / w.sum()
        if self.means_init is not None:
            m = np.array(self.means_init, dtype=np.float64)
            if m.shape != (K, D):
                raise ValueError(f"The parameter 'means' should have the shape of ({K}, {D}), but got {m.shape}")
            self._init_overrides["means"] = as_param(m, "means_init")
        if self.precisions_init is not None:
            ct = self.covariance_type
            P = np.array(self.precisions_init, dtype=np.float64)
            shape = cov.covariance_shape(ct, K, D)
            if P.shape != shape:
                raise ValueError(f"The parameter '{ct} precision' should have the shape of {shape}, but got {P.shape}")
            as_param(P, "precisions_init")
            try:
                self._init_overrides["precisions_cholesky"] = cov.precision_cholesky_from_precisions(P, ct)
            except ValueError as exc:
                what = "positive" if ct in ("diag", "spherical") else "symmetric, positive-definite"
                raise ValueError(f"'{ct} precision' should be {what} ({exc})") from None

    # ------------------------------------------------------------------ estimation
    def _initial_statistics(self, X, sample_weight, key):
        """E-step statistics of the initial responsibilities for init_params "kmeans" (hard k-means labels) or
        "random" (uniform random responsibilities): one pass of the E-step kernel."""
        from ..estimation import em
        from ..estimation.kmeans import kmeans, lloyd_params
        from ..kernels import em as em_kernels

        K, D = self.n_components, X.shape[1]
        ct = self.covariance_type
        if self.init_params == "kmeans":
            centers = kmeans(X, K, sample_weight, key, dense=ct in ("full", "tied"))
            mode = em_kernels.HARD
        else:
            centers = np.broadcast_to(X.mean(axis=0, dtype=np.float64), (K, D)).copy()
            mode = em_kernels.RANDOM
        lloyd = lloyd_params(centers)
        if ct in ("full", "tied"):
            # a fresh C-contiguous writeable array: a broadcast view (read-only, zero strides) is another
            # Numba type, i.e. another compile of the E-step kernel
            lloyd = lloyd._replace(prec_chol=np.array(np.broadcast_to(np.eye(D), (1 if ct == "tied" else K, D, D)),
                                                      order="C"))
        shift = np.broadcast_to(centers.mean(axis=0), (K, D)).copy() if ct == "tied" else centers
        return em.statistics(X, sample_weight, lloyd, shift, ct, mode, key)

    def _initial_points(self, X, sample_weight, key):
        """Row indices of one starting point per component for init_params "k-means++" or "random_from_data"."""
        K = self.n_components
        if self.init_params == "k-means++":
            from ..estimation.kmeans import seeding_candidates
            from ..kernels.kmeans import kmeans_plusplus

            candidates, weights = seeding_candidates(X, sample_weight, None)
            return kmeans_plusplus(candidates, weights, K, np.uint64(key))
        return np.random.default_rng(int(key)).choice(X.shape[0], size=K, replace=False)

    def _initialize(self, X, sample_weight, key):
        """Initial (weights, means, covariances or precisions_cholesky) for one EM run."""
        from ..estimation import em

        K, D = self.n_components, X.shape[1]
        o = self._init_overrides
        if {"weights", "means", "precisions_cholesky"} <= set(o):
            return o["weights"], o["means"], None, o["precisions_cholesky"]
        ct = self.covariance_type
        if self.init_params in ("kmeans", "random"):
            stats = self._initial_statistics(X, sample_weight, key)
            weights, means, covariances = em.m_step(stats, ct, self.reg_covar)
        else:
            means = X[self._initial_points(X, sample_weight, key)].astype(np.float64)
            weights = np.full(K, 1.0 / K)
            # a single point per component: its scatter is 0, leaving the regularisation
            covariances = {
                "full": np.broadcast_to(self.reg_covar * np.eye(D), (K, D, D)).copy(),
                "tied": self.reg_covar * np.eye(D),
                "diag": np.full((K, D), self.reg_covar),
                "spherical": np.full(K, self.reg_covar),
            }[ct]
        weights = o.get("weights", weights)
        means = o.get("means", means)
        if "precisions_cholesky" in o:
            return weights, means, None, o["precisions_cholesky"]
        return weights, means, covariances, None

    def _install(self, weights, means, covariances=None, precisions_cholesky=None, where=""):
        try:
            self._set_parameters(weights, means, covariances, precisions_cholesky)
        except ValueError as exc:
            raise ValueError(
                "Fitting the mixture model failed because some components have ill-defined empirical covariance "
                "(for instance caused by singleton or collapsed samples). Try to decrease the number of "
                "components, increase reg_covar, or scale the input data. "
                f"(EM produced a degenerate component{where}: {exc}; reg_covar is {self.reg_covar}; standardise "
                "columns, drop constant or duplicated columns)"
            ) from None

    def fit(self, X, y=None, sample_weight=None):
        """Fit by EM: ``n_init`` runs of at most ``max_iter`` iterations, keeping the best lower bound.

        X: (n, D) float32/float64 (float32 stays float32; statistics accumulate in float64).
        sample_weight: optional (n,) non-negative weights (an extension over scikit-learn).
        Each iteration is ``m_step(e_step_stats(self, X))``: one fused pass over X, no n x K array.
        """
        self._fit(X, sample_weight)
        return self

    def _fit(self, X, sample_weight):
        from ..estimation import em

        device = _dispatch.resolve(self.device, X)
        if device == "cuda":
            # EM iterations run on the GPU over X (copied there once if it is a host array); the
            # initialisation runs on the host, on X itself or, for a GPU array, on its first 2**20 rows
            from ..cuda.api import _device_array

            X_iter, on_device = _device_array(X)
            X = X_iter[: min(X_iter.shape[0], 1 << 20)].copy_to_host() if on_device else as_float_array(X)
            n, D = X_iter.shape
        else:
            X = X_iter = self._validate_data(X, reset=True)
            n, D = X.shape
        self._check_hyperparameters(n, D)
        w = em._check_sample_weight(sample_weight, n)
        w_init = w[: X.shape[0]] if w.size else w
        self._run_em(X, w_init, lambda: em.e_step_stats(self, X_iter, w if w.size else None, device=device),
                     data=None if device == "cuda" else (X, w))
        self._cast_attributes(X.dtype)
        return X

    def _cast_attributes(self, dtype):
        """float32 data give float32 fitted attributes (as in scikit-learn); the kernels' parameters and all
        accumulation stay float64."""
        if dtype == np.float32:
            for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
                setattr(self, name, getattr(self, name).astype(np.float32))

    def _run_em(self, X_init, w_init, statistics, on_iteration=None, data=None):
        """``engine.em.run_em`` for this mixture, whatever computes the statistics: ``statistics()`` returns
        the E-step ``SufficientStats`` of all the data under the installed parameters (in memory, streamed,
        on a GPU); X_init/w_init feed the initialisation; ``data`` = (X, w) when all the data are in memory
        (unused here; the Bayesian mixture takes its default priors from them)."""
        from ..estimation import em
        from ..em import run_em, warn_not_converged

        warm = self.warm_start and hasattr(self, "converged_")
        result = run_em(
            initialize=lambda key: self._initialize(X_init, w_init, key),
            statistics=lambda params: statistics(),
            m_step=lambda stats: em.m_step(stats, self.covariance_type, self.reg_covar),
            install=lambda params, where: self._install(*params, where=where),
            base_key=_random.stream_key(self.random_state),
            n_init=self.n_init, max_iter=self.max_iter, tol=self.tol,
            start=(self.weights_, self.means_, self.covariances_) if warm else None,
            start_bound=self.lower_bound_ if warm else -np.inf,
            on_iteration=on_iteration, verbose=self.verbose, verbose_interval=self.verbose_interval,
        )
        self._install(*result.params)
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        if not result.converged and self.max_iter > 0:
            warn_not_converged(stacklevel=5)

    def fit_stream(self, batches, init_sample_size=1 << 18, on_iteration=None):
        """Exact out-of-core EM: every iteration is one pass over ``batches`` summing the E-step statistics.

        batches: a callable returning a fresh iterable of (m, D) arrays on each call, or a re-iterable
        (e.g. a list); each pass must yield the same rows. The initialisation (``init_params``) runs on a
        seeded uniform sample of at most ``init_sample_size`` rows taken in the first pass; with the same
        initial parameters the result equals ``fit`` on the concatenated data (up to summation order).
        on_iteration(init, iteration, lower_bound) is called after every pass.
        """
        from ..estimation import em
        from ..estimation.sampling import reservoir_sample

        if callable(batches):
            passes = batches
        else:
            if iter(batches) is batches:
                raise TypeError("fit_stream needs a callable returning batches, or a re-iterable; got a one-shot iterator")
            passes = lambda: batches  # noqa: E731
        sample, n, D = reservoir_sample(passes(), init_sample_size, self.random_state)
        if n == 0:
            raise ValueError("fit_stream got no rows")
        self._check_hyperparameters(n, D)

        def statistics():
            total = None
            for X in passes():
                if len(X) == 0:
                    continue
                s = em.e_step_stats(self, X)
                total = s if total is None else total + s
            return total

        self._run_em(sample, np.empty(0), statistics, on_iteration)
        self.init_sample_ = sample
        self.stream_rows_ = n
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row (consistent with fit(X).predict(X))."""
        self._fit(X, sample_weight)
        return self.predict(X)

    def log_density_and_responsibilities(self, X, out=None, resp_out=None):
        """(log p(x) (n,), responsibilities (n, K)) from one pass over X; ``out``/``resp_out``: caller-owned
        arrays of X's dtype to write into (see ``logpdf``)."""
        self._check_fitted()
        return self._log_density(self._validate_data(X, reset=False), responsibilities=True, out=out,
                                 resp_out=resp_out)

    def _log_density(self, X, responsibilities=False, program=None, outside="error", out=None, resp_out=None):
        """log p(x) (and the responsibilities) of a validated ndarray X, outputs in X's dtype; no feature-name
        check (for engine's own callers: the CLI, Dask, KL). X that is not float64, C-contiguous and writeable
        is staged through a float64 buffer, so the kernel has one compiled specialisation (see _staging).

        ``program`` (``engine.transforms.Program``): the mixture models T(x); the kernel applies T to each
        block it loads and adds log|det J_T| (``engine.Transformed``); ``outside`` is its domain policy."""
        n = X.shape[0]
        K = self.weights_.shape[0]
        out = output_array(out, (n,), X.dtype, inputs=(X,))
        resp = (output_array(resp_out, (n, K), X.dtype, name="resp_out", inputs=(X, out)) if responsibilities
                else np.empty((0, 1), dtype=X.dtype))
        kp = self._kernel_params
        if program is None:
            def kernel(rows, out_rows, resp_rows):
                return mixture_log_density(rows, kp.prec_chol, kp.shifted_means, kp.log_norm, out_rows, resp_rows)
        else:
            zero_density = outside == "zero-density"

            def kernel(rows, out_rows, resp_rows):
                return transformed_mixture_log_density(rows, kp.prec_chol, kp.shifted_means, kp.log_norm, out_rows,
                                                       resp_rows, program.codes, program.params, zero_density)

        def check(bad):
            if bad < 0:
                return
            if program is not None and np.all(np.isfinite(X[bad])):
                raise ValueError(f"X is outside the transform's domain: {program.describe_bad(X, bad)}")
            raise_bad_row(bad)

        if kernel_ready(X):
            check(kernel(X, out, resp))
        else:
            out64 = np.empty(min(n, STAGE_ROWS))
            resp64 = np.empty((len(out64), K) if responsibilities else (0, 1))
            for start, chunk in staged_rows(X, len(out64) or 1):
                m = chunk.shape[0]
                bad = kernel(chunk, out64[:m], resp64[:m] if responsibilities else resp64)
                if bad >= 0:
                    check(start + bad)
                out[start:start + m] = out64[:m]
                if responsibilities:
                    resp[start:start + m] = resp64[:m]
        return (out, resp) if responsibilities else out

    def predict_proba(self, X, out=None):
        """Responsibilities p(component k | x): (n, K), rows summing to 1 (the learned representation);
        ``out``: a caller-owned (n, K) array of X's dtype to write them into."""
        self._check_fitted()
        X = self._validate_data(X, reset=False)
        return self._log_density(X, responsibilities=True, resp_out=out)[1]

    def predict(self, X):
        """The most probable component of each row, (n,) int64."""
        return np.argmax(self.predict_proba(X), axis=1)

    def bic(self, X):
        """Bayesian information criterion: -2 log L + p log n (lower is better)."""
        return -2 * self._total_log_likelihood(X) + self.n_parameters * np.log(len(X))

    def aic(self, X):
        """Akaike information criterion: -2 log L + 2 p (lower is better)."""
        return -2 * self._total_log_likelihood(X) + 2 * self.n_parameters

    def _total_log_likelihood(self, X):
        """sum log p(x) over X (float64), validating X once."""
        self._check_fitted()
        return float(np.sum(self._log_density(self._validate_data(X, reset=False)), dtype=np.float64))

    # ------------------------------------------------------------------ density
    def logpdf(self, X, out=None):
        """log p(x) for each row of X: (n, D) float32/float64 -> (n,) of the same dtype.

        out: a caller-owned (n,) array of X's dtype to write into and return (a batch job scoring the same
        batch size thousands of times reuses one buffer instead of allocating and page-faulting a new one).
        On device="cuda" (or "auto" with a GPU), a GPU array in gives a GPU array out; ``out`` may then also be a
        GPU array (CuPy, PyTorch, Numba: written in place) or a NumPy array (filled by one copy from the GPU).
        """
        self._check_fitted()
        if _dispatch.resolve(self.device, X) == "cuda":
            from ..cuda import mixture_logpdf

            return mixture_logpdf(self, X, out=out)
        return self._log_density(self._validate_data(X, reset=False), out=out)

    def score_samples(self, X, out=None):
        """Alias of ``logpdf`` (scikit-learn's name): the weighted log-probability of each sample."""
        return self.logpdf(X, out=out)

    def score(self, X, y=None):
        """Mean log-likelihood of X (computed in float64)."""
        values = self.logpdf(X)
        if not isinstance(values, np.ndarray):  # a GPU array
            values = values.copy_to_host()
        return float(np.mean(values, dtype=np.float64))

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples=1, random_state=None, *, dtype=np.float64, out=None, labels_out=None):
        """Draw (X, labels): X (n_samples, D), labels (n_samples,) int64 drawn i.i.d. from the weights.

        ``random_state`` (None, int or numpy Generator; None falls back to the estimator's
        ``random_state``): the same seed gives bit-identical output at any thread count. ``out`` (n_samples,
        D) float32/float64 and ``labels_out`` (n_samples,) int64: caller-owned arrays to write into. On
        device="cuda" each may be a GPU array (written in place) or a NumPy array (filled by one copy from the
        GPU); without them the draws come back to the host as new arrays.
        """
        self._check_fitted()
        if isinstance(n_samples, numbers.Integral) and not isinstance(n_samples, (bool, np.bool_)) and n_samples < 1:
            # scikit-learn's wording (its tests match it); non-integers fall through to check_n_samples
            raise ValueError(f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample.")
        n = check_n_samples(n_samples)
        dtype = np.dtype(dtype if out is None else getattr(out, "dtype", dtype))
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        key = _random.stream_key(self.random_state if random_state is None else random_state)
        if _dispatch.resolve(self.device) == "cuda":
            from ..cuda import mixture_sample as cuda_sample

            return cuda_sample(self, n, key, dtype=dtype, out=out, labels_out=labels_out)
        X = output_array(out, (n, self.n_features_in_), dtype)
        labels = output_array(labels_out, (n,), np.int64, name="labels_out", inputs=(X,))
        if dtype == np.float64:
            sp = self._sampler_params
            mixture_sample(key, 0, sp.cum_weights, sp.means, sp.cov_chol_t, X, labels)
        else:
            # float32: the float64 kernel into a reused buffer, chunk by chunk (the stream's offset continues,
            # so the values are those of one float64 draw, rounded), instead of a second compiled sampler
            buffer = np.empty((min(n, STAGE_ROWS), self.n_features_in_))
            for start in range(0, n, STAGE_ROWS):
                m = min(STAGE_ROWS, n - start)
                sp = self._sampler_params
                mixture_sample(key, start, sp.cum_weights, sp.means, sp.cov_chol_t, buffer[:m], labels[start:start + m])
                X[start:start + m] = buffer[:m]
        return X, labels

    def _n_parameters(self):
        """scikit-learn's private name for ``n_parameters`` (its own tests call it)."""
        return self.n_parameters

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

    def save(self, path):
        """Write the model to ``path`` in engine's versioned, pickle-free format (see ``engine.load``)."""
        from ..io.model_file import save

        return save(self, path)

    # ------------------------------------------------------------------ model files (engine._registry)
    _RECORD_ATTRIBUTES = ("converged_", "n_iter_", "lower_bound_", "n_components", "tol", "reg_covar", "max_iter",
                          "n_init", "init_params", "random_state")
    _TRAINING_ARRAYS = ("logpdf_quantile_levels", "logpdf_quantiles")
    _feature_names_as_array = True

    def _model_record(self):
        self._check_fitted()
        arrays = {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_}
        header = {"covariance_type": self.covariance_type}
        for name in self._RECORD_ATTRIBUTES:
            value = getattr(self, name, None)
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or isinstance(value, (bool, int, float, str)):
                header[name] = value
        extra = getattr(self, "training_", None)
        if extra:
            # the training log-density quantiles travel as binary parameter columns (exact, and 5x smaller
            # than their JSON text); the rest of the training summary stays in the header
            extra = dict(extra)
            for name in self._TRAINING_ARRAYS:
                if name in extra:
                    arrays[f"training_{name}"] = np.asarray(extra.pop(name), dtype=np.float64)
            header["training_"] = extra
        return header, arrays

    @classmethod
    def _model_from_arrays(cls, header, arrays):
        return cls.from_params(arrays["weights"], arrays["means"], arrays["covariances"], header["covariance_type"])

    @classmethod
    def _from_model_record(cls, header, arrays):
        model = cls._model_from_arrays(header, arrays)
        for name, value in (header.get("attributes") or {}).items():
            if name in cls._RECORD_ATTRIBUTES:
                setattr(model, name, value)
            elif name == "training_":
                if not isinstance(value, dict):
                    raise ValueError("attribute 'training_' must be a mapping")
                value = dict(value)
                for key in cls._TRAINING_ARRAYS:
                    if f"training_{key}" in arrays:
                        value[key] = arrays[f"training_{key}"].tolist()
                model.training_ = value
        return model

    def __repr__(self):
        fitted = f", n_features={self.n_features_in_}" if hasattr(self, "weights_") else ""
        return (
            f"GaussianMixture(n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r}{fitted})"
        )
