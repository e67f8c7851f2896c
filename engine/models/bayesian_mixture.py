"""Variational Bayesian Gaussian mixtures: ``engine.BayesianGaussianMixture``, on the sufficient-statistics seam.

The model (Bishop, PRML §10.2; scikit-learn's ``BayesianGaussianMixture``): weights with a Dirichlet (or a
stick-breaking Dirichlet-process) prior, each component's mean and precision with a Gaussian-Wishart prior,
and a factorised posterior q(z) q(pi) q(mu, Lambda) found by coordinate ascent on the evidence lower bound.

Why it costs no new kernel:

* **E-step.** log rho_ik = E[log pi_k] + 1/2 E[log|Lambda_k|] - D/2 log 2 pi - 1/2 E[(x-mu_k)^T Lambda_k (x-mu_k)]
  is a Gaussian log-density in x with precision U U^T (U from ``covariances_`` = W_k^-1 / nu_k) and the
  per-component constant E[log pi_k] - D/2 log nu_k + 1/2 (E-log-det term - D / beta_k) in place of log w_k.
  So the fused E-step kernel of ``GaussianMixture`` computes the variational statistics (n_k, s1_k, s2_k,
  sum_i log sum_k rho_ik) unchanged, and with it streamed Parquet, Dask and CUDA fits.
* **The ELBO's entropy term** sum_i r_ik log r_ik needs no n x K array either: with q_ik the quadratic form,
  sum_i r_ik log r_ik = sum_k n_k c_k - 1/2 sum_k Q_k - sum_i lse_i, where Q_k = sum_i r_ik q_ik = <s2_k, U_k U_k^T>
  is read off the same statistics (``entropy_sum``).
* **M-step.** The Gaussian-Wishart and Dirichlet updates consume (n_k, x_k, S_k): the maximum-likelihood
  M-step's outputs (``engine.estimation.em.m_step``, with scikit-learn's 10 eps and ``reg_covar``).

Every formula, including the constants scikit-learn drops from its lower bound, is scikit-learn's
(``sklearn/mixture/_bayesian_mixture.py``), so from the same start the ELBO trajectory, ``n_iter_`` and
the parameters agree to rounding. ``score_samples``/``predict_proba`` are, as in scikit-learn, the log-sum-exp
of the variational terms log rho_ik (not the plug-in mixture density); ``sample`` draws from the plug-in
mixture (``weights_``, ``means_``, ``covariances_``).
"""
import math
from typing import NamedTuple

import numpy as np

from .. import _random
from .._registry import register
from .._validation import as_float_array, as_param
from ..estimation.em_stats import _EPS_MASS, SufficientStats
from . import _covariance as cov
from .mixture import INIT_PARAMS, GaussianMixture

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")

__all__ = ["BayesianGaussianMixture", "VariationalPriors", "VariationalParams", "variational_m_step",
           "variational_lower_bound", "entropy_sum", "digamma", "PRIOR_TYPES"]


# ----------------------------------------------------------------------------------------- special functions
def digamma(x):
    """psi(x) for x > 0 (array), from engine's log(x) - psi(x) (recurrence to x >= 8, then the asymptotic
    series; about 1e-15 relative): scipy is a test oracle, not a runtime dependency."""
    from ..families.student_t import log_minus_digamma

    x = np.asarray(x, dtype=np.float64)
    return np.log(x) - np.vectorize(log_minus_digamma, otypes=[np.float64])(x)


_gammaln = np.vectorize(math.lgamma, otypes=[np.float64])


def _betaln(a, b):
    return _gammaln(a) + _gammaln(b) - _gammaln(a + b)


# ----------------------------------------------------------------------------------------------- the state
class VariationalPriors(NamedTuple):
    """The prior's hyperparameters (scikit-learn's ``*_prior_`` attributes)."""

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray               # (D,)
    degrees_of_freedom: float
    covariance: object             # (D, D) full/tied, (D,) diag, float spherical


class VariationalParams(NamedTuple):
    """The variational posterior (scikit-learn's fitted attributes) and what the E-step kernel takes.

    weight_concentration : (K,) Dirichlet parameters, or a pair ((K,), (K,)) of Beta parameters (dirichlet_process)
    mean_precision : (K,)           beta_k
    means : (K, D)                  m_k
    degrees_of_freedom : (K,)       nu_k (tied: a float)
    covariances :                   W_k^-1 / nu_k in scikit-learn's shapes for the covariance type
    precisions_cholesky :           U with U U^T = covariances^-1
    covariances_cholesky :          the covariances' lower factors (standard deviations for diag/spherical)
    kernel : GaussianKernelParams   U, m U and log_norm with the variational constants folded in
    """

    weight_concentration: object
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: object
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariances_cholesky: np.ndarray
    kernel: cov.GaussianKernelParams


def expected_log_weights(weight_concentration, prior_type):
    """E_q[log pi_k], (K,)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0.0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def weights_from_concentration(weight_concentration, prior_type):
    """E_q[pi_k] (scikit-learn's ``weights_``), normalised."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


def _expected_log_det(degrees_of_freedom, n_features):
    """E[log|Lambda_k|] less log|W_k|: D log 2 + sum_d psi((nu_k - d) / 2), (K,) (tied: (1,))."""
    nu = np.atleast_1d(np.asarray(degrees_of_freedom, dtype=np.float64))
    return n_features * math.log(2.0) + np.sum(digamma(0.5 * (nu[None, :] - np.arange(n_features)[:, None])), axis=0)


def _log_wishart_norm(degrees_of_freedom, log_det_precisions_chol, n_features):
    """log B(W, nu) of each component's Wishart without the log pi term (as scikit-learn)."""
    nu = np.atleast_1d(np.asarray(degrees_of_freedom, dtype=np.float64))
    return -(nu * log_det_precisions_chol + nu * n_features * 0.5 * math.log(2.0)
             + np.sum(_gammaln(0.5 * (nu[None, :] - np.arange(n_features)[:, None])), axis=0))


def _build(weight_concentration, mean_precision, means, degrees_of_freedom, covariances, covariance_type,
           prior_type):
    """VariationalParams from the posterior's parameters: Cholesky factors (raising ValueError for a covariance
    that is not positive definite) and the E-step kernel's parameters."""
    D = means.shape[1]
    cov_chol, prec_chol = cov.cholesky_factors(covariances, covariance_type)
    log_constant = (expected_log_weights(weight_concentration, prior_type)
                    - 0.5 * D * np.log(degrees_of_freedom)
                    + 0.5 * (_expected_log_det(degrees_of_freedom, D) - D / mean_precision))
    kernel = cov.kernel_params(log_constant, means, prec_chol, covariance_type)
    return VariationalParams(weight_concentration, mean_precision, means, degrees_of_freedom, covariances, prec_chol,
                             cov_chol, kernel)


# ------------------------------------------------------------------------------------------------ updates
def variational_m_step(stats, priors, covariance_type, reg_covar, prior_type):
    """The variational M-step: q(pi) and q(mu, Lambda) from E-step statistics (``SufficientStats``).

    (n_k, x_k, S_k) are the maximum-likelihood M-step's (scikit-learn's ``_estimate_gaussian_parameters``:
    10 eps added to n_k, ``reg_covar`` to S_k); the updates are Bishop's (10.58)-(10.63) with scikit-learn's
    normalisation of the covariances by nu_k.
    """
    from ..estimation.em import m_step

    _, xk, sk = m_step(stats, covariance_type, reg_covar)
    nk = stats.nk + _EPS_MASS
    K, D = xk.shape
    if prior_type == "dirichlet_process":
        weight_concentration = (1.0 + nk,
                                priors.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0)))
    else:
        weight_concentration = priors.weight_concentration + nk
    beta0 = priors.mean_precision
    mean_precision = beta0 + nk
    means = (beta0 * priors.mean + nk[:, None] * xk) / mean_precision[:, None]
    diff = xk - priors.mean
    if covariance_type == "full":
        dof = priors.degrees_of_freedom + nk
        covariances = (priors.covariance + nk[:, None, None] * sk
                       + (nk * beta0 / mean_precision)[:, None, None] * diff[:, :, None] * diff[:, None, :])
        covariances /= dof[:, None, None]
    elif covariance_type == "tied":
        dof = priors.degrees_of_freedom + nk.sum() / K
        covariances = (priors.covariance + sk * nk.sum() / K
                       + beta0 / K * np.dot((nk / mean_precision) * diff.T, diff)) / dof
    elif covariance_type == "diag":
        dof = priors.degrees_of_freedom + nk
        covariances = priors.covariance + nk[:, None] * (sk + (beta0 / mean_precision)[:, None] * np.square(diff))
        covariances /= dof[:, None]
    else:
        dof = priors.degrees_of_freedom + nk
        covariances = priors.covariance + nk * (sk + beta0 / mean_precision * np.mean(np.square(diff), 1))
        covariances /= dof
    return _build(weight_concentration, mean_precision, means, dof, covariances, covariance_type, prior_type)


def entropy_sum(stats, params):
    """sum_i w_i sum_k r_ik log r_ik of the E-step that produced ``stats`` under ``params``, from the statistics.

    log r_ik = c_k - q_ik / 2 - lse_i with q_ik = ||(x_i - m_k) U_k||^2, so the sum is
    sum_k n_k c_k - 1/2 sum_k <S_k, U_k U_k^T> - sum_i w_i lse_i, S_k the scatter about m_k (for tied, shifted
    from the common centre the statistics are taken about).
    """
    U = params.kernel.prec_chol
    if U.ndim == 2:  # diag / spherical: (K, D) in kernel layout, S_k its diagonal about m_k
        quadratic = np.sum(stats.s2 * U * U)
    elif stats.s2.ndim == 3:  # full: S_k about m_k
        quadratic = np.sum(stats.s2 * (U @ np.swapaxes(U, -1, -2)))
    else:  # tied: one scatter about the common centre c; S = sum_k sum_i r_ik (y_i - d_k)(y_i - d_k)^T, y = x - c
        d = params.means - stats.shift
        scatter = stats.s2 - stats.s1.T @ d - d.T @ stats.s1 + (stats.nk[:, None] * d).T @ d
        quadratic = np.sum(scatter * (U[0] @ U[0].T))
    return float(stats.nk @ params.kernel.log_norm - 0.5 * quadratic - stats.log_likelihood)


def variational_lower_bound(stats, before, after, covariance_type, prior_type):
    """scikit-learn's lower bound (the ELBO less constants): -sum r log r under the E-step's ``before`` and the
    Wishart, Dirichlet (or Beta) and mean-precision normalisers of the updated ``after``."""
    K, D = after.means.shape
    log_det = (cov.log_det_precision_cholesky(after.precisions_cholesky, covariance_type, D)
               - 0.5 * D * np.log(after.degrees_of_freedom))
    log_wishart = _log_wishart_norm(after.degrees_of_freedom, log_det, D)
    log_wishart = K * float(log_wishart[0]) if covariance_type == "tied" else float(np.sum(log_wishart))
    if prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(_betaln(*after.weight_concentration)))
    else:
        wc = after.weight_concentration
        log_norm_weight = math.lgamma(float(np.sum(wc))) - float(np.sum(_gammaln(wc)))
    return (-entropy_sum(stats, before) - log_wishart - log_norm_weight
            - 0.5 * D * float(np.sum(np.log(after.mean_precision))))


def _one_point_statistics(points, covariance_type):
    """Statistics of responsibilities that give each component one point (k-means++, random_from_data)."""
    K, D = points.shape
    if covariance_type == "tied":
        shift = np.array(np.broadcast_to(points.mean(axis=0), (K, D)), order="C")
        y = points - shift
        s2 = y.T @ y
    else:
        shift = points
        s2 = np.zeros((K, D, D)) if covariance_type == "full" else np.zeros((K, D))
    return SufficientStats(covariance_type, np.ones(K), points - shift, s2, shift, 0.0, float(K))


# ---------------------------------------------------------------------------------------------- estimator
@register
class BayesianGaussianMixture(GaussianMixture):
    """Variational Bayesian Gaussian mixture: a drop-in for ``sklearn.mixture.BayesianGaussianMixture``.

    Same constructor, fitted attributes (``weights_``, ``weight_concentration_``, ``mean_precision_``,
    ``means_``, ``degrees_of_freedom_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``,
    ``converged_``, ``n_iter_``, ``lower_bound_``, ``n_features_in_`` and the ``*_prior_`` hyperparameters)
    and methods, plus ``sample_weight`` (per-row weights, as repeated rows), ``fit_stream``, ``engine.dask.fit``,
    ``device="cuda"`` and model files. Each iteration is one fused pass over X (no n x K array).
    """

    # GaussianMixture's initial-parameter overrides do not exist here (as in scikit-learn)
    weights_init = means_init = precisions_init = None
    #: a variational posterior is fitted, not given (the not-fitted error offers no ``from_params``)
    from_params = None

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100,
                 n_init=1, init_params="kmeans", weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, device="cpu"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device

    _PARAM_NAMES = (
        "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init", "init_params",
        "weight_concentration_prior_type", "weight_concentration_prior", "mean_precision_prior", "mean_prior",
        "degrees_of_freedom_prior", "covariance_prior", "random_state", "warm_start", "verbose", "verbose_interval",
        "device",
    )

    # ------------------------------------------------------------------ hyperparameters and priors
    def _check_hyperparameters(self, n_samples, n_features):
        from .._sklearn_compat import check_em_numbers

        check_em_numbers(self)
        cov.check_covariance_type(self.covariance_type)
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"parameter 'init_params' must be one of {INIT_PARAMS}, got {self.init_params!r}")
        if self.weight_concentration_prior_type not in PRIOR_TYPES:
            raise ValueError(f"parameter 'weight_concentration_prior_type' must be one of {PRIOR_TYPES}, got "
                             f"{self.weight_concentration_prior_type!r}")
        for name in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
                                      or not np.isfinite(value) or not value > 0):
                raise ValueError(f"parameter {name!r} must be a finite number > 0 or None, got {value!r}")
        if n_samples < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}: use fewer components or more data"
            )
        D = n_features
        if self.degrees_of_freedom_prior is not None and not self.degrees_of_freedom_prior > D - 1.0:
            raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater than %d, but got %.3f."
                             % (D - 1, self.degrees_of_freedom_prior))
        if self.mean_prior is not None:
            mean = np.asarray(self.mean_prior, dtype=np.float64)
            if mean.shape != (D,):
                raise ValueError(f"The parameter 'means' should have the shape of ({D},), but got {mean.shape}")
            as_param(mean, "mean_prior")
        if self.covariance_prior is not None:
            ct = self.covariance_type
            shape = {"full": (D, D), "tied": (D, D), "diag": (D,), "spherical": ()}[ct]
            prior = np.asarray(self.covariance_prior, dtype=np.float64)
            if prior.shape != shape:
                raise ValueError(f"The parameter '{ct} covariance_prior' should have the shape of {shape}, but got "
                                 f"{prior.shape}")
            as_param(prior, "covariance_prior")
            try:
                cov.cholesky_factors(prior if ct in ("full", "tied", "diag") else prior[None],
                                     "tied" if ct in ("full", "tied") else "diag", name="covariance_prior")
            except ValueError as exc:
                raise ValueError(f"'{ct} covariance_prior' should be "
                                 f"{'positive' if ct in ('diag', 'spherical') else 'symmetric, positive-definite'} "
                                 f"({exc})") from None
        self._init_overrides = {}

    def _needs_data_moments(self):
        return self.mean_prior is None or self.covariance_prior is None

    def _set_priors(self, moments):
        """Install the prior (scikit-learn's ``*_prior_`` attributes); ``moments`` = (mean (D,), covariance in
        the covariance type's shape, unbiased) of the data supply the defaults."""
        ct = self.covariance_type
        mean, covariance = moments if moments is not None else (None, None)
        self.weight_concentration_prior_ = (1.0 / self.n_components if self.weight_concentration_prior is None
                                            else float(self.weight_concentration_prior))
        self.mean_precision_prior_ = 1.0 if self.mean_precision_prior is None else float(self.mean_precision_prior)
        self.mean_prior_ = mean if self.mean_prior is None else np.asarray(self.mean_prior, dtype=np.float64)
        D = self.mean_prior_.shape[0]
        self.degrees_of_freedom_prior_ = (float(D) if self.degrees_of_freedom_prior is None
                                          else float(self.degrees_of_freedom_prior))
        if self.covariance_prior is None:
            self.covariance_prior_ = covariance
        else:
            self.covariance_prior_ = (float(self.covariance_prior) if ct == "spherical"
                                      else np.asarray(self.covariance_prior, dtype=np.float64))
        self._priors = VariationalPriors(self.weight_concentration_prior_, self.mean_precision_prior_,
                                         self.mean_prior_, self.degrees_of_freedom_prior_, self.covariance_prior_)

    def _check_total_weight(self, total):
        if not total > 1.0:
            raise ValueError(f"the default covariance_prior is the data's unbiased covariance, which needs a total "
                             f"weight above 1 (sample weights count as repeated rows; got {total:g}): give "
                             "covariance_prior and mean_prior, or weights that count rows")

    def _moments_of(self, X, w):
        """(mean, unbiased covariance in the covariance type's shape) of an in-memory X (weights as repeats)."""
        ct = self.covariance_type
        self._check_total_weight(float(w.sum()) if w.size else float(X.shape[0]))
        if w.size:
            total = w.sum()
            mean = (w @ X) / total
            y = X - mean
            if ct in ("full", "tied"):
                scatter = np.atleast_2d((y * w[:, None]).T @ y)
            else:
                scatter = w @ (y * y)
            covariance = scatter / (total - 1.0)
        else:
            mean = X.mean(axis=0, dtype=np.float64)
            covariance = np.atleast_2d(np.cov(X.T)) if ct in ("full", "tied") else np.var(X, axis=0, ddof=1,
                                                                                             dtype=np.float64)
        return mean, (float(np.mean(covariance)) if ct == "spherical" else covariance)

    def _moments_from_pass(self, statistics, sample):
        """The data's moments from one pass of ``statistics()`` under a one-component model (every r_i1 = 1), so
        streamed, Dask and GPU fits get the default priors from the same statistics they fit with."""
        ct = self.covariance_type
        D = sample.shape[1]
        centre = sample.mean(axis=0, dtype=np.float64)[None] if sample.shape[0] else np.zeros((1, D))
        identity = {"full": np.eye(D)[None], "tied": np.eye(D), "diag": np.ones((1, D)), "spherical": np.ones(1)}[ct]
        GaussianMixture._set_parameters(self, np.ones(1), centre, identity)
        s = statistics()
        total = float(s.nk[0])
        self._check_total_weight(total)
        d = s.s1[0] / total
        mean = s.shift[0] + d
        if ct in ("full", "tied"):
            scatter = (s.s2[0] if ct == "full" else s.s2) - total * np.outer(d, d)
        else:
            scatter = s.s2[0] - total * d * d
        covariance = scatter / (total - 1.0)
        return mean, (float(np.mean(covariance)) if ct == "spherical" else covariance)

    # scikit-learn's private steps, which its own tests call
    def _check_parameters(self, X, xp=None):
        X = as_float_array(X)
        self._check_hyperparameters(*X.shape)
        self._set_priors(self._moments_of(X, np.empty(0)) if self._needs_data_moments() else None)

    def _initialize_parameters(self, X, random_state):
        X = as_float_array(X)
        self._install_variational(self._initial_params(X, np.empty(0), _random.stream_key(random_state)))

    # ------------------------------------------------------------------ estimation
    def _initial_params(self, X, sample_weight, key):
        """The posterior after one M-step from the initial responsibilities (as scikit-learn's ``_initialize``)."""
        if self.init_params in ("kmeans", "random"):
            stats = self._initial_statistics(X, sample_weight, key)
        else:
            points = np.asarray(X[self._initial_points(X, sample_weight, key)], dtype=np.float64)
            stats = _one_point_statistics(points, self.covariance_type)
        return self._update(stats)

    def _update(self, stats):
        try:
            return variational_m_step(stats, self._priors, self.covariance_type, self.reg_covar,
                                      self.weight_concentration_prior_type)
        except ValueError as exc:
            raise ValueError(
                "Fitting the mixture model failed because some components have ill-defined empirical covariance "
                "(for instance caused by singleton or collapsed samples). Try to decrease the number of "
                f"components, increase reg_covar, or scale the input data. ({exc}; reg_covar is {self.reg_covar})"
            ) from None

    def _install_variational(self, params):
        ct = self.covariance_type
        K, D = params.means.shape
        self._variational = params
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.means_ = params.means
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = cov.precisions(params.precisions_cholesky, ct)
        self.weights_ = weights_from_concentration(params.weight_concentration, self.weight_concentration_prior_type)
        self.n_features_in_ = D
        self._kernel_params = params.kernel
        cum = np.cumsum(self.weights_)
        cum[-1] = 1.0
        self._sampler_params = cov.GaussianSamplerParams(cum, params.means,
                                                         cov.sampling_layout(params.covariances_cholesky, ct, D))

    def _run_em(self, X_init, w_init, statistics, on_iteration=None, data=None):
        """``engine.em.run_em`` with the variational M-step and lower bound, whatever computes the statistics.
        ``data`` = (X, w): the whole in-memory data set, for the default priors; without it (streamed, Dask,
        GPU) the defaults take one extra pass of ``statistics()``."""
        from ..em import run_em, warn_not_converged

        warm = self.warm_start and hasattr(self, "converged_") and hasattr(self, "_variational")
        start = self._variational if warm else None
        if not self._needs_data_moments():
            moments = None
        elif data is not None:
            moments = self._moments_of(*data)
        else:
            moments = self._moments_from_pass(statistics, X_init)
        self._set_priors(moments)
        if warm:
            self._install_variational(start)
        ct, prior_type = self.covariance_type, self.weight_concentration_prior_type
        result = run_em(
            initialize=lambda key: self._initial_params(X_init, w_init, key),
            statistics=lambda params: statistics(),
            m_step=self._update,
            lower_bound=lambda stats, before, after: variational_lower_bound(stats, before, after, ct, prior_type),
            install=lambda params, where: self._install_variational(params),
            base_key=_random.stream_key(self.random_state),
            n_init=self.n_init, max_iter=self.max_iter, tol=self.tol,
            start=start, start_bound=self.lower_bound_ if warm else -np.inf,
            on_iteration=on_iteration, verbose=self.verbose, verbose_interval=self.verbose_interval,
        )
        self._install_variational(result.params)
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        if not result.converged and self.max_iter > 0:
            warn_not_converged(stacklevel=5)

    # ------------------------------------------------------------------ what a variational fit does not have
    @property
    def bic(self):
        raise AttributeError("BayesianGaussianMixture has no bic (a maximum-likelihood criterion); its model "
                             "comparison criterion is lower_bound_")

    @property
    def aic(self):
        raise AttributeError("BayesianGaussianMixture has no aic (a maximum-likelihood criterion); its model "
                             "comparison criterion is lower_bound_")

    # ------------------------------------------------------------------ model files
    _RECORD_ATTRIBUTES = GaussianMixture._RECORD_ATTRIBUTES + (
        "weight_concentration_prior_type", "weight_concentration_prior_", "mean_precision_prior_",
        "degrees_of_freedom_prior_")

    def _model_record(self):
        header, arrays = super()._model_record()
        header["weight_concentration_prior_type"] = self.weight_concentration_prior_type
        p = self._variational
        arrays.update({
            "weight_concentration": np.asarray(p.weight_concentration, dtype=np.float64),
            "mean_precision": p.mean_precision,
            "degrees_of_freedom": np.atleast_1d(np.asarray(p.degrees_of_freedom, dtype=np.float64)),
            "mean_prior": self.mean_prior_,
            "covariance_prior": np.atleast_1d(np.asarray(self.covariance_prior_, dtype=np.float64)),
        })
        return header, arrays

    @classmethod
    def _model_from_arrays(cls, header, arrays):
        attributes = header.get("attributes") or {}
        ct = cov.check_covariance_type(header["covariance_type"])
        prior_type = attributes.get("weight_concentration_prior_type")
        if prior_type not in PRIOR_TYPES:
            raise ValueError(f"weight_concentration_prior_type must be one of {PRIOR_TYPES}, got {prior_type!r}")
        means = as_param(arrays["means"], "means")
        if means.ndim != 2:
            raise ValueError(f"parameter 'means' must be 2-D, got shape {means.shape}")
        K, D = means.shape
        wc = as_param(arrays["weight_concentration"], "weight_concentration",
                      (2, K) if prior_type == "dirichlet_process" else (K,))
        beta = as_param(arrays["mean_precision"], "mean_precision", (K,))
        dof = as_param(arrays["degrees_of_freedom"], "degrees_of_freedom", (1,) if ct == "tied" else (K,))
        for name, values in (("weight_concentration", wc), ("mean_precision", beta)):
            if np.any(values <= 0):
                raise ValueError(f"parameter {name!r} must be positive")
        if np.any(dof <= D - 1):
            raise ValueError(f"parameter 'degrees_of_freedom' must be > n_features - 1 = {D - 1}")
        covariances = cov.validate_covariances(arrays["covariances"], ct, K, D)
        scalars = {}
        for name in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
            value = attributes.get(name + "_")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"attribute {name + '_'!r} must be a number > 0, got {value!r}")
            scalars[name] = float(value)
        model = cls(n_components=K, covariance_type=ct, weight_concentration_prior_type=prior_type, **scalars)
        model._set_priors((as_param(arrays["mean_prior"], "mean_prior", (D,)),
                           float(arrays["covariance_prior"][0]) if ct == "spherical" else arrays["covariance_prior"]))
        model._install_variational(_build(tuple(wc) if prior_type == "dirichlet_process" else wc, beta, means,
                                          float(dof[0]) if ct == "tied" else dof, covariances, ct, prior_type))
        return model

    def __repr__(self):
        fitted = f", n_features={self.n_features_in_}" if hasattr(self, "weights_") else ""
        return (f"BayesianGaussianMixture(n_components={self.n_components}, covariance_type={self.covariance_type!r}, "
                f"weight_concentration_prior_type={self.weight_concentration_prior_type!r}{fitted})")
