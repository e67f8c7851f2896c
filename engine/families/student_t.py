"""The Student-t family: mixtures of multivariate t distributions with full, tied, diag or spherical scale
matrices, by EM after McLachlan & Peel (2000, ch. 7). Heavy tails make it robust to outliers: a point far
from a component gets a small weight u_ik = (nu_k + D)/(nu_k + delta_ik) in that component's moments.

Parameters (``StudentTParams``): weights (K,), means (K, D), covariances (scale matrices in
GaussianMixture's layouts for the covariance type), dofs (K,). Degrees of freedom are learned per
component (``dof=None``: the 1-D equation of McLachlan & Peel's ECM step, solved from the additive
statistic sum r (log u - u)) or fixed (a float).
"""
import math
from dataclasses import dataclass

import numpy as np

from .._staging import STAGE_ROWS, as_kernel_vector, kernel_ready, staged_rows
from .._validation import as_float_array, output_array
from ..kernels import em as em_kernels
from ..kernels.student_t import t_mixture_log_density, t_scale_factors, t_statistics
from ..models import _covariance as cov

EPS_MASS = 10 * np.finfo(np.float64).eps
#: learned degrees of freedom stay in [MIN_DOF, MAX_DOF]; at MAX_DOF a t is a Gaussian to ~1e-6
MIN_DOF, MAX_DOF = 1e-2, 1e6
INITIAL_DOF = 30.0


@dataclass(frozen=True)
class StudentTParams:
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    dofs: np.ndarray


@dataclass(frozen=True)
class StudentTStats:
    """Additive statistics (see ``engine.kernels.student_t``) under one model (its shift and dofs)."""

    covariance_type: str
    nk: np.ndarray
    su: np.ndarray
    sl: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray
    dofs: np.ndarray
    log_likelihood: float
    weight: float

    def __add__(self, other):
        if not isinstance(other, StudentTStats):
            return NotImplemented
        if not (np.array_equal(other.shift, self.shift) and np.array_equal(other.dofs, self.dofs)):
            raise ValueError("cannot add statistics taken under different models (their shifts differ)")
        return StudentTStats(self.covariance_type, self.nk + other.nk, self.su + other.su, self.sl + other.sl,
                             self.s1 + other.s1, self.s2 + other.s2, self.shift, self.dofs,
                             self.log_likelihood + other.log_likelihood, self.weight + other.weight)

    @property
    def mean_log_likelihood(self):
        return self.log_likelihood / self.weight if self.weight > 0 else -np.inf


def _stirling_tail(z):
    return 1.0 / (12 * z) - 1.0 / (360 * z ** 3) + 1.0 / (1260 * z ** 5)


def t_log_const(nu, D):
    """lgamma((nu + D)/2) - lgamma(nu/2) - D/2 log(nu pi): the t density's constant without log det.

    For large nu the two lgammas are huge and nearly equal (at nu = 1e12 their difference loses 3e-3 to
    rounding); from nu/2 >= 50 the difference is taken from Stirling's series with log1p, which tends to
    the Gaussian's -D/2 log(2 pi) without cancellation."""
    a, h = 0.5 * nu, 0.5 * D
    if a < 50.0:
        return math.lgamma(a + h) - math.lgamma(a) - h * math.log(nu * math.pi)
    return ((a - 0.5 + h) * math.log1p(h / a) - h - h * math.log(2 * math.pi)
            + _stirling_tail(a + h) - _stirling_tail(a))


def log_minus_digamma(x):
    """log(x) - digamma(x) for x > 0, without the cancellation of the difference at large x: recurrence up
    to x >= 10, then the asymptotic series 1/(2x) + 1/(12x^2) - 1/(120x^4) + 1/(252x^6) - 1/(240x^8)
    + 1/(132x^10) - 691/(32760x^12) (the next term is below 1e-15 at x = 10)."""
    acc = 0.0
    y = x
    while y < 10.0:
        acc += 1.0 / y
        y += 1.0
    shift = math.log(x / y)
    t = 1.0 / (y * y)
    series = 1.0 / (2 * y) + t * (1.0 / 12 - t * (1.0 / 120 - t * (1.0 / 252 - t * (1.0 / 240 - t * (1.0 / 132
                                                                                                  - t * 691.0 / 32760)))))
    return series + shift + acc


def solve_dof(nk, sl, old_dof, D):
    """The nu solving  g(nu/2) + 1 + sl/nk - g((old + D)/2) = 0, g = log - digamma (decreasing to 0),
    by bisection on log nu in [MIN_DOF, MAX_DOF] (clipped to the interval when no root lies inside)."""
    if not nk > 0:
        return old_dof
    c = 1.0 + sl / nk - log_minus_digamma(0.5 * (old_dof + D))

    def f(nu):
        return log_minus_digamma(0.5 * nu) + c

    lo, hi = math.log(MIN_DOF), math.log(MAX_DOF)
    if f(MAX_DOF) >= 0:
        return MAX_DOF
    if f(MIN_DOF) <= 0:
        return MIN_DOF
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(math.exp(mid)) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-14:
            break
    return math.exp(0.5 * (lo + hi))


def _bad_row(X, row, row_offset=0):
    """The error for a non-finite value: column and input row (nulls of a table arrive as NaN)."""
    row = int(row)
    j = int(np.flatnonzero(~np.isfinite(X[row]))[0])
    return ValueError(f"column {j}, input row {row + row_offset}: {float(X[row, j])!r} (the Student-t family needs finite "
                      "values in every column; drop or impute rows with missing values)")


class StudentTFamily:
    name = "student_t"

    def __init__(self, covariance_type="full", dof=None, n_features=None):
        self.covariance_type = cov.check_covariance_type(covariance_type)
        if dof is not None and not (isinstance(dof, (int, float)) and dof > 0 and math.isfinite(dof)):
            raise ValueError(f"parameter 'dof' must be None (learned) or a positive finite number, got {dof!r}")
        self.dof = dof
        self.n_features = n_features

    # ------------------------------------------------------------------ layouts
    def kernel_params(self, params):
        ct = self.covariance_type
        K, D = params.means.shape
        _, prec_chol = cov.cholesky_factors(params.covariances, ct)
        U = cov.kernel_layout(prec_chol, ct, D)
        if U.ndim == 3:
            shifted = np.einsum("kj,kji->ki", params.means, U if U.shape[0] == K else np.broadcast_to(U, (K, D, D)))
        else:
            shifted = params.means * U
        nu = params.dofs
        with np.errstate(divide="ignore"):
            log_c = (np.log(params.weights) + np.array([t_log_const(v, D) for v in nu])
                     + cov.log_det_precision_cholesky(prec_chol, ct, D))
        return (U, np.ascontiguousarray(shifted), np.array(np.broadcast_to(log_c, (K,)), order="C"),
                np.array(nu, dtype=np.float64, order="C"), prec_chol)

    def check_params(self, params):
        K, D = params.means.shape
        cov.validate_covariances(params.covariances, self.covariance_type, K, D)
        cov.cholesky_factors(params.covariances, self.covariance_type)
        if params.dofs.shape != (K,) or not np.all((params.dofs > 0) & np.isfinite(params.dofs)):
            raise ValueError(f"dofs must be ({K},) positive finite numbers, got {params.dofs!r}")

    # ------------------------------------------------------------------ data passes
    def _array(self, X):
        from .columns import NamedArray

        if isinstance(X, NamedArray):
            X = X.array
        return as_float_array(X, n_features=self.n_features)

    def _chunks(self, X):
        """X as the kernels take it, in (start, chunk) pieces (one piece: the families' common interface)."""
        return [(0, self._array(X))]

    def shift(self, params):
        """The centres the moments are taken about: the means (tied: their weighted mean, one centre)."""
        if self.covariance_type == "tied":
            return np.array(np.broadcast_to(params.weights @ params.means, params.means.shape), order="C")
        return np.array(params.means, dtype=np.float64, order="C")

    def statistics(self, X, sample_weight, params, mode=em_kernels.POSTERIOR, key=0):
        X = self._array(X)
        U, shifted, log_c, nu, _ = self.kernel_params(params)
        ct = self.covariance_type
        shift = self.shift(params)
        w_all = as_kernel_vector(sample_weight)
        total = None
        chunks = [(0, X)] if kernel_ready(X) else staged_rows(X)
        for start, chunk in chunks:
            m = chunk.shape[0]
            w = w_all[start:start + m] if w_all.size else w_all
            out = t_statistics(chunk, w, U, shifted, log_c, nu, shift, ct == "tied", mode, np.uint64(key), start)
            if out[7] >= 0:
                raise _bad_row(X, start + out[7] if chunk is not X else out[7])
            sums = [a.sum(axis=0) for a in out[:5]] + [out[5].sum(), out[6].sum()]
            total = sums if total is None else [a + b for a, b in zip(total, sums)]
        nk, su, sl, s1, s2, ll, wt = total
        if U.ndim == 3:
            s2 = np.tril(s2) + np.swapaxes(np.tril(s2, -1), -1, -2)
            if ct == "tied":
                s2 = s2[0]
        else:
            s2 = s2[:, 0, :]
        return StudentTStats(ct, nk, su, sl, s1, s2, shift, nu.copy(), float(ll), float(wt))

    def log_density(self, X, params, responsibilities=False, row_offset=0, out=None, resp_out=None):
        X = self._array(X)
        U, shifted, log_c, nu, _ = self.kernel_params(params)
        n, K = X.shape[0], params.weights.shape[0]
        # out / resp_out: caller-owned float64 outputs (engine.Mixture's out= and predict_proba's out=)
        out = output_array(out, (n,), np.float64, inputs=(X,))
        resp = (output_array(resp_out, (n, K), np.float64, name="resp_out", inputs=(X, out)) if responsibilities
                else np.empty((0, K)))
        chunks = [(0, X)] if kernel_ready(X) else staged_rows(X)
        for start, chunk in chunks:
            m = chunk.shape[0]
            bad = t_mixture_log_density(chunk, U, shifted, log_c, nu, out[start:start + m],
                                        resp[start:start + m] if responsibilities else resp)
            if bad >= 0:
                raise _bad_row(X, bad if chunk is X else start + bad, row_offset)
        return (out, resp) if responsibilities else out

    log_density_codes = log_density

    # ------------------------------------------------------------------ M-step
    def m_step(self, stats, reg_covar=1e-6):
        ct = stats.covariance_type
        nk = stats.nk + EPS_MASS
        weights = nk / nk.sum()
        su = stats.su + EPS_MASS
        d = stats.s1 / su[:, None]
        means = stats.shift + d
        D = means.shape[1]
        if ct == "full":
            covariances = (stats.s2 - su[:, None, None] * d[:, :, None] * d[:, None, :]) / nk[:, None, None]
            covariances += reg_covar * np.eye(D)
        elif ct == "tied":
            covariances = (stats.s2 - np.einsum("k,ki,kj->ij", su, d, d)) / nk.sum() + reg_covar * np.eye(D)
        else:
            covariances = (stats.s2 - su[:, None] * d * d) / nk[:, None] + reg_covar
            if ct == "spherical":
                covariances = covariances.mean(axis=1)
        if self.dof is not None:
            dofs = np.full(len(nk), float(self.dof))
        else:
            dofs = np.array([solve_dof(stats.nk[k], stats.sl[k], stats.dofs[k], D) for k in range(len(nk))])
        return StudentTParams(weights, means, covariances, dofs)

    # ------------------------------------------------------------------ initialisation, sampling, counting
    def initialize(self, X, sample_weight, K, init_params, key, reg_covar):
        """The Gaussian mixture's initialisation (k-means etc., the same draws for the same key) as the
        t mixture's locations and scales; dofs: the fixed value, else 30."""
        from ..models.mixture import GaussianMixture

        X = self._array(X)
        gm = GaussianMixture(K, covariance_type=self.covariance_type, init_params=init_params, reg_covar=reg_covar)
        gm._check_hyperparameters(*X.shape)
        weights, means, covariances, prec_chol = gm._initialize(X, sample_weight, key)
        if covariances is None:
            covariances = cov.covariances_from_precision_cholesky(prec_chol, self.covariance_type)
        dof = float(self.dof) if self.dof is not None else INITIAL_DOF
        return StudentTParams(np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64),
                              np.asarray(covariances, dtype=np.float64), np.full(K, dof))

    def sample(self, params, n, key, offset=0, out=None, labels_out=None):
        """A Gaussian draw with the scale matrices, each point's deviation scaled by 1/sqrt(g/nu), g ~ chi^2_nu
        from its own sub-stream: same seed, same numbers at any thread count. ``out`` (n, D) float64 and
        ``labels_out`` (n,) int64: caller-owned arrays to draw into (checked by the caller)."""
        from ..kernels.sampling import mixture_sample

        ct = self.covariance_type
        K, D = params.means.shape
        cov_chol, _ = cov.cholesky_factors(params.covariances, ct)
        cum = np.cumsum(params.weights)
        cum[-1] = 1.0
        X = np.empty((n, D)) if out is None else out
        labels = np.empty(n, dtype=np.int64) if labels_out is None else labels_out
        means = np.array(params.means, order="C")
        mixture_sample(np.uint64(key), offset, cum, means, cov.sampling_layout(cov_chol, ct, D), X, labels)
        factors = np.empty(n)
        t_scale_factors(np.uint64(key), offset, labels, np.array(params.dofs, order="C"), factors)
        # mean + (x - mean) * factor, in place and in blocks (no n x D temporaries)
        for start in range(0, n, STAGE_ROWS):
            rows = slice(start, min(n, start + STAGE_ROWS))
            m = means[labels[rows]]
            block = X[rows]
            block -= m
            block *= factors[rows, None]
            block += m
        return X, labels

    def n_parameters(self, K, D=None):
        D = self.n_features if D is None else D
        cov_params = {"full": K * D * (D + 1) / 2.0, "tied": D * (D + 1) / 2.0, "diag": K * D,
                      "spherical": K}[self.covariance_type]
        return int(cov_params + K * D + K - 1 + (K if self.dof is None else 0))


__all__ = ["StudentTFamily", "StudentTParams", "StudentTStats", "solve_dof", "log_minus_digamma", "STAGE_ROWS"]
