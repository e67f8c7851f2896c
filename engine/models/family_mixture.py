"""``engine.Mixture``: mixtures of any family through the one EM loop.

``family`` is "gaussian" (with ``covariance_type``; the same model and numbers as ``GaussianMixture``, which
it runs), "bernoulli", "categorical", "poisson", "exponential", or a dict ``{column: family}`` for
mixed-type tables (columns independent given the component: latent-class / latent-profile analysis).
A dict key is a column name (tables, DataFrames) or index (arrays), or a tuple of them; a value is a
family name or ``("gaussian", covariance_type)`` for a Gaussian entry over several columns: "diag" (the
default) or "spherical" keep its columns independent given the component; "full" or "tied" make them one
jointly Gaussian block (at most one such entry; its columns need complete rows). Columns not named in the
dict are not modelled.

Missing values: ``missing="error"`` (a clear error naming the column and input row) or "marginalize":
a null/NaN entry is left out of that point's likelihood and statistics, exactly (product families and
diagonal/spherical Gaussians).
"""
import numbers

import numpy as np

from .. import _random
from .._registry import register
from .._sklearn_compat import EstimatorParams, check_em_numbers, not_fitted
from .._validation import check_n_samples, output_array
from ..families.columns import Column, NamedArray, column_keys, fit_categories, is_frame, is_table, n_rows
from ..families.product import ProductFamily, ProductParams
from . import _covariance as cov
from .mixture import INIT_PARAMS, GaussianMixture

PRODUCT_FAMILIES = ("bernoulli", "categorical", "poisson", "exponential")
FAMILIES = ("gaussian",) + PRODUCT_FAMILIES + ("student_t",)
_PARAM_NAME = {"bernoulli": "probs", "poisson": "rates", "exponential": "rates", "categorical": "probs"}


@register
class Mixture(EstimatorParams):
    """A K-component mixture of one family (or of a mixed-type product), fitted by EM.

    Fitted attributes: ``weights_`` (K,), ``lower_bound_``, ``n_iter_``, ``converged_``, ``n_features_in_``,
    and by family: gaussian ``means_``, ``covariances_`` (GaussianMixture's layouts); bernoulli ``probs_``
    (K, D) = P(x_d = 1 | k); categorical ``probs_`` (a list of D arrays (K, C_d)) and ``categories_``;
    poisson/exponential ``rates_`` (K, D); a dict family ``params_[entry]`` holding the entry's parameters
    by those names (``"means"``, ``"covariances"``, ``"probs"``, ``"categories"``, ``"rates"``).
    """

    _PARAM_NAMES = ("n_components", "family", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
                    "init_params", "weights_init", "params_init", "random_state", "warm_start", "verbose",
                    "verbose_interval", "missing", "unknown", "dof", "device")

    def __init__(self, n_components=1, *, family="gaussian", covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None, params_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10, missing="error",
                 unknown="error", dof=None, device="cpu"):
        self.n_components = n_components
        self.family = family
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.params_init = params_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.missing = missing
        self.unknown = unknown
        self.dof = dof
        self.device = device

    # ------------------------------------------------------------------ scikit-learn protocol
    def __sklearn_is_fitted__(self):
        return hasattr(self, "weights_")

    def __sklearn_tags__(self):
        from .._sklearn_compat import density_estimator_tags

        return density_estimator_tags(self)

    def _check_fitted(self):
        if not hasattr(self, "weights_"):
            raise not_fitted(self)

    # ------------------------------------------------------------------ which family
    def _uses_gaussian_mixture(self):
        return self.family == "gaussian" and self.missing == "error"

    def _check_hyperparameters(self):
        check_em_numbers(self)
        if self.missing not in ("error", "marginalize"):
            raise ValueError(f"parameter 'missing' must be 'error' or 'marginalize', got {self.missing!r}")
        if self.unknown not in ("error", "ignore"):
            raise ValueError(f"parameter 'unknown' must be 'error' or 'ignore', got {self.unknown!r}")
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"parameter 'init_params' must be one of {INIT_PARAMS}, got {self.init_params!r}")
        if self.device not in ("cpu", "auto", None):
            if not self._uses_gaussian_mixture():
                raise ValueError(f"device={self.device!r}: the {self._family_label()} family runs on the CPU only "
                                 "(CUDA kernels exist for Gaussian mixtures); use device='cpu'")
        if not isinstance(self.family, (str, dict)):
            raise ValueError(f"parameter 'family' must be one of {FAMILIES} or a dict {{column: family}}, "
                             f"got {self.family!r}")
        if self.family == "student-t":
            self.family = "student_t"
        if self.family == "student_t" and self.missing != "error":
            raise ValueError("missing='marginalize' is for product families; the Student-t family needs complete rows")
        if isinstance(self.family, str) and self.family not in FAMILIES:
            raise ValueError(f"parameter 'family' must be one of {FAMILIES} or a dict {{column: family}}, "
                             f"got {self.family!r}")

    def _family_label(self):
        return self.family if isinstance(self.family, str) else "mixed"

    def _entries(self, X):
        """[(entry key, family name, covariance_type, [column keys])] for the columns of X."""
        keys = column_keys(X)
        if isinstance(self.family, str):
            if self.family == "gaussian":
                return [(None, "gaussian", self.covariance_type, keys)]
            return [(None, self.family, None, keys)]
        entries = []
        seen = set()
        for entry, spec in self.family.items():
            cols = list(entry) if isinstance(entry, tuple) else [entry]
            if isinstance(spec, tuple):
                name, ct = spec
            else:
                name, ct = spec, "diag"
            if name not in FAMILIES:
                raise ValueError(f"family[{entry!r}] must be one of {FAMILIES}, got {name!r}")
            if name == "gaussian" and ct not in ("diag", "spherical", "full", "tied"):
                raise ValueError(f"family[{entry!r}]: covariance_type must be 'full', 'tied', 'diag' or 'spherical', "
                                 f"got {ct!r}")
            if name == "student_t":
                raise ValueError(f"family[{entry!r}]: student_t is a whole-row family; fit family='student_t'")
            for c in cols:
                if c not in keys:
                    raise ValueError(f"family names column {c!r}, which X does not have (its columns: {keys})")
                if c in seen:
                    raise ValueError(f"column {c!r} appears in two entries of the family dict")
                seen.add(c)
            entries.append((entry, name, ct, cols))
        if not entries:
            raise ValueError("the family dict is empty: name at least one column")
        dense = [e for e, name, ct, _ in entries if name == "gaussian" and ct in ("full", "tied")]
        if len(dense) > 1:
            raise ValueError(f"at most one full/tied Gaussian entry per mixed family (got {dense}); put their columns "
                             "in one entry (a block covariance over all of them), or make some 'diag'")
        return entries

    def _build_family(self, X, category_source=None):
        """The family object for X's columns (ProductFamily: categories from ``category_source(column)``, a
        streamed fit's union over every batch, or from X itself; StudentTFamily)."""
        if self.family == "student_t":
            from ..families.student_t import StudentTFamily

            self._entries_ = []
            return StudentTFamily(self.covariance_type, self.dof, len(column_keys(X)))
        entries = self._entries(X)
        columns = []
        spherical = []
        dense_type = None
        if isinstance(self.family, str) and self.family == "gaussian" and self.covariance_type in ("full", "tied"):
            raise ValueError(f"missing='marginalize' needs columns independent given the component: "
                             f"covariance_type 'diag' or 'spherical', got {self.covariance_type!r}")
        for _, name, ct, cols in entries:
            if name == "gaussian" and ct in ("full", "tied"):
                # the dense block: joint Gaussian columns (complete rows), through the Gaussian kernels
                name, dense_type = "dense", ct
            first = len(columns)
            for c in cols:
                if name != "categorical":
                    cats = None
                else:
                    cats = category_source(c) if category_source is not None else fit_categories(X, c)
                if cats is not None and len(cats) == 0:
                    raise ValueError(f"column {c!r} has no non-null value to learn categories from")
                columns.append(Column(c, name, cats))
            if name == "gaussian" and ct == "spherical":
                spherical.append(list(range(first, len(columns))))
        self._entries_ = entries
        return ProductFamily(columns, spherical=spherical, marginalize=self.missing == "marginalize",
                             unknown=self.unknown, dense_type=dense_type)

    # ------------------------------------------------------------------ fitting
    def _gaussian_mixture(self):
        gm = GaussianMixture(self.n_components, covariance_type=self.covariance_type, tol=self.tol,
                             reg_covar=self.reg_covar, max_iter=self.max_iter, n_init=self.n_init,
                             init_params=self.init_params, weights_init=self.weights_init,
                             random_state=self.random_state, warm_start=self.warm_start, verbose=self.verbose,
                             verbose_interval=self.verbose_interval, device=self.device or "cpu")
        p = self.params_init or {}
        unknown = set(p) - {"means", "covariances", "precisions"}
        if unknown:
            raise ValueError(f"params_init for the gaussian family takes 'means' and 'covariances' "
                             f"(or 'precisions'), got {sorted(unknown)}")
        if "means" in p:
            gm.means_init = p["means"]
        if "covariances" in p:
            from . import _covariance as cov

            c = np.asarray(p["covariances"], dtype=np.float64)
            try:
                _, prec_chol = cov.cholesky_factors(cov.validate_covariances(c, self.covariance_type, self.n_components,
                                                                             c.shape[-1]), self.covariance_type)
            except ValueError as exc:
                raise ValueError(f"params_init['covariances']: {exc}") from None
            gm.precisions_init = cov.precisions(prec_chol, self.covariance_type)
        if "precisions" in p:
            gm.precisions_init = p["precisions"]
        if self.warm_start and hasattr(self, "_gm"):
            gm.__dict__.update({k: v for k, v in self._gm.__dict__.items() if k.endswith("_") and k != "_gm"})
        return gm

    def fit(self, X, y=None, sample_weight=None):
        """Fit by EM (best of ``n_init`` runs); X: array (columns by index), Arrow table or DataFrame."""
        self._fit(X, sample_weight)
        return self

    def _fit(self, X, sample_weight):
        self._check_hyperparameters()
        if self._uses_gaussian_mixture():
            self._gm = self._gaussian_mixture().fit(X, sample_weight=sample_weight)
            self._sync_from_gaussian()
            return
        from ..estimation.em import _check_sample_weight

        n = n_rows(X) if (is_table(X) or is_frame(X)) else len(np.asarray(X))
        self._check_n_rows(n)
        warm = self._warm()
        names = None
        if self.family in ("student_t", "student-t"):
            from .._validation import as_float_array

            names = column_keys(X) if (is_table(X) or is_frame(X)) else None
            X = as_float_array(X)  # once, not per EM pass
            finite = np.isfinite(X).all(axis=1)
            if not finite.all():
                from ..families.student_t import _bad_row

                raise _bad_row(X, int(np.argmin(finite)))
        if not warm:
            if not (is_table(X) or is_frame(X)):
                X = _as_2d(X)
            self._fit_keys = column_keys(X)
            self._family_obj = self._build_family(X)
            if names is not None:  # a t mixture fitted on a table: scored by these names afterwards
                self._fit_keys = names
        else:
            X = self._input(X)
        fam = self._family_obj
        w = _check_sample_weight(sample_weight, n)
        self._run_family_em(fam, X, w, lambda params: fam.statistics(X, w, params), _random.stream_key(self.random_state),
                            start=self._params if warm else None, stacklevel=5)

    def fit_stream(self, batches, init_sample_size=1 << 18, on_iteration=None):
        """Exact out-of-core EM: every iteration is one pass over ``batches`` summing the family's statistics.

        batches: a callable returning a fresh iterable of batches on each call, or a re-iterable (a list);
        a batch is an array, Arrow table/record batch or DataFrame, each pass yielding the same rows.
        A first pass learns the categories (their union over every batch) and draws the initialisation's
        sample of at most ``init_sample_size`` rows (bottom-k by a key of the row's position in the stream,
        so it does not depend on the batching). From the same start the result equals ``fit`` on the
        concatenated rows (up to the summation order).
        """
        from ..families.columns import bottom_k_rows

        self._check_hyperparameters()
        if self._uses_gaussian_mixture():
            self._gm = self._gaussian_mixture().fit_stream(batches, init_sample_size, on_iteration)
            self._sync_from_gaussian()
            return self
        if callable(batches):
            passes = batches
        else:
            if iter(batches) is batches:
                raise TypeError("fit_stream needs a callable returning batches, or a re-iterable; got a one-shot iterator")
            passes = lambda: batches  # noqa: E731
        key = _random.stream_key(self.random_state)
        sample, n = bottom_k_rows((b if (is_table(b) or is_frame(b)) else _as_2d(b) for b in passes()),
                                  init_sample_size, key)
        if n == 0:
            raise ValueError("fit_stream got no rows")
        self._check_n_rows(n)
        self._fit_keys = column_keys(sample)
        cat_cols = [c for _, name, _, cols in self._entries(sample) if name == "categorical" for c in cols]
        categories = _union_categories(passes(), cat_cols) if cat_cols else {}  # one pass for every column
        self._family_obj = fam = self._build_family(sample, category_source=categories.__getitem__)

        def statistics(params):
            total = None
            for X in passes():
                if n_rows(X) == 0:
                    continue
                s = fam.statistics(X if (is_table(X) or is_frame(X)) else _as_2d(X), np.empty(0), params)
                total = s if total is None else total + s
            return total

        self._run_family_em(fam, sample, np.empty(0), statistics, key, on_iteration=on_iteration)
        self.init_sample_ = sample
        self.stream_rows_ = n
        return self

    def _run_family_em(self, fam, X_init, w_init, statistics, key, start=None, on_iteration=None, stacklevel=4):
        """``engine.em.run_em`` for this mixture's family, whatever computes the statistics (in memory,
        streamed, Dask); X_init/w_init feed the initialisation; then the fitted attributes."""
        from ..em import run_em, warn_not_converged

        init = self._init_override(fam)
        result = run_em(
            initialize=lambda k: init if init is not None else self._initialize(fam, X_init, w_init, k),
            statistics=statistics, m_step=lambda stats: fam.m_step(stats, self.reg_covar),
            install=lambda params, where: self._check_step(fam, params, where), base_key=key,
            n_init=self.n_init, max_iter=self.max_iter, tol=self.tol, start=start,
            start_bound=self.lower_bound_ if start is not None else -np.inf, on_iteration=on_iteration,
            verbose=self.verbose, verbose_interval=self.verbose_interval)
        self._install(fam, result.params)
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        if not result.converged and self.max_iter > 0:
            warn_not_converged(stacklevel=stacklevel)

    def _check_n_rows(self, n):
        # scikit-learn's wording (its tests match it)
        if n < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {n}: use fewer components or more data")

    def _warm(self):
        return self.warm_start and hasattr(self, "_params")

    def _input(self, X):
        """X for the family's encoder: tables and DataFrames as they are; an array positionally, its columns
        named as in fit when fit saw names."""
        if is_table(X) or is_frame(X):
            return X
        X = _as_2d(X)
        keys = getattr(self, "_fit_keys", None)
        if keys is not None and not all(isinstance(k, numbers.Integral) for k in keys):
            if X.shape[1] != len(keys):
                raise ValueError(f"X has {X.shape[1]} features, but Mixture is expecting {len(keys)} features as input.")
            return NamedArray(X, keys)
        return X

    def _initialize(self, fam, X, w, key):
        params = fam.initialize(X, w, self.n_components, self.init_params, key, self.reg_covar)
        if self.weights_init is not None:
            from dataclasses import replace

            params = replace(params, weights=self._weights_init())
        return params

    def _weights_init(self):
        w = np.asarray(self.weights_init, dtype=np.float64)
        if w.shape != (self.n_components,) or np.any(~np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1) > 1e-6:
            raise ValueError(f"parameter 'weights_init' must be ({self.n_components},) non-negative weights summing "
                             f"to 1, got {self.weights_init!r}")
        return w / w.sum()

    def _init_override(self, fam):
        """ProductParams from ``params_init`` (named by the family's attribute names), or None."""
        if self.params_init is None:
            return None
        K = self.n_components
        weights = self._weights_init() if self.weights_init is not None else np.full(K, 1.0 / K)
        if getattr(fam, "name", "") == "student_t":
            from ..families.student_t import INITIAL_DOF, StudentTParams

            p = self.params_init
            unknown = set(p) - {"means", "covariances", "dofs"}
            if unknown or "means" not in p or "covariances" not in p:
                raise ValueError("params_init for the student_t family takes 'means', 'covariances' and optionally "
                                 f"'dofs'; got {sorted(p)}")
            dofs = np.asarray(p.get("dofs", np.full(K, float(self.dof) if self.dof is not None else INITIAL_DOF)),
                              dtype=np.float64)
            params = StudentTParams(weights, np.asarray(p["means"], dtype=np.float64),
                                    np.asarray(p["covariances"], dtype=np.float64), dofs)
            if params.means.shape != (K, fam.n_features):
                raise ValueError(f"params_init['means'] must have shape ({K}, {fam.n_features}), got {params.means.shape}")
            try:
                fam.check_params(params)
            except ValueError as exc:
                raise ValueError(f"params_init: {exc}") from None
            return params
        given = self.params_init
        if isinstance(self.family, dict):
            by_entry = given
        else:
            by_entry = {None: given}
        D = fam.n_features
        loc = np.zeros((K, D))
        var = np.ones((K, D))
        dense_means = dense_cov = None
        cat = np.zeros((K, fam.encoder.n_counts))
        pos = {c.key: j for j, c in enumerate(fam.columns)}
        for entry, name, ct, cols in self._entries_:
            p = by_entry.get(entry)
            if p is None:
                raise ValueError(f"params_init has no parameters for {('entry ' + repr(entry)) if entry is not None else 'the model'}")
            idx = [pos[c] for c in cols]
            where = "params_init" + ("" if entry is None else f"[{entry!r}]")
            if name == "gaussian" and ct in ("full", "tied"):
                dense_means = _shaped(p, "means", (K, len(idx)), where)
                loc[:, idx] = dense_means
                if "covariances" not in p:
                    raise ValueError(f"{where} needs 'covariances'")
                shape = (K, len(idx), len(idx)) if ct == "full" else (len(idx), len(idx))
                dense_cov = np.asarray(p["covariances"], dtype=np.float64)
                if dense_cov.shape != shape:
                    raise ValueError(f"{where}['covariances'] must have shape {shape}, got {dense_cov.shape}")
            elif name == "gaussian":
                loc[:, idx] = _shaped(p, "means", (K, len(idx)), where)
                cv = np.asarray(p.get("covariances"), dtype=np.float64) if "covariances" in p else None
                if cv is None:
                    raise ValueError(f"{where} needs 'covariances'")
                var[:, idx] = cv[:, None] if ct == "spherical" and cv.ndim == 1 else _shaped(p, "covariances", (K, len(idx)), where)
            elif name == "categorical":
                probs = p.get("probs")
                if probs is None or len(probs) != len(idx):
                    raise ValueError(f"{where}['probs'] must be a list of {len(idx)} arrays (K, C_d)")
                for j, pr in zip(idx, probs):
                    col = fam.columns[j]
                    pr = np.asarray(pr, dtype=np.float64)
                    if pr.shape != (K, col.n_categories):
                        raise ValueError(f"{where}['probs'] for column {col.key!r} must have shape "
                                         f"({K}, {col.n_categories}), got {pr.shape}")
                    lo = fam.encoder.cat_offsets[j]
                    cat[:, lo:lo + col.n_categories] = pr
            else:
                loc[:, idx] = _shaped(p, _PARAM_NAME[name], (K, len(idx)), where)
        params = ProductParams(weights, loc, var, cat, dense_means, dense_cov)
        fam.check_params(params)
        return params

    def _check_step(self, fam, params, where):
        if getattr(fam, "name", "") == "student_t":
            try:
                fam.check_params(params)
            except ValueError as exc:
                raise ValueError(f"EM produced a degenerate component{where}: {exc}; reg_covar is {self.reg_covar}: "
                                 "increase it, use fewer components, or scale the data") from None
            return
        bad = ~np.isfinite(params.weights)
        if np.any(bad) or not np.all(np.isfinite(params.loc)) or not np.all(params.var > 0):
            raise ValueError(f"EM produced invalid parameters{where} (a component collapsed onto constant data?); "
                             f"reg_covar is {self.reg_covar}: increase it, or use fewer components")

    def _install(self, fam, params):
        """Set the public attributes from the family's parameters."""
        self._params = params
        if getattr(fam, "name", "") == "student_t":
            ct = fam.covariance_type
            cov_chol, prec_chol = cov.cholesky_factors(params.covariances, ct)
            self.weights_ = params.weights
            self.means_ = params.means
            self.covariances_ = params.covariances
            self.dofs_ = params.dofs
            self.precisions_cholesky_ = prec_chol
            self.precisions_ = cov.precisions(prec_chol, ct)
            self.n_features_in_ = params.means.shape[1]
            return
        self._kernel_params = None
        K = params.weights.shape[0]
        self.weights_ = params.weights
        self.n_features_in_ = fam.n_features
        names = [c.key for c in fam.columns]
        if all(isinstance(c, str) for c in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        entries = {}
        pos = {c.key: j for j, c in enumerate(fam.columns)}
        for entry, name, ct, cols in self._entries_:
            idx = [pos[c] for c in cols]
            if name == "gaussian" and ct in ("full", "tied"):
                entries[entry] = {"means": params.dense_means, "covariances": params.dense_cov}
            elif name == "gaussian":
                var = params.var[:, idx]
                entries[entry] = {"means": params.loc[:, idx], "covariances": var[:, 0] if ct == "spherical" else var}
            elif name == "categorical":
                probs, cats = [], []
                for j in idx:
                    col = fam.columns[j]
                    lo = fam.encoder.cat_offsets[j]
                    probs.append(params.cat_probs[:, lo:lo + col.n_categories].copy())
                    cats.append(col.categories)
                entries[entry] = {"probs": probs, "categories": cats}
            else:
                entries[entry] = {_PARAM_NAME[name]: params.loc[:, idx]}
        if isinstance(self.family, dict):
            self.params_ = entries
        else:
            for key, value in entries[None].items():
                setattr(self, key + "_", value)
        del K

    def _sync_from_gaussian(self):
        gm = self._gm
        for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "lower_bound_",
                     "lower_bounds_", "n_iter_", "converged_", "n_features_in_", "feature_names_in_"):
            if hasattr(gm, name):
                setattr(self, name, getattr(gm, name))

    # ------------------------------------------------------------------ the seam
    def _e_step_stats(self, X, sample_weight=None):
        from ..estimation.em import _check_sample_weight

        self._check_fitted()
        if self._uses_gaussian_mixture():
            from ..estimation.em import e_step_stats

            return e_step_stats(self._gm, X, sample_weight)
        w = _check_sample_weight(sample_weight, n_rows(X) if (is_table(X) or is_frame(X)) else len(X))
        return self._family_obj.statistics(self._input(X), w, self._params)

    def _m_step(self, stats):
        if self._uses_gaussian_mixture():
            from ..estimation.em import m_step

            return m_step(stats, self.covariance_type, self.reg_covar)
        return self._family_obj.m_step(stats, self.reg_covar)

    # ------------------------------------------------------------------ density, prediction, sampling
    def score_samples(self, X, out=None):
        """log p(x) per row (n,); ``out``: a caller-owned (n,) float64 array to write into (X's dtype for the
        Gaussian family)."""
        self._check_fitted()
        if self._uses_gaussian_mixture():
            return self._gm.score_samples(X, out=out)
        return self._family_obj.log_density(self._input(X), self._params, out=out)

    logpdf = score_samples

    def score(self, X, y=None):
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def predict_proba(self, X, out=None):
        """Responsibilities p(k | x): (n, K) (missing entries marginalised when ``missing='marginalize'``);
        ``out``: a caller-owned (n, K) array to write them into."""
        self._check_fitted()
        if self._uses_gaussian_mixture():
            return self._gm.predict_proba(X, out=out)
        return self._family_obj.log_density(self._input(X), self._params, responsibilities=True, resp_out=out)[1]

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        self._fit(X, sample_weight)
        return self.predict(X)

    def sample(self, n_samples=1, random_state=None, *, out=None, labels_out=None):
        """(X, labels). Categorical columns hold the category values (an object array when the categories
        are not numbers, or when columns of different kinds mix). ``out`` (n_samples, D) float64 and
        ``labels_out`` (n_samples,) int64: caller-owned arrays to draw into (``out`` needs numeric draws)."""
        self._check_fitted()
        if self._uses_gaussian_mixture():
            return self._gm.sample(n_samples, random_state, out=out, labels_out=labels_out)
        if isinstance(n_samples, numbers.Integral) and not isinstance(n_samples, (bool, np.bool_)) and n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample.")
        n = check_n_samples(n_samples)
        fam = self._family_obj
        student_t = getattr(fam, "name", "") == "student_t"
        if out is not None and not student_t:
            text = [c.key for c in fam.columns if c.kind == "categorical" and c.categories.dtype.kind not in "biuf"]
            if text:
                raise TypeError(f"out= needs numeric draws, but categorical column {text[0]!r} holds non-numeric "
                                "categories (its draws are an object array); sample without out=")
        D = (self._params.means if student_t else self._params.loc).shape[1]
        out = None if out is None else output_array(out, (n, D), np.float64)
        labels_out = None if labels_out is None else output_array(labels_out, (n,), np.int64, name="labels_out",
                                                                   inputs=(out,))
        key = _random.stream_key(self.random_state if random_state is None else random_state)
        codes, labels = fam.sample(self._params, n, key, out=out, labels_out=labels_out)
        if student_t:
            return codes, labels
        return self._decode(codes, in_place=out is not None), labels

    def _decode(self, codes, in_place=False):
        """Category values in place of codes: a new array, or (``in_place``, numeric categories) the codes'."""
        fam = self._family_obj
        cats = [c for c in fam.columns if c.kind == "categorical"]
        if not cats or all(c.categories.dtype.kind in "biuf" for c in cats):
            out = codes if in_place else codes.copy()
            for j, col in enumerate(fam.columns):
                if col.kind == "categorical":
                    out[:, j] = col.categories.astype(np.float64)[codes[:, j].astype(np.int64)]
            return out
        out = codes.astype(object)
        for j, col in enumerate(fam.columns):
            if col.kind == "categorical":
                out[:, j] = col.categories[codes[:, j].astype(np.int64)]
        return out

    # ------------------------------------------------------------------ model selection
    @property
    def n_parameters(self):
        self._check_fitted()
        if self._uses_gaussian_mixture():
            return self._gm.n_parameters
        if getattr(self._family_obj, "name", "") == "student_t":
            return self._family_obj.n_parameters(*self.means_.shape)
        return self._family_obj.n_parameters(self.weights_.shape[0])

    def _n_parameters(self):
        return self.n_parameters

    def bic(self, X):
        ll = float(np.sum(self.score_samples(X), dtype=np.float64))
        return -2 * ll + self.n_parameters * np.log(n_rows(X) if (is_table(X) or is_frame(X)) else len(X))

    def aic(self, X):
        ll = float(np.sum(self.score_samples(X), dtype=np.float64))
        return -2 * ll + 2 * self.n_parameters

    def save(self, path):
        from ..io.model_file import save

        return save(self, path)

    # ------------------------------------------------------------------ model files (engine._registry)
    _RECORD_ATTRIBUTES = ("converged_", "n_iter_", "lower_bound_", "n_components", "tol", "reg_covar", "max_iter",
                          "n_init", "init_params", "random_state", "missing", "unknown")
    _feature_names_as_array = True

    def _model_record(self):
        self._check_fitted()
        header = {name: _jsonable(getattr(self, name, None)) for name in self._RECORD_ATTRIBUTES}
        header = {k: v for k, v in header.items() if v is None or isinstance(v, (bool, int, float, str))}
        if self._uses_gaussian_mixture():
            header.update(family="gaussian", covariance_type=self.covariance_type)
            return header, {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_}
        fam = self._family_obj
        if getattr(fam, "name", "") == "student_t":
            p = self._params
            header.update(family="student_t", covariance_type=fam.covariance_type, dof=_jsonable(self.dof),
                          fit_keys=[_jsonable(k) for k in self._fit_keys])
            return header, {"weights": p.weights, "means": p.means, "covariances": p.covariances, "dofs": p.dofs}
        header["family"] = self._family_label()
        header["entries"] = [[_key_json(e), name, ct, [_jsonable(c) for c in cols]]
                             for e, name, ct, cols in self._entries_]
        header["columns"] = [[_jsonable(c.key), c.kind, None if c.categories is None
                              else [_jsonable(v) for v in c.categories.tolist()]] for c in fam.columns]
        header["spherical"] = [[int(j) for j in g] for g in fam.spherical]
        header["fit_keys"] = [_jsonable(k) for k in self._fit_keys]
        header["dense_type"] = fam.dense_type
        training = dict(getattr(self, "training_", None) or {})
        arrays = {}
        for name in ("logpdf_quantile_levels", "logpdf_quantiles"):
            if name in training:
                arrays["training_" + name] = np.asarray(training.pop(name), dtype=np.float64)
        if training or arrays:
            header["training_"] = training
        p = self._params
        if fam.dense_type is not None:
            arrays["dense_means"] = p.dense_means
            arrays["dense_cov"] = p.dense_cov
        return header, {"weights": p.weights, "loc": p.loc, "var": p.var, "cat_probs": p.cat_probs, **arrays}

    @classmethod
    def _from_model_record(cls, header, arrays):
        attrs = header.get("attributes") or {}
        missing = attrs.get("missing", "error")
        unknown = attrs.get("unknown", "error")
        K = int(arrays["weights"].shape[0])
        if attrs.get("family") == "student_t":
            from ..families.student_t import StudentTFamily, StudentTParams

            dof = attrs.get("dof")
            m = cls(K, family="student_t", covariance_type=header["covariance_type"], dof=dof)
            fam = StudentTFamily(header["covariance_type"], dof, int(arrays["means"].shape[1]))
            params = StudentTParams(arrays["weights"], arrays["means"], arrays["covariances"], arrays["dofs"])
            if not abs(params.weights.sum() - 1) <= 1e-6 or np.any(params.weights < 0):
                raise ValueError("weights must be non-negative and sum to 1")
            fam.check_params(params)
            m._family_obj = fam
            m._entries_ = []
            m._fit_keys = list(attrs.get("fit_keys") or range(params.means.shape[1]))
            m._install(fam, params)
        elif attrs.get("family") == "gaussian" and missing == "error":
            m = cls(K, family="gaussian", covariance_type=header["covariance_type"])
            m._gm = GaussianMixture.from_params(arrays["weights"], arrays["means"], arrays["covariances"],
                                                header["covariance_type"])
            m._sync_from_gaussian()
        else:
            entries = [(_key_from_json(e), name, ct, [_col_from_json(c) for c in cols])
                       for e, name, ct, cols in attrs["entries"]]
            family = attrs["family"]
            if family == "mixed":
                family = {e: (name if name != "gaussian" else (name, ct)) for e, name, ct, _ in entries}
            m = cls(K, family=family, missing=missing, unknown=unknown,
                    covariance_type=entries[0][2] if family == "gaussian" else "full")
            columns = []
            for key, kind, cats in attrs["columns"]:
                if cats is not None:
                    cats = np.array(cats, dtype=np.float64 if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                  for v in cats) else object)
                columns.append(Column(_col_from_json(key), kind, cats))
            fam = ProductFamily(columns, spherical=attrs.get("spherical", []), marginalize=missing == "marginalize",
                                unknown=unknown, dense_type=attrs.get("dense_type"))
            params = ProductParams(arrays["weights"], arrays["loc"], arrays["var"], arrays["cat_probs"],
                                   arrays.get("dense_means"), arrays.get("dense_cov"))
            if params.loc.shape != (K, len(columns)) or params.cat_probs.shape != (K, fam.encoder.n_counts):
                raise ValueError("parameter shapes do not match the columns")
            if not abs(params.weights.sum() - 1) <= 1e-6 or np.any(params.weights < 0):
                raise ValueError("weights must be non-negative and sum to 1")
            fam.check_params(params)
            m._family_obj = fam
            m._entries_ = entries
            m._fit_keys = list(attrs.get("fit_keys") or [c.key for c in columns])
            m._install(fam, params)
        for name in ("converged_", "n_iter_", "lower_bound_"):
            if name in attrs:
                setattr(m, name, attrs[name])
        if isinstance(attrs.get("training_"), dict):
            training = dict(attrs["training_"])
            for name in ("logpdf_quantile_levels", "logpdf_quantiles"):
                if "training_" + name in arrays:
                    training[name] = arrays["training_" + name].tolist()
            m.training_ = training
        return m

    def __repr__(self):
        fam = self.family if isinstance(self.family, str) else "{...}"
        return f"Mixture(n_components={self.n_components}, family={fam!r})"


def _union_categories(batches, columns):
    """{column: sorted union of its categories over every batch of a stream} in one pass."""
    per_batch = []
    for b in batches:
        b = b if (is_table(b) or is_frame(b)) else _as_2d(b)
        if n_rows(b) == 0:
            continue
        per_batch.append({c: fit_categories(b, c) for c in columns})
    return _union_categories_from(per_batch, columns)


def _union_categories_from(per_batch, columns):
    """{column: sorted union} of per-batch {column: categories} dicts."""
    found = {c: [] for c in columns}
    for d in per_batch:
        for c, cats in d.items():
            found[c].append(cats)
    out = {}
    for c, parts in found.items():
        values = np.concatenate(parts) if parts else np.empty(0)
        if values.dtype.kind == "O":
            try:
                out[c] = np.array(sorted(set(values.tolist())), dtype=object)
            except TypeError:
                out[c] = np.array(sorted(set(values.tolist()), key=repr), dtype=object)
        else:
            out[c] = np.unique(values)
    return out


def _as_2d(X):
    if isinstance(X, NamedArray):
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D with shape (n_samples, n_features), got shape {X.shape}")
    return X


def _jsonable(v):
    return v.item() if isinstance(v, np.generic) else v


def _key_json(entry):
    return None if entry is None else ([_jsonable(c) for c in entry] if isinstance(entry, tuple) else _jsonable(entry))


def _col_from_json(c):
    return c


def _key_from_json(e):
    return tuple(e) if isinstance(e, list) else e


def _shaped(p, name, shape, where):
    if name not in p:
        raise ValueError(f"{where} needs {name!r}")
    v = np.asarray(p[name], dtype=np.float64)
    if v.ndim == 1 and shape[1] == 1 and v.shape[0] == shape[0]:
        v = v[:, None]
    if v.shape != shape:
        raise ValueError(f"{where}[{name!r}] must have shape {shape}, got {v.shape}")
    return v
