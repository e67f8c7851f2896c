"""The product family: mixtures whose columns are independent given the component.

Bernoulli, categorical, Poisson, exponential and diagonal/spherical Gaussian columns, alone or mixed
(latent-class and latent-profile analysis), through one generic kernel (``engine.kernels.product``).
Missing entries can be marginalised exactly: a product density over the observed columns is the
marginal of the full one.

Parameters (``ProductParams``), per component k and column j:
    weights (K,);  loc (K, D): Gaussian mean, Bernoulli P(x = 1), Poisson rate, exponential rate;
    var (K, D): Gaussian variance (1 in other columns);  cat_probs (K, n_counts): each categorical column's
    category probabilities, at its offset.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._validation import output_array

from .._staging import as_kernel_vector
from ..kernels import product as pk
from ..models import _covariance as cov
from .columns import Encoder

#: scikit-learn adds 10 machine epsilons to every component's mass so an empty component cannot divide by 0
EPS_MASS = 10 * np.finfo(np.float64).eps
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class ProductParams:
    weights: np.ndarray
    loc: np.ndarray
    var: np.ndarray
    cat_probs: np.ndarray
    #: the dense (full/tied) Gaussian block over the "dense" columns, if any: means (K, Dg) and covariances
    #: (K, Dg, Dg) full / (Dg, Dg) tied
    dense_means: np.ndarray = None
    dense_cov: np.ndarray = None


class ProductKernelParams(NamedTuple):
    """The kernels' per-component layout (see ``engine.kernels.product``); g_*: the dense block in the Gaussian
    kernels' layout (``GaussianKernelParams`` of the block, with log w left to log_w)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    cat_logp: np.ndarray
    log_w: np.ndarray
    W: np.ndarray  # (K, D) linear form of the terms (see kernels.product.linear_terms), or (0, D)
    const: np.ndarray
    g_cols: np.ndarray
    g_prec: np.ndarray
    g_shifted: np.ndarray
    g_lognorm: np.ndarray


@dataclass(frozen=True)
class ProductStats:
    """Additive E-step statistics of a product mixture (shapes in ``engine.kernels.product``).

    ``nobs`` is None when nothing was marginalised (then every column's mass is ``nk``). Statistics taken
    under different models (different shifts) refuse to add."""

    nk: np.ndarray
    nobs: object
    s1: np.ndarray
    s2: np.ndarray
    counts: np.ndarray
    shift: np.ndarray
    log_likelihood: float
    weight: float
    #: the dense block's moments about g_shift (the Gaussian E-step's layout), or None
    g_s1: np.ndarray = None
    g_s2: np.ndarray = None
    g_shift: np.ndarray = None

    def __add__(self, other):
        if not isinstance(other, ProductStats):
            return NotImplemented
        if other.s1.shape != self.s1.shape or other.counts.shape != self.counts.shape:
            raise ValueError("cannot add statistics of different shapes")
        if not np.array_equal(other.shift, self.shift) or not (
                (self.g_shift is None and other.g_shift is None) or np.array_equal(other.g_shift, self.g_shift)):
            raise ValueError("cannot add statistics taken under different models (their shifts differ)")
        if self.nobs is None and other.nobs is None:
            nobs = None
        else:
            nobs = self.observed_mass() + other.observed_mass()
        dense = self.g_s1 is not None
        return ProductStats(self.nk + other.nk, nobs, self.s1 + other.s1, self.s2 + other.s2,
                            self.counts + other.counts, self.shift, self.log_likelihood + other.log_likelihood,
                            self.weight + other.weight, self.g_s1 + other.g_s1 if dense else None,
                            self.g_s2 + other.g_s2 if dense else None, self.g_shift)

    def observed_mass(self):
        """(K, D): each column's responsibility mass over its observed entries."""
        if self.nobs is None:
            return np.repeat(self.nk[:, None], self.s1.shape[1], axis=1)
        return self.nobs

    @property
    def mean_log_likelihood(self):
        return self.log_likelihood / self.weight if self.weight > 0 else -np.inf


class ProductFamily:
    """Columns (``engine.families.columns.Column``) with their kinds; ``spherical``: groups of Gaussian
    column positions that share one variance per component; ``marginalize``: leave missing entries out."""

    name = "product"

    def __init__(self, columns, *, spherical=(), marginalize=False, unknown="error", dense_type=None):
        self.encoder = Encoder(columns, unknown=unknown)
        self.columns = self.encoder.columns
        #: positions of the dense (full/tied covariance) Gaussian block's columns, and its covariance type
        self.dense_cols = np.array([j for j, c in enumerate(self.columns) if c.kind == "dense"], dtype=np.int64)
        self.dense_type = dense_type if self.dense_cols.size else None
        if self.dense_cols.size and dense_type not in ("full", "tied"):
            raise ValueError(f"dense Gaussian columns need dense_type 'full' or 'tied', got {dense_type!r}")
        self.spherical = [np.asarray(g, dtype=np.int64) for g in spherical]
        self.marginalize = bool(marginalize)
        self.kernel_marginalize = self.marginalize or unknown == "ignore"
        self.kinds = self.encoder.kinds

    @property
    def n_features(self):
        return len(self.columns)

    # ------------------------------------------------------------------ parameters -> kernel layouts
    def kernel_params(self, params):
        K, D = params.loc.shape
        kinds = self.kinds
        a = np.zeros((K, D))
        b = np.zeros((K, D))
        c = np.zeros((K, D))
        with np.errstate(divide="ignore"):
            for j, kind in enumerate(kinds):
                loc = params.loc[:, j]
                if kind == pk.GAUSSIAN:
                    sd = np.sqrt(params.var[:, j])
                    a[:, j] = loc / sd
                    b[:, j] = 1.0 / sd
                    c[:, j] = -np.log(sd) - _HALF_LOG_2PI
                elif kind == pk.BERNOULLI:
                    a[:, j] = np.log(loc)
                    b[:, j] = np.log1p(-loc)
                elif kind == pk.POISSON:
                    a[:, j] = np.log(loc)
                    b[:, j] = loc
                elif kind == pk.EXPONENTIAL:
                    a[:, j] = loc
                    b[:, j] = np.log(loc)
            cat_logp = np.log(params.cat_probs) if params.cat_probs.size else np.zeros((K, 1))
            log_w = np.log(params.weights)
        # every column linear in x (Bernoulli, Poisson, exponential), nothing missing, every parameter inside
        # its domain (a probability of exactly 0 or 1 would make the linear form 0 * inf): a matrix product
        linear = (not self.kernel_marginalize and np.isin(kinds, (pk.BERNOULLI, pk.POISSON, pk.EXPONENTIAL)).all()
                  and np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(log_w).all())
        if linear:
            W = np.where(kinds == pk.BERNOULLI, a - b, np.where(kinds == pk.POISSON, a, -a))
            const = log_w + np.where(kinds == pk.BERNOULLI, b, np.where(kinds == pk.POISSON, -b, b)).sum(axis=1)
        else:
            W, const = np.zeros((0, D)), np.zeros(0)
        g = self._dense_kernel_params(params, K)
        return ProductKernelParams(a, b, c, np.array(cat_logp, order="C"), np.array(log_w, order="C"),
                                   np.array(W, order="C"), np.array(const, order="C"), *g)

    def _dense_kernel_params(self, params, K):
        """(g_cols, g_prec, g_shifted, g_lognorm) of the dense block; empty arrays when there is none."""
        if not self.dense_cols.size:
            return self.dense_cols, np.zeros((1, 0, 0)), np.zeros((K, 0)), np.zeros(K)
        _, prec_chol = cov.cholesky_factors(params.dense_cov, self.dense_type)
        g = cov.kernel_params(np.zeros(K), np.asarray(params.dense_means, dtype=np.float64), prec_chol,
                              self.dense_type)
        return self.dense_cols, np.array(g.prec_chol, order="C"), g.shifted_means, g.log_norm

    def _dense_shift(self, params):
        if not self.dense_cols.size:
            return np.zeros((params.weights.shape[0], 0))
        from ..estimation.em_stats import _shift

        return _shift(params.dense_means, params.weights, self.dense_type)

    def check_params(self, params):
        """Validate parameter values (a clear error naming the parameter and entry)."""
        K, D = params.loc.shape
        if D != self.n_features:
            raise ValueError(f"parameters have {D} columns, the family has {self.n_features}")
        for j, col in enumerate(self.columns):
            v = params.loc[:, j]
            kind = col.kind
            if kind == "gaussian":
                bad = ~np.isfinite(v) | ~(params.var[:, j] > 0) | ~np.isfinite(params.var[:, j])
                what = "finite means and positive finite variances"
            elif kind == "bernoulli":
                bad = ~((v >= 0) & (v <= 1))
                what = "probabilities in [0, 1]"
            elif kind == "poisson":
                bad = ~((v >= 0) & np.isfinite(v))
                what = "finite rates >= 0"
            elif kind == "exponential":
                bad = ~((v > 0) & np.isfinite(v))
                what = "finite rates > 0"
            elif kind == "dense":
                continue  # checked as a block below
            else:
                lo = self.encoder.cat_offsets[j]
                p = params.cat_probs[:, lo:lo + col.n_categories]
                bad = ~(np.all(p >= 0, axis=1) & (np.abs(p.sum(axis=1) - 1) <= 1e-6))
                what = "category probabilities >= 0 summing to 1"
            if np.any(bad):
                k = int(np.argmax(bad))
                raise ValueError(f"column {col.key!r} ({kind}): component {k} has bad parameters (need {what})")
        if self.dense_cols.size:
            Dg = self.dense_cols.size
            if params.dense_means is None or np.shape(params.dense_means) != (K, Dg):
                raise ValueError(f"the full/tied Gaussian entry needs means of shape ({K}, {Dg})")
            cov.validate_covariances(params.dense_cov, self.dense_type, K, Dg)
            cov.cholesky_factors(params.dense_cov, self.dense_type)

    # ------------------------------------------------------------------ data passes
    def _chunks(self, X):
        self.encoder.check_columns(X)
        return self.encoder.chunks(X)

    def statistics(self, X, sample_weight, params, mode=pk.POSTERIOR, key=0):
        """E-step statistics of X under ``params`` (one pass; see ``ProductStats``)."""
        kp = self.kernel_params(params)
        K, D = params.loc.shape
        shift = np.where(self.kinds[None, :] == pk.GAUSSIAN, params.loc, 0.0)
        shift = np.array(shift, order="C")
        g_shift = np.array(self._dense_shift(params), order="C")
        w_all = as_kernel_vector(sample_weight)
        total = None
        any_rows = False
        for start, chunk in self._chunks(X):
            m = chunk.shape[0]
            if m == 0:
                continue
            any_rows = True
            w = w_all[start:start + m] if w_all.size else w_all
            out = pk.product_statistics(chunk, w, self.kinds, self.encoder.cat_sizes, self.encoder.cat_offsets,
                                        kp.a, kp.b, kp.c, kp.cat_logp, kp.log_w, shift, self.kernel_marginalize,
                                        self.encoder.n_counts, mode, np.uint64(key), start, kp.W, kp.const,
                                        kp.g_cols, kp.g_prec, kp.g_shifted, kp.g_lognorm, g_shift,
                                        self.dense_type == "tied")
            if out[7] >= 0:
                raise self.encoder.describe_bad_row(X, start + int(out[7]), self.kernel_marginalize)
            sums = [a.sum(axis=0) for a in out[:5]] + [out[5].sum(), out[6].sum(), out[8].sum(axis=0),
                                                       out[9].sum(axis=0)]
            total = sums if total is None else [x + y for x, y in zip(total, sums)]
        Dg = self.dense_cols.size
        if not any_rows:
            total = [np.zeros(K), np.zeros((K, D)), np.zeros((K, D)), np.zeros((K, D)),
                     np.zeros((K, max(self.encoder.n_counts, 1))), 0.0, 0.0, np.zeros((K, Dg)),
                     np.zeros((1 if self.dense_type == "tied" else K, Dg, Dg))]
        nk, nobs, s1, s2, counts, ll, wt, g_s1, g_s2 = total
        if Dg:
            g_s2 = np.tril(g_s2) + np.swapaxes(np.tril(g_s2, -1), -1, -2)  # the kernel fills the lower triangle
            g_s2 = g_s2[0] if self.dense_type == "tied" else g_s2
        return ProductStats(nk, nobs if self.kernel_marginalize else None, s1, s2,
                            counts[:, :self.encoder.n_counts], shift, float(ll), float(wt),
                            g_s1 if Dg else None, g_s2 if Dg else None, g_shift if Dg else None)

    def log_density(self, X, params, responsibilities=False, row_offset=0, out=None, resp_out=None):
        """log p(x) (n,) and, if asked, the responsibilities (n, K). row_offset: added to the row numbers in
        errors (for a batch of a larger input)."""
        from .columns import n_rows

        kp = self.kernel_params(params)
        n = n_rows(X)
        K = params.weights.shape[0]
        # out / resp_out: caller-owned float64 outputs (engine.Mixture's out= and predict_proba's out=)
        out = output_array(out, (n,), np.float64, inputs=(X,))
        resp = (output_array(resp_out, (n, K), np.float64, name="resp_out", inputs=(X, out)) if responsibilities
                else np.empty((0, K)))
        for start, chunk in self._chunks(X):
            m = chunk.shape[0]
            r = resp[start:start + m] if responsibilities else resp
            bad = pk.product_log_density(chunk, self.kinds, self.encoder.cat_sizes, self.encoder.cat_offsets,
                                         kp.a, kp.b, kp.c, kp.cat_logp, kp.log_w, self.kernel_marginalize,
                                         kp.W, kp.const, kp.g_cols, kp.g_prec, kp.g_shifted, kp.g_lognorm,
                                         out[start:start + m], r)
            if bad >= 0:
                raise self.encoder.describe_bad_row(X, start + int(bad), self.kernel_marginalize, row_offset)
        return (out, resp) if responsibilities else out

    def log_density_codes(self, codes, params):
        """log p(x) of an already-encoded float64 (n, D) code matrix (e.g. this family's own samples)."""
        kp = self.kernel_params(params)
        out = np.empty(codes.shape[0])
        bad = pk.product_log_density(codes, self.kinds, self.encoder.cat_sizes, self.encoder.cat_offsets, kp.a, kp.b,
                                     kp.c, kp.cat_logp, kp.log_w, self.kernel_marginalize, kp.W, kp.const,
                                     kp.g_cols, kp.g_prec, kp.g_shifted, kp.g_lognorm, out,
                                     np.empty((0, params.weights.shape[0])))
        if bad >= 0:
            raise ValueError(f"row {bad} of the code matrix is outside its column's domain")
        return out

    # ------------------------------------------------------------------ M-step
    def m_step(self, stats, reg_covar=1e-6):
        """ProductParams maximising the expected complete-data log-likelihood of ``stats``."""
        nk = stats.nk + EPS_MASS
        weights = nk / nk.sum()
        mass = stats.observed_mass() + EPS_MASS
        K, D = stats.s1.shape
        loc = np.empty((K, D))
        var = np.ones((K, D))
        cat_probs = np.empty_like(stats.counts)
        for j, col in enumerate(self.columns):
            kind = col.kind
            if kind == "gaussian":
                d = stats.s1[:, j] / mass[:, j]
                loc[:, j] = stats.shift[:, j] + d
                var[:, j] = stats.s2[:, j] / mass[:, j] - d * d + reg_covar
            elif kind in ("bernoulli", "poisson"):
                loc[:, j] = stats.s1[:, j] / mass[:, j]
                if kind == "bernoulli":
                    loc[:, j] = np.clip(loc[:, j], 0.0, 1.0)
            elif kind == "exponential":
                loc[:, j] = mass[:, j] / (stats.s1[:, j] + EPS_MASS)
            elif kind == "dense":
                continue  # the block's update below
            else:
                lo = self.encoder.cat_offsets[j]
                hi = lo + col.n_categories
                cat_probs[:, lo:hi] = stats.counts[:, lo:hi] / mass[:, j:j + 1]
                cat_probs[:, lo:hi] /= cat_probs[:, lo:hi].sum(axis=1, keepdims=True)
                loc[:, j] = 0.0
        for group in self.spherical:
            # one variance per component over the group's columns: pooled over their observed entries
            d = stats.s1[:, group] / mass[:, group]
            pooled = (stats.s2[:, group] - mass[:, group] * d * d).sum(axis=1) / mass[:, group].sum(axis=1)
            var[:, group] = (pooled + reg_covar)[:, None]
        dense_means = dense_cov = None
        if self.dense_cols.size:
            from ..estimation.em_stats import SufficientStats
            from ..estimation.em import m_step as gaussian_m_step

            g = SufficientStats(self.dense_type, stats.nk, stats.g_s1, stats.g_s2, stats.g_shift, 0.0, 0.0)
            _, dense_means, dense_cov = gaussian_m_step(g, self.dense_type, reg_covar)
            loc[:, self.dense_cols] = dense_means
        return ProductParams(weights, loc, var, cat_probs, dense_means, dense_cov)

    # ------------------------------------------------------------------ initialisation
    def initialize(self, X, sample_weight, K, init_params, key, reg_covar):
        """Initial ProductParams.

        "random": random responsibilities (keyed by row), then an M-step (scikit-learn's "random").
        "random_from_data": K distinct random rows as seeds. "kmeans"/"k-means++": k-means++ seeding on the
        code matrix (missing entries at the column mean), then, for "kmeans", one hard assignment pass
        under the seeds' model and an M-step (classification EM). A seed's model puts half its mass on the
        seed's own value and half on the column's overall distribution, so no category or count starts at
        probability 0.
        """
        from .columns import n_rows

        n = n_rows(X)
        if init_params == "random":
            dummy = self._global_params(X, sample_weight, K, reg_covar)
            stats = self.statistics(X, sample_weight, dummy, pk.RANDOM, key)
            return self.m_step(stats, reg_covar)
        codes = self._seed_rows(X, n, K, init_params, key, sample_weight)
        base = self._global_params(X, sample_weight, K, reg_covar)
        params = self._seeded_params(codes, base, K)
        if init_params == "kmeans":
            stats = self.statistics(X, sample_weight, params, pk.HARD, key)
            params = self.m_step(stats, reg_covar)
        return params

    def _global_params(self, X, sample_weight, K, reg_covar):
        """K copies of the one-component fit (the overall distribution of every column)."""
        one = ProductParams(np.ones(1), np.zeros((1, self.n_features)), np.ones((1, self.n_features)),
                            np.full((1, self.encoder.n_counts), 1.0))
        # an HARD pass with one component assigns every row to it: the statistics of the whole data
        stats = self.statistics(X, sample_weight, _valid_dummy(self, one), pk.HARD, 0)
        p = self.m_step(stats, reg_covar)
        dense_means = dense_cov = None
        if self.dense_cols.size:
            dense_means = np.repeat(p.dense_means, K, axis=0)
            dense_cov = p.dense_cov if self.dense_type == "tied" else np.repeat(p.dense_cov, K, axis=0)
        return ProductParams(np.full(K, 1.0 / K), np.repeat(p.loc, K, axis=0), np.repeat(p.var, K, axis=0),
                             np.repeat(p.cat_probs, K, axis=0), dense_means, dense_cov)

    def _seed_rows(self, X, n, K, init_params, key, sample_weight):
        rng = np.random.default_rng(int(key))
        if init_params == "random_from_data" or n <= K:
            idx = np.sort(rng.choice(n, size=K, replace=False))
        else:
            from ..kernels.kmeans import kmeans_plusplus

            m = min(n, 1 << 16)
            cand = np.sort(rng.choice(n, size=m, replace=False))
            rows = self._rows(X, cand)
            filled = np.where(np.isnan(rows), np.nanmean(np.where(np.isnan(rows), np.nan, rows), axis=0), rows)
            filled = np.nan_to_num(filled)
            sd = filled.std(axis=0)
            filled = np.ascontiguousarray(filled / np.where(sd > 0, sd, 1.0))
            w = sample_weight[cand] if sample_weight.size else np.empty(0)
            idx = cand[kmeans_plusplus(filled, np.ascontiguousarray(w, dtype=np.float64), K, np.uint64(key))]
        return self._rows(X, idx)

    def _rows(self, X, idx):
        """The code matrix of rows ``idx`` (sorted) of X."""
        from .columns import NamedArray, is_frame, is_table

        if isinstance(X, NamedArray):
            sub = NamedArray(X.array[idx], X.keys)
        elif is_table(X):
            import pyarrow as pa

            sub = X.take(pa.array(idx))
        elif is_frame(X):
            sub = X.iloc[idx]
        else:
            sub = np.asarray(X)[idx]
        self.encoder.check_columns(sub)
        return np.concatenate([c.copy() for _, c in self.encoder.chunks(sub)]) if len(idx) else np.empty((0, self.n_features))

    def _seeded_params(self, codes, base, K):
        loc = base.loc.copy()
        var = base.var.copy()
        cat = base.cat_probs.copy()
        for j, col in enumerate(self.columns):
            v = codes[:, j]
            obs = ~np.isnan(v)
            kind = col.kind
            if kind == "gaussian":
                loc[obs, j] = v[obs]
            elif kind == "bernoulli":
                loc[obs, j] = 0.5 * v[obs] + 0.5 * base.loc[0, j]
            elif kind == "poisson":
                loc[obs, j] = 0.5 * v[obs] + 0.5 * base.loc[0, j]
            elif kind == "exponential":
                loc[obs, j] = 1.0 / (0.5 / base.loc[0, j] + 0.5 * v[obs])
            elif kind == "dense":
                loc[:, j] = v  # complete rows: every seed has its value
            else:
                lo = self.encoder.cat_offsets[j]
                for k in np.flatnonzero(obs):
                    row = 0.5 * cat[k, lo:lo + col.n_categories]
                    row[int(v[k])] += 0.5
                    cat[k, lo:lo + col.n_categories] = row
        dense_means = loc[:, self.dense_cols].copy() if self.dense_cols.size else None
        return ProductParams(np.full(K, 1.0 / K), loc, var, cat, dense_means, base.dense_cov)

    # ------------------------------------------------------------------ sampling and counting
    def sample(self, params, n, key, offset=0, out=None, labels_out=None):
        """(X codes (n, D) float64, labels (n,)) from the counter-based stream ``key``; ``out`` and
        ``labels_out``: caller-owned arrays of those shapes to draw into (checked by the caller)."""
        K, D = params.loc.shape
        cum = np.cumsum(params.weights)
        cum[-1] = 1.0
        loc = params.loc.copy()
        scale = np.sqrt(params.var)
        loc[:, self.kinds == pk.EXPONENTIAL] = 1.0 / params.loc[:, self.kinds == pk.EXPONENTIAL]
        cat_cum = np.zeros((K, max(self.encoder.n_counts, 1)))
        for j, col in enumerate(self.columns):
            if col.kind == "categorical":
                lo = self.encoder.cat_offsets[j]
                cc = np.cumsum(params.cat_probs[:, lo:lo + col.n_categories], axis=1)
                cc[:, -1] = 1.0
                cat_cum[:, lo:lo + col.n_categories] = cc
        out = np.empty((n, D)) if out is None else out
        labels = np.empty(n, dtype=np.int64) if labels_out is None else labels_out
        if self.dense_cols.size:
            chol, _ = cov.cholesky_factors(params.dense_cov, self.dense_type)
            g_means = np.array(params.dense_means, dtype=np.float64, order="C")
            g_chol = np.array(chol[None] if self.dense_type == "tied" else chol, order="C")
        else:
            g_means, g_chol = np.zeros((K, 0)), np.zeros((1, 0, 0))
        pk.product_sample(np.uint64(key), offset, np.array(cum, order="C"), self.kinds, self.encoder.cat_offsets,
                          self.encoder.cat_sizes, np.array(loc, order="C"), np.array(scale, order="C"),
                          cat_cum, self.dense_cols, g_means, g_chol, out, labels)
        return out, labels

    def n_parameters(self, K):
        """Free parameters: K - 1 weights plus, per component, each column's (C - 1 for categorical)."""
        per = 0
        spherical_cols = set(int(j) for g in self.spherical for j in g)
        for j, col in enumerate(self.columns):
            if col.kind == "gaussian":
                per += 1 if j in spherical_cols else 2
            elif col.kind == "categorical":
                per += col.n_categories - 1
            elif col.kind == "dense":
                per += 1  # its mean; the covariance below
            else:
                per += 1
        per += len(self.spherical)
        Dg = self.dense_cols.size
        dense_cov = (K if self.dense_type == "full" else 1) * Dg * (Dg + 1) // 2
        return K * per + K - 1 + dense_cov


def _valid_dummy(family, one):
    """A one-component parameter set valid for any column kind (a HARD pass ignores its values)."""
    loc = np.where(family.kinds == pk.BERNOULLI, 0.5, 1.0)[None, :]
    cat = np.zeros((1, family.encoder.n_counts))
    for j, col in enumerate(family.columns):
        if col.kind == "categorical":
            lo = family.encoder.cat_offsets[j]
            cat[:, lo:lo + col.n_categories] = 1.0 / col.n_categories
    Dg = family.dense_cols.size
    dense_means = np.zeros((1, Dg)) if Dg else None
    dense_cov = (np.eye(Dg) if family.dense_type == "tied" else np.eye(Dg)[None]) if Dg else None
    return ProductParams(one.weights, loc, np.ones_like(loc), cat, dense_means, dense_cov)
