"""Emissions of hidden Markov models: the families, seen from the HMM seam.

An emission brings, for a span of rows of the data (float64 (n, D); product families: their code matrix):

* ``log_frame(params, data, lo, hi, out)`` — per-state log-densities (hi - lo, K);
* ``statistics(params, data, lo, hi, post)`` — the family's additive statistics weighted by the given state
  posteriors (hi - lo, K) instead of a mixture's responsibilities (``SufficientStats`` for Gaussians,
  ``ProductStats`` for product families: the very types of their mixtures' E-steps);
* ``sample(params, states, key)`` — one draw per row from the row's state, counter-based.

The M-steps live with the estimators (hmmlearn's MAP updates for GaussianHMM/PoissonHMM/CategoricalHMM; the
family's own M-step for ``engine.HMM``).
"""
import re
from dataclasses import dataclass

import numpy as np

from .._validation import output_array
from ..estimation.em_stats import SufficientStats
from ..families.product import ProductStats
from ..kernels import emissions as ek
from ..kernels import product as pk
from ..kernels.sampling import mixture_sample
from ..models import _covariance as cov


#: ``state_log_frame``'s dofs for Gaussian states (none)
_NO_DOFS = np.empty(0)


def _per_state(states, K, D, draw, key, out=None):
    """(n, D) draws, row i from state states[i]: ``draw(k, count, state_key)`` gives state k's rows from the
    state's own counter-based stream (key + k + 1), so a row's value does not depend on the other states.
    ``out``: a caller-owned (n, D) float64 array to fill instead of a new one."""
    out = output_array(out, (states.size, D), np.float64, inputs=(states,))
    for k in range(K):
        idx = np.flatnonzero(states == k)
        if idx.size:
            out[idx] = draw(k, idx.size, np.uint64(key + np.uint64(k + 1)))
    return out


def _mixture_draw(count, state_key, cum_weights, means, layout):
    """count draws of one Gaussian mixture (``mixture_sample``'s layouts) from stream ``state_key``."""
    part = np.empty((count, means.shape[1]))
    mixture_sample(state_key, 0, cum_weights, np.ascontiguousarray(means, dtype=np.float64),
                   np.ascontiguousarray(layout), part, np.empty(count, dtype=np.int64))
    return part


@dataclass(frozen=True)
class GaussianEmissionParams:
    """means (K, D); covars in hmmlearn's compressed layout: (K,) spherical, (K, D) diag, (K, D, D) full,
    (D, D) tied."""

    means: np.ndarray
    covars: np.ndarray


class GaussianEmission:
    def __init__(self, covariance_type):
        self.covariance_type = covariance_type
        self._cache = (None, None)

    def kernel_params(self, params):
        if self._cache[0] is params:
            return self._cache[1]
        ct = self.covariance_type
        K = params.means.shape[0]
        _, prec_chol = cov.cholesky_factors(params.covars, ct, name="covars_")
        g = cov.kernel_params(np.zeros(K), np.asarray(params.means, dtype=np.float64), prec_chol, ct)
        g = g._replace(prec_chol=np.array(g.prec_chol, order="C"))
        self._cache = (params, g)
        return g

    def log_frame(self, params, data, lo, hi, out):
        g = self.kernel_params(params)
        bad = ek.state_log_frame(data[lo:hi], g.prec_chol, g.shifted_means, g.log_norm, _NO_DOFS, out)
        if bad >= 0:
            row = lo + int(bad)
            raise ValueError(f"X row {row}: non-finite value {data[row].tolist()} (a GaussianHMM step is either "
                             "complete or entirely missing, all NaN; for per-column missing values use "
                             "engine.HMM(emission={'col': 'gaussian', ...}, missing='marginalize'))")

    def shift(self, params):
        means = np.asarray(params.means, dtype=np.float64)
        if self.covariance_type == "tied":
            return np.array(np.broadcast_to(means.mean(axis=0), means.shape), order="C")
        return np.array(means, order="C")

    def statistics(self, params, data, lo, hi, post):
        ct = self.covariance_type
        g = self.kernel_params(params)
        shift = self.shift(params)
        nk, s1, s2 = ek.gaussian_posterior_moments(data[lo:hi], post, g.prec_chol, shift, ct == "tied")
        nk, s1, s2 = nk.sum(axis=0), s1.sum(axis=0), s2.sum(axis=0)
        if ct in ("full", "tied"):
            s2 = np.tril(s2) + np.swapaxes(np.tril(s2, -1), -1, -2)
            if ct == "tied":
                s2 = s2[0]
        else:
            s2 = s2[:, 0, :]
        return SufficientStats(ct, nk, s1, s2, shift, 0.0, float(nk.sum()))

    def sample(self, params, states, key, out=None):
        """(n, D) draws, row i from state states[i]: each state's rows come from its own stream."""
        ct = self.covariance_type
        K, D = params.means.shape
        cov_chol, _ = cov.cholesky_factors(params.covars, ct, name="covars_")
        layout = cov.sampling_layout(cov_chol, ct, D)
        return _per_state(states, K, D, lambda k, count, state_key: _mixture_draw(
            count, state_key, np.ones(1), params.means[k:k + 1], layout[k:k + 1] if layout.shape[0] == K else layout),
            key, out)


class ProductEmission:
    """Any product family (Bernoulli, categorical, Poisson, exponential, diagonal and dense Gaussian columns,
    mixed; missing entries marginalised when the family says so). params: ``ProductParams`` (weights unused)."""

    def __init__(self, family):
        self.family = family
        self._cache = (None, None)

    def kernel_params(self, params):
        if self._cache[0] is params:
            return self._cache[1]
        from dataclasses import replace

        K = params.loc.shape[0]
        kp = self.family.kernel_params(replace(params, weights=np.ones(K)))
        self._cache = (params, kp)
        return kp

    def log_frame(self, params, data, lo, hi, out):
        fam = self.family
        kp = self.kernel_params(params)
        bad = ek.product_log_frame(data[lo:hi], fam.kinds, fam.encoder.cat_sizes, fam.encoder.cat_offsets, kp.a, kp.b,
                                   kp.c, kp.cat_logp, kp.log_w, fam.kernel_marginalize, kp.W, kp.const, kp.g_cols,
                                   kp.g_prec, kp.g_shifted, kp.g_lognorm, out)
        if bad >= 0:
            row = lo + int(bad)
            raise self.describe_bad_row(data, row)

    def describe_bad_row(self, data, row):
        fam = self.family
        for j, col in enumerate(fam.columns):
            v = data[row, j]
            if not pk._valid(fam.kinds[j], np.float64(fam.encoder.cat_sizes[j]), v, fam.kernel_marginalize):
                what = {"bernoulli": "0 or 1", "poisson": "a non-negative integer count",
                        "exponential": "a non-negative number", "categorical": "a known category",
                        "gaussian": "a finite number", "dense": "a finite number"}.get(col.kind, "a valid value")
                missing = " (missing values: missing='marginalize')" if v != v else ""
                return ValueError(f"column {col.key!r}, input row {row}: value {v!r} is not {what}{missing}")
        return ValueError(f"input row {row}: a value outside its column's domain")

    def statistics(self, params, data, lo, hi, post):
        fam = self.family
        K, D = params.loc.shape
        shift = np.array(np.where(fam.kinds[None, :] == pk.GAUSSIAN, params.loc, 0.0), order="C")
        g_shift = np.array(fam._dense_shift(params), order="C") if fam.dense_cols.size else np.zeros((K, 0))
        linear = (not fam.kernel_marginalize) and bool(np.isin(fam.kinds, (pk.BERNOULLI, pk.POISSON,
                                                                           pk.EXPONENTIAL)).all())
        nk, nobs, s1, s2, counts, g_s1, g_s2 = ek.product_posterior_moments(
            data[lo:hi], post, fam.kinds, fam.encoder.cat_sizes, fam.encoder.cat_offsets, shift,
            fam.kernel_marginalize, fam.encoder.n_counts, linear, fam.dense_cols, g_shift, fam.dense_type == "tied")
        Dg = fam.dense_cols.size
        g_s2 = g_s2.sum(axis=0)
        if Dg:
            g_s2 = np.tril(g_s2) + np.swapaxes(np.tril(g_s2, -1), -1, -2)
            g_s2 = g_s2[0] if fam.dense_type == "tied" else g_s2
        nk = nk.sum(axis=0)
        return ProductStats(nk, nobs.sum(axis=0) if fam.kernel_marginalize else None, s1.sum(axis=0),
                            s2.sum(axis=0), counts.sum(axis=0)[:, :fam.encoder.n_counts], shift, 0.0, float(nk.sum()),
                            g_s1.sum(axis=0) if Dg else None, g_s2 if Dg else None, g_shift if Dg else None)

    def sample(self, params, states, key, out=None):
        from dataclasses import replace

        K, D = params.loc.shape

        def draw(k, count, state_key):
            one = replace(params, weights=np.ones(1), loc=params.loc[k:k + 1], var=params.var[k:k + 1],
                          cat_probs=params.cat_probs[k:k + 1],
                          dense_means=None if params.dense_means is None else params.dense_means[k:k + 1],
                          dense_cov=None if params.dense_cov is None else (
                              params.dense_cov if self.family.dense_type == "tied" else params.dense_cov[k:k + 1]))
            return self.family.sample(one, count, state_key)[0]

        return _per_state(states, K, D, draw, key, out)


@dataclass(frozen=True)
class GMMEmissionParams:
    """hmmlearn's GMMHMM layouts: weights (K, M), means (K, M, D), covars (K, M, D, D) full, (K, D, D) tied
    (one matrix per state, shared by its M components), (K, M, D) diag, (K, M) spherical."""

    weights: np.ndarray
    means: np.ndarray
    covars: np.ndarray


class GMMEmission:
    """A Gaussian mixture per state (``engine.GMMHMM``): the K x M components are one Gaussian layer of the
    Gaussian kernels (a state's log-density is the log-sum-exp of its M terms), and the statistics are the
    Gaussian E-step moments of the K x M components weighted by state posterior x within-state
    responsibility, i.e. the ``SufficientStats`` of a K·M-component mixture (about the current means)."""

    def __init__(self, covariance_type, n_mix):
        self.covariance_type = covariance_type
        self.n_mix = n_mix
        self._cache = (None, None)

    def flat_type(self):
        """The K·M components' covariance layout: a tied state's matrix is one full matrix per component."""
        return "full" if self.covariance_type == "tied" else self.covariance_type

    def flat_covariances(self, params):
        K, M, D = params.means.shape
        c = np.asarray(params.covars, dtype=np.float64)
        if self.covariance_type == "tied":
            return np.repeat(c, M, axis=0)
        return c.reshape((K * M,) + c.shape[2:])

    def kernel_params(self, params):
        if self._cache[0] is params:
            return self._cache[1]
        K, M, D = params.means.shape
        ct = self.flat_type()
        try:
            _, prec_chol = cov.cholesky_factors(self.flat_covariances(params), ct, name="covars_")
        except ValueError as exc:
            flat = [int(i) for i in re.findall(r"covars_\[(\d+)\]", str(exc))]
            where = (f"state {flat[0] // M}, mixture component {flat[0] % M}" if flat and self.covariance_type != "tied"
                     else f"state {flat[0] // M}" if flat else "a state")
            what = re.sub(r"^covars_(\[\d+\])? ", "", str(exc))  # the flat index, renamed above
            raise ValueError(f"covars_ of {where} {what} (a component has collapsed onto too few points: give "
                             "covars_prior a ridge, or use fewer n_mix)") from None
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(params.weights, dtype=np.float64)).reshape(K * M)
        g = cov.kernel_params(log_w, np.asarray(params.means, dtype=np.float64).reshape(K * M, D), prec_chol, ct)
        g = g._replace(prec_chol=np.array(g.prec_chol, order="C"))
        self._cache = (params, g)
        return g

    def _component_frame(self, params, data, lo, hi):
        """(hi - lo, K, M) log w_km N(x | m_km, C_km)."""
        g = self.kernel_params(params)
        K, M, _ = params.means.shape
        frame = np.empty((hi - lo, K * M))
        bad = ek.state_log_frame(data[lo:hi], g.prec_chol, g.shifted_means, g.log_norm, _NO_DOFS, frame)
        if bad >= 0:
            row = lo + int(bad)
            raise ValueError(f"X row {row}: non-finite value {data[row].tolist()} (a GMMHMM step is either "
                             "complete or entirely missing, all NaN)")
        return frame.reshape(hi - lo, K, M)

    @staticmethod
    def _logsumexp(frame):
        top = frame.max(axis=2)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore", under="ignore"):
            return top + np.log(np.exp(frame - top[..., None]).sum(axis=2))

    def log_frame(self, params, data, lo, hi, out):
        out[:] = self._logsumexp(self._component_frame(params, data, lo, hi))

    def statistics(self, params, data, lo, hi, post):
        K, M, D = params.means.shape
        frame = self._component_frame(params, data, lo, hi)
        with np.errstate(under="ignore"):
            weights = np.exp(frame - self._logsumexp(frame)[..., None]) * post[:, :, None]
        g = self.kernel_params(params)
        shift = np.array(np.asarray(params.means, dtype=np.float64).reshape(K * M, D), order="C")
        nk, s1, s2 = ek.gaussian_posterior_moments(data[lo:hi], np.ascontiguousarray(weights.reshape(-1, K * M)),
                                                  g.prec_chol, shift, False)
        nk, s1, s2 = nk.sum(axis=0), s1.sum(axis=0), s2.sum(axis=0)
        if g.prec_chol.ndim == 3:
            s2 = np.tril(s2) + np.swapaxes(np.tril(s2, -1), -1, -2)
        else:
            s2 = s2[:, 0, :]
        return SufficientStats(self.flat_type(), nk, s1, s2, shift, 0.0, float(nk.sum()))

    def sample(self, params, states, key, out=None):
        """(n, D) draws, row i from state states[i]'s mixture; each state's rows from their own stream."""
        K, M, D = params.means.shape
        ct = self.covariance_type

        def draw(k, count, state_key):
            cov_chol, _ = cov.cholesky_factors(params.covars[k], ct, name="covars_")
            cum = np.cumsum(params.weights[k])
            cum[-1] = 1.0
            return _mixture_draw(count, state_key, cum, params.means[k], cov.sampling_layout(cov_chol, ct, D))

        return _per_state(states, K, D, draw, key, out)


class StudentTEmission:
    """Multivariate Student-t states (``engine.HMM(emission="student_t")``, every covariance type, dofs learned
    per state or fixed): the family's Mahalanobis blocks and t terms with the state posteriors in place of the
    mixture's responsibilities, giving the family's own ``StudentTStats`` (so its M-step, dof equation
    included, is the mixture's). params: ``StudentTParams`` (weights unused)."""

    def __init__(self, family):
        self.family = family
        self._cache = (None, None)

    def kernel_params(self, params):
        if self._cache[0] is params:
            return self._cache[1]
        from dataclasses import replace

        K = params.means.shape[0]
        kp = self.family.kernel_params(replace(params, weights=np.ones(K)))[:4]
        self._cache = (params, kp)
        return kp

    def log_frame(self, params, data, lo, hi, out):
        from ..families.student_t import _bad_row

        U, shifted, log_c, nu = self.kernel_params(params)
        bad = ek.state_log_frame(data[lo:hi], U, shifted, log_c, nu, out)
        if bad >= 0:
            raise _bad_row(data, lo + int(bad))

    def statistics(self, params, data, lo, hi, post):
        from ..families.student_t import StudentTStats
        from ..kernels.student_t import t_posterior_moments

        ct = self.family.covariance_type
        U, shifted, log_c, nu = self.kernel_params(params)
        shift = self.family.shift(params)
        nk, su, sl, s1, s2 = t_posterior_moments(data[lo:hi], post, U, shifted, log_c, nu, shift, ct == "tied")
        s2 = s2.sum(axis=0)
        if U.ndim == 3:
            s2 = np.tril(s2) + np.swapaxes(np.tril(s2, -1), -1, -2)
            s2 = s2[0] if ct == "tied" else s2
        else:
            s2 = s2[:, 0, :]
        nk = nk.sum(axis=0)
        return StudentTStats(ct, nk, su.sum(axis=0), sl.sum(axis=0), s1.sum(axis=0), s2, shift, nu.copy(), 0.0,
                             float(nk.sum()))

    def sample(self, params, states, key, out=None):
        from dataclasses import replace

        K, D = params.means.shape

        def draw(k, count, state_key):
            one = replace(params, weights=np.ones(1), means=params.means[k:k + 1], dofs=params.dofs[k:k + 1],
                          covariances=(params.covariances if self.family.covariance_type == "tied"
                                       else params.covariances[k:k + 1]))
            return self.family.sample(one, count, state_key)[0]

        return _per_state(states, K, D, draw, key, out)


@dataclass(frozen=True)
class NoStats:
    """The statistics of an emission without learnable parameters (they add as nothing)."""

    def __add__(self, other):
        return self


class CallableEmission:
    """hmmlearn's extension point: an emission given by a model's ``_compute_log_likelihood(X) -> (n, K)``
    (and, for sampling, ``_generate_sample_from_state(state, random_state)``); nothing of it is learned."""

    def __init__(self, model):
        self.model = model

    def log_frame(self, params, data, lo, hi, out):
        out[:] = np.asarray(self.model._compute_log_likelihood(data[lo:hi]), dtype=np.float64)

    def statistics(self, params, data, lo, hi, post):
        return NoStats()

    def sample(self, params, states, key, out=None):
        rs = np.random.RandomState(np.uint32(key % np.uint64(2 ** 32)))
        rows = [np.atleast_1d(np.asarray(self.model._generate_sample_from_state(int(s), rs), dtype=np.float64))
                for s in states]
        width = rows[0].size if rows else 0
        X = np.array(rows, dtype=np.float64).reshape(len(rows), width)
        if out is None:
            return X
        out = output_array(out, X.shape, np.float64, inputs=(states,))
        out[...] = X
        return out
