"""Entropy and KL divergence estimated from samples, by nearest neighbours, with subsampling intervals.

The seed's quantity D_KL(p_data || p_theta) = -H(p_data) - E_p_data[log p_theta]: the second term is a mean
of log-densities over the data (exact enough), the first needs the data's entropy, known only through
samples. Estimators (all in nats; rho_k(i) the distance from X_i to its k-th nearest neighbour among the
other points of X, nu_k(i) to its k-th nearest neighbour in Y, c_D = log of the unit D-ball's volume):

* entropy, Kozachenko & Leonenko (1987) in the form of Kraskov, Stoegbauer & Grassberger (2004):
      H_k = psi(n) - psi(k) + c_D + D/n sum_i log rho_k(i)
  (``bias_correction=False``: H_k at the one k given). With ``bias_correction=True`` (default) and D >= 3 the estimate is the weighted combination
  sum_j w_j H_j over j = k .. k + J - 1 of Berrett, Samworth & Yuan (2019): the weights sum to 1 and cancel
  the leading bias terms, which are proportional to Gamma(j + 2l/D) / Gamma(j) n^(-2l/D) for
  l = 1 .. L = min(2, max(1, floor(D/4))) (J = 4 for L = 1, 8 for L = 2; the minimum-norm weights). Measured on
  Gaussians at n = 10^4, D = 5: bias -0.036 -> -0.014, sd 0.023 -> 0.037 (see ``engine.studies.knn_coverage``);
* one-sample KL against a model q with a log-density: D(p || q) = -H(X) - mean log q(X), the same samples;
* two-sample KL, Wang, Kulkarni & Verdu (2009):
      D_k(p || q) = D/n sum_i log(nu_k(i) / rho_k(i)) + log(m / (n - 1))
  (``bias_correction=True``, default: the same weighted combination over k as the entropy, for D >= 3;
  ``bias_correction="adaptive"``: Wang, Kulkarni & Verdu's own bias-reduced variant with adaptive neighbour
  counts: for
  eps_i = max(rho_k(i), nu_k(i)), l_i and k_i count the points of Y and of X within eps_i, and
      D = D/n sum_i log(nu_{l_i}(i) / rho_{k_i}(i)) + 1/n sum_i (psi(k_i) - psi(l_i)) + log(m / (n - 1))).

**Intervals by subsampling** (Politis & Romano 1994), because the bootstrap is inconsistent for
nearest-neighbour statistics (resampling with replacement creates duplicate points at distance 0): the
estimate is recomputed on ``n_subsamples`` subsamples of size b (without replacement; b = n^(2/3) by
default); stderr = sqrt(b) sd(theta_b) / sqrt(n), and the interval is estimate -/+ z stderr. It describes
sampling variability; the estimators' finite-sample bias is not in it (measured, with the coverage it
leaves, by ``python -m engine.studies.knn_coverage``).

**Ties and duplicates.** A point with k identical copies has rho_k = 0, and log 0 would make the estimate
-inf. ``ties="error"`` (default) raises naming the row and a duplicate; ``ties="dequantize"`` adds
independent uniform noise of one data resolution per column (the smallest gap between distinct values of
that column), seeded by ``random_state``: the estimate is then that of the dequantised data, the right
quantity when rounded data are compared with a continuous model. (Continuous data have no ties; rounded data
have no differential entropy without dequantisation.)
"""
import math

import numpy as np

from .._validation import as_float_array
from .knn import KNNTree

METHODS = ("knn",)


def _digamma(x):
    from ..families.student_t import log_minus_digamma

    return math.log(x) - log_minus_digamma(x)


def log_unit_ball_volume(D):
    """log of the volume of the unit Euclidean ball in D dimensions."""
    return 0.5 * D * math.log(math.pi) - math.lgamma(0.5 * D + 1.0)


def _check_k(k, n, what="X"):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k >= n:
        raise ValueError(f"k = {k} needs more than k points in {what}, got {n}")


def _samples(X, name):
    """X (n, D) float64 from an array, Arrow table/record batch, DataFrame or Parquet path (1-D: D = 1)."""
    if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__"):
        from ..io.dataset import FeatureSource

        X = np.concatenate(list(FeatureSource(X).arrays()))
    X = np.asarray(X) if isinstance(X, (list, tuple)) else X
    if isinstance(X, np.ndarray) and X.ndim == 1:
        X = X[:, None]
    X = np.ascontiguousarray(as_float_array(X, name=name), dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{name} row {r}, column {c}: {float(X[r, c])!r}; the estimators need finite values")
    return X


def _dequantize(X, rng):
    out = X.copy()
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])
        gaps = np.diff(u)
        h = gaps.min() if gaps.size else 1.0
        out[:, j] += (rng.random(X.shape[0]) - 0.5) * h
    return out


def _raise_ties(X, i, name):
    same = np.flatnonzero(np.all(X == X[i], axis=1))
    other = int(same[same != i][0]) if (same != i).any() else i
    raise ValueError(f"{name} rows {i} and {other} are identical (a nearest-neighbour distance of 0, whose log is "
                     "-inf): the data have ties; pass ties='dequantize' (CLI: --ties dequantize) to add one data "
                     "resolution of uniform noise per column, or remove duplicates")


def _prepare(X, ties, rng, name):
    if ties not in ("error", "dequantize"):
        raise ValueError(f"ties must be 'error' or 'dequantize', got {ties!r}")
    return _dequantize(X, rng) if ties == "dequantize" else X


def bias_weights(D, k):
    """(ks, weights) of the weighted estimator: weights summing to 1 with sum_j w_j Gamma(j + 2l/D)/Gamma(j) = 0
    for l = 1..L, L = min(2, max(1, D // 4)), of minimum norm, over j = k .. k + J - 1 (J = 4 if L = 1, else 8).
    D <= 2: the plain estimator at k (its bias is already below its standard error at n >= 10^3)."""
    if D <= 2:
        return np.array([k]), np.ones(1)
    # capped at 2: a third constraint (D >= 12) makes the weights large (|w| ~ 100 over 8 ranks) and the
    # variance with them, at dimensions where the estimators are unreliable anyway
    L = min(2, max(1, D // 4))
    ks = np.arange(k, k + (4 if L == 1 else 8))
    A = [np.ones(len(ks))] + [np.exp([math.lgamma(j + 2.0 * l / D) - math.lgamma(j) for j in ks]) for l in range(1, L + 1)]
    A = np.array(A)
    rhs = np.zeros(len(A))
    rhs[0] = 1.0
    return ks, A.T @ np.linalg.solve(A @ A.T, rhs)


def _check_bias_correction(value, allowed=(True, False)):
    if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
        raise ValueError(f"bias_correction must be one of {allowed}, got {value!r}")


def _ranks(D, k, bias_correction):
    if bias_correction is True:
        return bias_weights(D, k)
    return np.array([k]), np.ones(1)


def _entropy_point(X, k, bias_correction, name="X"):
    n, D = X.shape
    ks, w = _ranks(D, k, bias_correction)
    if ks[-1] >= n:
        ks, w = np.array([k]), np.ones(1)
    dist = KNNTree(X).query(X, int(ks[-1]), exclude_self=True)
    if not np.all(dist[:, k - 1] > 0):
        _raise_ties(X, int(np.argmin(dist[:, k - 1])), name)
    total = 0.0
    for j, wj in zip(ks, w):
        head = _digamma(n) - _digamma(j)
        total += wj * (head + log_unit_ball_volume(D) + D * float(np.mean(np.log(dist[:, j - 1]))))
    return total


def _subsample_interval(estimate_of, sizes, estimate, n, n_subsamples, ci, rng):
    """The interval from ``n_subsamples`` recomputations on subsamples (rows drawn without replacement from each
    data set, ``sizes`` rows each): stderr = sd(sqrt(b) theta_b) / sqrt(n) (Politis & Romano's variance
    estimate), interval estimate -/+ z stderr. Not Politis & Romano's quantile interval
    theta_n - c/sqrt(n): that interval also moves by sqrt(b/n) (mean theta_b - theta_n), the estimator's
    drift between b and n rows, which on heavy-tailed rounded data (flights) left the estimate outside its
    own interval; the bias is measured separately (``engine.studies.knn_coverage``)."""
    from statistics import NormalDist

    from .kl import KLResult

    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    b = sizes[0]
    values = np.array([estimate_of(rng) for _ in range(n_subsamples)])
    stderr = float(math.sqrt(b) * np.std(values, ddof=1) / math.sqrt(n))
    z = NormalDist().inv_cdf(0.5 + ci / 2.0)
    return KLResult(float(estimate), stderr, float(estimate - z * stderr), float(estimate + z * stderr), int(n), "knn")


def _subsample_size(n, subsample_size, k):
    b = subsample_size if subsample_size is not None else int(round(n ** (2.0 / 3.0)))
    if not k + 1 < b < n:
        raise ValueError(f"subsample_size must be in ({k + 1}, {n}) for n = {n}, k = {k}; got {b}")
    return b


def entropy(X, *, k=1, method="knn", bias_correction=True, ci=0.95, n_subsamples=100, subsample_size=None,
            ties="error", random_state=None):
    """Differential entropy (nats) of the distribution X was drawn from, as a ``KLResult`` (estimate, stderr,
    ci_low, ci_high; method "knn").

    X: (n, D) array, Arrow table, DataFrame or Parquet path. k: the neighbour rank (larger k: less variance,
    more bias). Intervals by subsampling (see the module docstring); ``n_subsamples=0`` skips them (stderr
    and the interval are NaN).
    """
    from .kl import KLResult

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check_bias_correction(bias_correction)
    rng = np.random.default_rng(_seed(random_state))
    X = _prepare(_samples(X, "X"), ties, rng, "X")
    n = X.shape[0]
    _check_k(k, n)
    estimate = _entropy_point(X, k, bias_correction)
    if not n_subsamples:
        return KLResult(estimate, np.nan, np.nan, np.nan, n, "knn")
    b = _subsample_size(n, subsample_size, k)

    def again(r):
        return _entropy_point(X[np.sort(r.choice(n, b, replace=False))], k, bias_correction)

    return _subsample_interval(again, (b,), estimate, n, n_subsamples, ci, rng)


def kl_to_model(X, q, *, k=1, bias_correction=True, ci=0.95, n_subsamples=100, subsample_size=None, ties="error",
                random_state=None):
    """D_KL(p || q) from samples X of p and a model q (anything with ``score_samples``/``logpdf``):
    -H(X) - mean log q(X) on the same samples, with a subsampling interval."""
    _check_bias_correction(bias_correction)
    rng = np.random.default_rng(_seed(random_state))
    X = _prepare(_samples(X, "X"), ties, rng, "X")
    n = X.shape[0]
    _check_k(k, n)
    score = getattr(q, "score_samples", None) or getattr(q, "logpdf")
    logq = np.asarray(score(X[:, 0] if getattr(q, "n_features", None) == 1 and type(q).__name__ == "Normal" else X),
                      dtype=np.float64)
    if not np.all(np.isfinite(logq)):
        i = int(np.argmin(np.isfinite(logq)))
        raise ValueError(f"q gives log-density {logq[i]} at X row {i}: the divergence is infinite")

    def value(rows):
        Xs = X if rows is None else X[rows]
        return -_entropy_point(Xs, k, bias_correction) - float(np.mean(logq if rows is None else logq[rows]))

    estimate = value(None)
    from .kl import KLResult

    if not n_subsamples:
        return KLResult(estimate, np.nan, np.nan, np.nan, n, "knn")
    b = _subsample_size(n, subsample_size, k)
    return _subsample_interval(lambda r: value(np.sort(r.choice(n, b, replace=False))), (b,), estimate, n,
                               n_subsamples, ci, rng)


def _two_sample_point(X, Y, k, bias_correction):
    n, D = X.shape
    m = Y.shape[0]
    tx, ty = KNNTree(X), KNNTree(Y)
    rho = tx.query(X, k, exclude_self=True)[:, k - 1]
    nu = ty.query(X, k)[:, k - 1]
    if not np.all(rho > 0):
        _raise_ties(X, int(np.argmin(rho)), "X")
    if not np.all(nu > 0):
        i = int(np.argmin(nu))
        raise ValueError(f"X row {i} has {k} identical copies in Y (a neighbour distance of 0, whose log is -inf): "
                         "the samples share points; pass ties='dequantize', or remove the shared points")
    if bias_correction != "adaptive":
        ks, w = _ranks(D, k, bias_correction)
        if ks[-1] > k:
            if ks[-1] >= n or ks[-1] > m:
                ks, w = np.array([k]), np.ones(1)
            else:
                rho_all = tx.query(X, int(ks[-1]), exclude_self=True)
                nu_all = ty.query(X, int(ks[-1]))
                return sum(wj * (D * float(np.mean(np.log(nu_all[:, j - 1] / rho_all[:, j - 1])))) for j, wj in zip(ks, w)) \
                    + math.log(m / (n - 1))
        return D * float(np.mean(np.log(nu / rho))) + math.log(m / (n - 1))
    # Wang, Kulkarni & Verdu's bias-reduced estimator: neighbour counts adapted to the radius eps_i
    eps = np.maximum(rho, nu)
    k_i, rho_k = tx.radius_stats(X, eps, exclude_self=True)
    l_i, nu_l = ty.radius_stats(X, eps)
    dig = np.vectorize(_digamma, otypes=[np.float64])
    return (D * float(np.mean(np.log(nu_l / rho_k))) + float(np.mean(dig(k_i) - dig(l_i)))
            + math.log(m / (n - 1)))


def kl_two_sample(X, Y, *, k=1, bias_correction=True, ci=0.95, n_subsamples=100, subsample_size=None,
                  ties="error", random_state=None):
    """D_KL(p || q) from samples X ~ p (n, D) and Y ~ q (m, D), Wang-Kulkarni-Verdu (see the module docstring)."""
    _check_bias_correction(bias_correction, (True, False, "adaptive"))
    rng = np.random.default_rng(_seed(random_state))
    X = _prepare(_samples(X, "X"), ties, rng, "X")
    Y = _prepare(_samples(Y, "Y"), ties, rng, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y have different dimensions ({X.shape[1]} and {Y.shape[1]})")
    n, m = X.shape[0], Y.shape[0]
    _check_k(k, n)
    _check_k(k, m + 1, "Y")
    estimate = _two_sample_point(X, Y, k, bias_correction)
    from .kl import KLResult

    if not n_subsamples:
        return KLResult(estimate, np.nan, np.nan, np.nan, n, "knn")
    b = _subsample_size(n, subsample_size, k)
    bm = max(k + 1, int(round(b * m / n)))

    def again(r):
        xs = X[np.sort(r.choice(n, b, replace=False))]
        ys = Y[np.sort(r.choice(m, min(bm, m), replace=False))]
        return _two_sample_point(xs, ys, k, bias_correction)

    return _subsample_interval(again, (b, bm), estimate, n, n_subsamples, ci, rng)


def _seed(random_state):
    from .. import _random

    return int(_random.stream_key(random_state)) % (2**63)
