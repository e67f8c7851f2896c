"""Kullback-Leibler divergence between engine models, with standard errors.

D_KL(p || q) = E_{x ~ p}[log p(x) - log q(x)] >= 0, zero iff p = q. It is not symmetric, and the order
of the arguments is the direction:

* forward, ``kl_divergence(p_data, q_model)``: the expectation is over the data distribution, so q is
  penalised wherever p has mass that q misses. Minimising it over q is maximum likelihood, and the
  minimiser is *mode covering*: a single Gaussian fitted this way spreads over every mode of p.
* reverse, ``kl_divergence(q_model, p_data)``: the expectation is over the model, so q is penalised for
  putting mass where p has none; the minimiser is *mode seeking*: it locks onto one mode.

Methods: "exact" (closed forms between Gaussians: Normal-Normal, MVN-MVN for every covariance-type pair,
one-component mixtures count as Gaussians), "mc" (Monte Carlo: n samples of p, one fused pass evaluating
log p - log q, in batches of bounded memory; estimate = sample mean, stderr = sample std / sqrt(n), and a
normal-theory confidence interval), "variational" (Hershey & Olsen 2007, mixtures: a deterministic
approximation, not an estimate - its stderr and interval are NaN), "auto" (exact where available, else mc).
"""
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .. import _random
from .._validation import as_float_array, check_n_samples, raise_bad_row
from ..kernels.divergence import log_ratio_moments
from ..kernels.sampling import mixture_sample
from ..models import GaussianMixture, MultivariateNormal, Normal

METHODS = ("auto", "exact", "mc", "variational", "knn")
#: samples drawn and evaluated per batch: bounds memory at BATCH * D floats whatever n_samples is
BATCH = 1 << 18


@dataclass(frozen=True)
class KLResult:
    """A divergence (or cross-entropy) with its Monte Carlo uncertainty.

    estimate: the value (nats); stderr: its standard error (0 for exact values, NaN for approximations);
    ci_low, ci_high: the ``confidence`` interval estimate -/+ z * stderr; n_samples: points used (0 if
    none); method: "exact", "mc", "variational" or "data".
    """

    estimate: float
    stderr: float
    ci_low: float
    ci_high: float
    n_samples: int
    method: str

    def __float__(self):
        return float(self.estimate)

    def __str__(self):
        if self.method == "exact":
            return f"{self.estimate:.6g} (exact)"
        return f"{self.estimate:.6g} ± {self.stderr:.2g} (CI {self.ci_low:.6g} … {self.ci_high:.6g}; {self.method}, n={self.n_samples})"


def _as_mixture(model, name):
    if isinstance(model, GaussianMixture):
        model._check_fitted()
        return model
    if isinstance(model, MultivariateNormal):
        return model._mixture
    if isinstance(model, Normal):
        return GaussianMixture.from_params([1.0], [[model.loc]], [model.scale**2], "spherical")
    raise TypeError(f"{name} must be an engine Normal, MultivariateNormal or GaussianMixture, got {type(model).__name__}")


def _dense_gaussian(mix):
    """(mean (D,), lower Cholesky factor of the covariance (D, D)) of a one-component mixture."""
    means, LT = mix._sampler_params.means, mix._sampler_params.cov_chol_t
    L = LT[0].T if LT.ndim == 3 else np.diag(LT[0])
    return means[0], L


def gaussian_kl(mean_p, chol_p, mean_q, chol_q):
    """Closed form D_KL(N(mean_p, L_p L_p^T) || N(mean_q, L_q L_q^T)) from lower Cholesky factors:

    0.5 [ ||L_q^-1 L_p||_F^2 + ||L_q^-1 (mean_q - mean_p)||^2 - D + 2 sum log diag L_q - 2 sum log diag L_p ]
    """
    D = mean_p.shape[0]
    A = np.linalg.solve(chol_q, chol_p)
    b = np.linalg.solve(chol_q, mean_q - mean_p)
    logdet = 2.0 * (np.sum(np.log(np.diag(chol_q))) - np.sum(np.log(np.diag(chol_p))))
    return 0.5 * (np.sum(A * A) + b @ b - D + logdet)


def _interval(estimate, stderr, n, method, confidence):
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return KLResult(float(estimate), float(stderr), float(estimate - z * stderr), float(estimate + z * stderr), int(n), method)


def _merge_moments(counts, means, m2, state):
    """Chan-merge per-part moments into state = [n, mean, M2]."""
    for c, mu, s in zip(counts, means, m2):
        if c == 0:
            continue
        n, mean, acc = state
        tot = n + c
        delta = mu - mean
        state[:] = [tot, mean + delta * c / tot, acc + s + delta * delta * n * c / tot]


def _variational(p, q):
    """Hershey & Olsen's variational approximation for mixtures f = p, g = q."""
    comps_p = [_dense_gaussian(GaussianMixture.from_params([1.0], p.means_[k : k + 1], _component_cov(p, k), "full")) for k in range(len(p.weights_))]
    comps_q = [_dense_gaussian(GaussianMixture.from_params([1.0], q.means_[k : k + 1], _component_cov(q, k), "full")) for k in range(len(q.weights_))]
    with np.errstate(divide="ignore"):
        log_wp, log_wq = np.log(p.weights_), np.log(q.weights_)
    total = 0.0
    for a, (ma, La) in enumerate(comps_p):
        if p.weights_[a] == 0:
            continue
        self_terms = [log_wp[b] - gaussian_kl(ma, La, mb, Lb) for b, (mb, Lb) in enumerate(comps_p)]
        cross_terms = [log_wq[b] - gaussian_kl(ma, La, mb, Lb) for b, (mb, Lb) in enumerate(comps_q)]
        total += p.weights_[a] * (np.logaddexp.reduce(self_terms) - np.logaddexp.reduce(cross_terms))
    return total


def _component_cov(mix, k):
    ct, c = mix.covariance_type, mix.covariances_
    D = mix.means_.shape[1]
    full = {"full": lambda: c[k], "tied": lambda: c, "diag": lambda: np.diag(c[k]), "spherical": lambda: c[k] * np.eye(D)}[ct]()
    return full[None]


def _is_model(obj):
    return hasattr(obj, "score_samples") or hasattr(obj, "logpdf")


def kl_divergence(p, q, method="auto", n_samples=1_000_000, random_state=None, confidence=0.95, device="cpu", *,
                  k=1, bias_correction=True, n_subsamples=100, ties="error", n_sequences=1000, length=100):
    """D_KL(p || q) between two engine models of the same dimension, as a ``KLResult``.

    The argument order is the direction (see the module docstring): ``kl_divergence(p, q)`` is the
    forward divergence of q from p (mode covering when minimised over q), ``kl_divergence(q, p)`` the
    reverse one (mode seeking). method: "auto" | "exact" | "mc" | "variational" | "knn". When p is a sample
    (an (n, D) array, Arrow table, DataFrame or Parquet path) rather than a model, the divergence is
    estimated by nearest neighbours ("knn", see ``engine.estimation.entropy``): against a model q,
    -H(p) - mean log q(X); against a second sample q, Wang-Kulkarni-Verdu; ``k``, ``bias_correction``,
    ``n_subsamples`` (the subsampling interval at ``confidence``) and ``ties`` apply there. For "mc", n_samples
    points of p are drawn (same seed => same estimate at any thread count) and evaluated in batches of
    at most 2**18 points; device="cuda" samples and evaluates them on the GPU (same stream).

    Between two hidden Markov models (``engine.GaussianHMM`` … ``engine.HMM``) the value is the KL *rate* per
    step, (1/T) E_p[log p(x_1:T) - log q(x_1:T)], by Monte Carlo over ``n_sequences`` sequences of ``length``
    steps drawn from p, with its standard error (``engine.hmm.kl``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    from ..hmm.models import _BaseHMM

    if isinstance(p, _BaseHMM) or isinstance(q, _BaseHMM):
        from ..hmm.kl import kl_rate

        if not (isinstance(p, _BaseHMM) and isinstance(q, _BaseHMM)):
            raise ValueError("a KL rate needs two hidden Markov models (p and q)")
        if method not in ("mc", "auto"):
            raise ValueError(f"between HMMs only method='mc' (the KL rate by Monte Carlo) exists, got {method!r}")
        return kl_rate(p, q, n_sequences, length, random_state, confidence)
    from ..models.transformed import Transformed

    if isinstance(p, Transformed) or isinstance(q, Transformed):
        if (isinstance(p, Transformed) and isinstance(q, Transformed) and p.outside == q.outside
                and _same_map(p.transform, q.transform)):
            # KL is invariant under a shared bijection: the divergence of the bases, exactly
            return kl_divergence(p.base, q.base, method, n_samples, random_state, confidence, device,
                                 n_sequences=n_sequences, length=length)
        if method not in ("mc", "auto"):
            raise ValueError("between models under different transforms only method='mc' exists "
                             f"(got {method!r}); with the same transform the bases' KL is used")
        return _monte_carlo(p, q, n_samples, random_state, confidence)
    if method == "knn" or not _is_model(p):
        # p known only by samples (an array, table or Parquet path): nearest-neighbour estimators
        from . import entropy as knn_est

        if method not in ("knn", "auto"):
            raise ValueError(f"p is a sample, not a model: use method='knn' (got {method!r})")
        kw = dict(k=k, bias_correction=bias_correction, ci=confidence, n_subsamples=n_subsamples, ties=ties,
                  random_state=random_state)
        if _is_model(q):
            return knn_est.kl_to_model(p, q, **kw)
        return knn_est.kl_two_sample(p, q, **kw)
    from ..models.family_mixture import Mixture

    if isinstance(p, Mixture) and hasattr(p, "_gm"):
        p = p._gm
    if isinstance(q, Mixture) and hasattr(q, "_gm"):
        q = q._gm
    if isinstance(p, Mixture) or isinstance(q, Mixture):
        from .family_kl import family_kl_divergence

        return family_kl_divergence(p, q, method, n_samples, random_state, confidence)
    gaussian = (GaussianMixture, MultivariateNormal, Normal)
    if not (isinstance(p, gaussian) and isinstance(q, gaussian)):
        # any other model: an object with ``sample`` (p) and ``score_samples``/``logpdf`` (both)
        for name, obj, need_sample in (("p", p, True), ("q", q, False)):
            if not _is_model(obj) or (need_sample and not hasattr(obj, "sample")):
                raise TypeError(f"{name} must be an engine Normal, MultivariateNormal or GaussianMixture (or any "
                                f"model with {'sample and ' if need_sample else ''}score_samples/logpdf), got "
                                f"{type(obj).__name__}")
        if method not in ("mc", "auto"):
            raise ValueError(f"between a {type(p).__name__} and a {type(q).__name__} only method='mc' exists, "
                             f"got {method!r}")
        return _monte_carlo(p, q, n_samples, random_state, confidence)
    mp, mq = _as_mixture(p, "p"), _as_mixture(q, "q")
    if mp.n_features_in_ != mq.n_features_in_:
        raise ValueError(f"p and q have different dimensions ({mp.n_features_in_} and {mq.n_features_in_})")
    gaussian_pair = len(mp.weights_) == 1 and len(mq.weights_) == 1
    if method == "auto":
        method = "exact" if gaussian_pair else "mc"
    if method == "exact":
        if not gaussian_pair:
            raise ValueError("method='exact' needs two Gaussians (KL between mixtures has no closed form); use 'mc' or 'variational'")
        value = gaussian_kl(*_dense_gaussian(mp), *_dense_gaussian(mq))
        return KLResult(float(value), 0.0, float(value), float(value), 0, "exact")
    if method == "variational":
        value = _variational(mp, mq)
        return KLResult(float(value), np.nan, np.nan, np.nan, 0, "variational")
    n = check_n_samples(n_samples)
    if n < 2:
        raise ValueError(f"n_samples must be at least 2 for a Monte Carlo estimate with a standard error, got {n}")
    key = _random.stream_key(random_state)
    D = mp.n_features_in_
    state = [0.0, 0.0, 0.0]
    from .. import _dispatch

    if _dispatch.resolve(device) == "cuda":
        from ..cuda.api import log_ratio_moments as cuda_moments
        from ..cuda.api import mixture_sample as cuda_sample

        for start in range(0, n, BATCH * 16):  # the GPU takes larger batches
            m = min(BATCH * 16, n - start)
            dX, _ = cuda_sample(mp, m, key, offset=start, to_host=False)
            _merge_moments(*cuda_moments(dX, mp, mq), state)
        total, mean, acc = state
        return _interval(mean, np.sqrt(acc / (total - 1) / total), total, "mc", confidence)
    buf = np.empty((min(n, BATCH), D))
    labels = np.empty(min(n, BATCH), dtype=np.int64)
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        X, lab = buf[:m], labels[:m]
        sp, kp, kq = mp._sampler_params, mp._kernel_params, mq._kernel_params
        mixture_sample(key, start, sp.cum_weights, sp.means, sp.cov_chol_t, X, lab)
        counts, means, m2, _ = log_ratio_moments(X, kp.prec_chol, kp.shifted_means, kp.log_norm, kq.prec_chol,
                                                 kq.shifted_means, kq.log_norm, True)
        _merge_moments(counts, means, m2, state)
    total, mean, acc = state
    var = acc / (total - 1)
    return _interval(mean, np.sqrt(var / total), total, "mc", confidence)


def _same_map(t, u):
    """Whether two transforms are the same map (a fitted lambda equals the same lambda given)."""
    def strip(spec):
        if isinstance(spec, dict):
            return {k: strip(v) for k, v in spec.items() if k != "fitted"}
        if isinstance(spec, list):
            return [strip(v) for v in spec]
        return spec

    return strip(t._spec()) == strip(u._spec())


def _monte_carlo(p, q, n_samples, random_state, confidence, log_ratio=None):
    """E_p[log p(X) - log q(X)] over n_samples draws of p in batches, with its standard error: for any p
    that samples and any q with a log-density (``score_samples``/``logpdf``). ``log_ratio(m, start, key)``
    -> (m,) log p - log q of batch ``start`` replaces the generic draw (the product families' code path)."""
    n = check_n_samples(n_samples)
    if n < 2:
        raise ValueError(f"n_samples must be at least 2 for a Monte Carlo estimate with a standard error, got {n}")
    if not hasattr(p, "sample"):
        raise TypeError(f"p ({type(p).__name__}) cannot sample: Monte Carlo KL draws from p")
    key = _random.stream_key(random_state)

    def logd(model, X):
        f = model.score_samples if hasattr(model, "score_samples") else model.logpdf
        return np.asarray(f(X), dtype=np.float64)

    def generic(m, start, key):
        draw = p.sample(m, random_state=np.random.SeedSequence([int(key), start]))
        X = draw[0] if isinstance(draw, tuple) else draw
        return logd(p, X) - logd(q, X)

    log_ratio = log_ratio or generic
    state = [0.0, 0.0, 0.0]
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        d = np.asarray(log_ratio(m, start, key), dtype=np.float64)
        mean = d.mean()
        _merge_moments([m], [mean], [np.sum((d - mean) ** 2)], state)
    total, mean, acc = state
    return _interval(mean, np.sqrt(acc / (total - 1) / total), total, "mc", confidence)


def cross_entropy(X, q, confidence=0.95):
    """Average negative log-likelihood of data under q, with its standard error.

    For data x_i ~ p_data this is the Monte Carlo estimate of E_p_data[-log q(x)] = D_KL(p_data || q) +
    H(p_data): the forward KL up to the (unknown, q-independent) entropy of the data, so differences
    between models are differences of forward KL. X: an (n, D) array, or an iterable of such batches
    (streamed in one pass, memory bounded by the batch).
    """
    mq = _as_mixture(q, "q")
    # one array(-like), or an iterable of array batches (a list of arrays, a generator, a stream)
    one_array = isinstance(X, np.ndarray) or (
        isinstance(X, (list, tuple)) and not all(isinstance(b, np.ndarray) for b in X)
    )
    batches = [X] if one_array else X
    state = [0.0, 0.0, 0.0]
    for i, batch in enumerate(batches):
        if isinstance(q, Normal):
            batch = np.asarray(batch)
            batch = batch[:, None] if batch.ndim == 1 else batch
        B = as_float_array(batch, n_features=mq.n_features_in_)
        kq = mq._kernel_params
        counts, means, m2, bad = log_ratio_moments(B, kq.prec_chol, kq.shifted_means, kq.log_norm, kq.prec_chol,
                                                   kq.shifted_means, kq.log_norm, False)
        raise_bad_row(bad, name="X" if i == 0 else f"X (batch {i})")
        _merge_moments(counts, -means, m2, state)
    total, mean, acc = state
    if total < 2:
        raise ValueError(f"cross_entropy needs at least 2 points, got {int(total)}")
    return _interval(mean, np.sqrt(acc / (total - 1) / total), total, "data", confidence)
