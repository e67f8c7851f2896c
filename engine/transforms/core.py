"""Change of variables: elementwise bijections y = T(x) with their log-Jacobians.

If p_Y models y = T(x), then p_X(x) = p_Y(T(x)) |det J_T(x)|, so log p_X(x) = log p_Y(T(x)) +
``log_abs_det_jacobian(x)``. Every transform here acts column by column, so J is diagonal and
log|det J| is a sum over columns (one value per row).

Each transform compiles to a *program* (``engine.kernels.transforms``): per column, a chain of elementary
maps with their parameters. The kernels run the program on the blocks they already load, so a transformed
Gaussian mixture scores with no extra pass over the data (``engine.Transformed``).

Free parameters (``BoxCox(lmbda=None)``, ``YeoJohnson(lmbda=None)``, ``Standardize()``) are fitted by
``fit(X)``; ``fit_stream(make_batches)`` fits them over a stream of batches with the same passes (one
for ``Standardize``, typically 4 for a power transform's lambda, all columns at once), so the streamed
and the in-memory fit are the same computation.
"""
import json
from dataclasses import dataclass

import numpy as np

from ..families.columns import _raw_column, column_keys, is_frame, is_table, n_rows
from ..kernels import transforms as tk

OUTSIDE = ("error", "zero-density")

#: lambda search: the first pass evaluates COARSE points of [-LAMBDA_SPAN, LAMBDA_SPAN] (widened if the best
#: is at an edge), then 5-point passes at each of REFINE_STEPS (see ``fit_power_lambdas``)
LAMBDA_SPAN = 8.0
COARSE = 17
REFINE_STEPS = (0.1, 1e-3, 1e-5)
#: at most this many passes over the data for a power transform's lambda (typically 4)
POWER_PASSES = 16


@dataclass(frozen=True)
class Step:
    """One elementary map of a column's chain: a kernel code and two parameters."""
    code: int
    p0: float = 0.0
    p1: float = 0.0


_STEP_NAMES = {tk.AFFINE: "Affine", tk.LOG: "Log", tk.LOGIT: "Logit", tk.BOXCOX: "BoxCox",
               tk.YEOJOHNSON: "YeoJohnson"}


def _domain_text(step):
    return {tk.LOG: "x > 0 (Log)", tk.LOGIT: f"{step.p0:g} < x < {step.p1:g} (Logit)",
            tk.BOXCOX: "x > 0 (BoxCox)"}.get(step.code, "finite x")


class Program:
    """The compiled form of a transform over concrete columns: ``codes`` (D, L) int64 and ``params``
    (D, L, 2) float64, fresh C-contiguous arrays (one kernel specialisation), plus each column's chain."""

    def __init__(self, chains, keys):
        self.chains = [list(c) for c in chains]
        self.keys = list(keys)
        D = len(self.chains)
        L = max([len(c) for c in self.chains] + [1])
        self.codes = np.zeros((D, L), dtype=np.int64)
        self.params = np.zeros((D, L, 2))
        for j, chain in enumerate(self.chains):
            for s, step in enumerate(chain):
                self.codes[j, s] = step.code
                self.params[j, s] = (step.p0, step.p1)

    @property
    def active(self):
        """Indices of the columns whose chain is not empty."""
        return [j for j, c in enumerate(self.chains) if c]

    def describe_bad(self, X, row):
        """'column 'price', input row 15: value -3 is outside the domain x > 0 (Log)' for an array X whose
        ``row`` failed the forward program."""
        x = np.asarray(X, dtype=np.float64)[row]
        for j, chain in enumerate(self.chains):
            v = np.array([x[j]])
            if not chain:
                continue
            if np.isinf(v[0]):
                return f"column {self.keys[j]!r}, input row {row}: value {v[0]} is not finite"
            for step in chain:
                before = v[0]
                ld, ok = np.zeros(1), np.ones(1)
                tk._forward_row_careful(v, 1, step.code, step.p0, step.p1, ld, ok)
                if ok[0] == 0.0:
                    what = (f"value {float(x[j])!r}" if before == x[j]
                            else f"value {float(x[j])!r} (= {float(before)!r} at this step)")
                    if step.code in (tk.BOXCOX, tk.YEOJOHNSON) and not (before <= 0 and step.code == tk.BOXCOX):
                        why = f"overflows under {_STEP_NAMES[step.code]}(lmbda={step.p0:g})"
                    else:
                        why = f"is outside the domain {_domain_text(step)}"
                    return f"column {self.keys[j]!r}, input row {row}: {what} {why}"
        return f"input row {row}: a value is outside the transform's domain"


def _as_matrix(X, name="X"):
    """(float64 (n, D) array, column keys, was_1d) for an array; tables are handled by the callers."""
    A = np.asarray(X)
    one_d = A.ndim == 1
    if one_d:
        A = A[:, None]
    if A.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {A.shape}")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    return np.ascontiguousarray(A, dtype=np.float64), list(range(A.shape[1])), one_d


def _numeric_column(X, key, name="X"):
    """Column ``key`` of a table/DataFrame as float64 (nulls as NaN), read as the families read columns."""
    values = _raw_column(X, key, 0, n_rows(X))
    if values.dtype.kind != "f":
        raise TypeError(f"column {key!r} of {name} holds {values.dtype} values, not numbers; a transform needs numbers")
    return values


def _replace_columns(X, keys, values):
    """X (a table or DataFrame) with columns ``keys`` replaced by the float64 arrays ``values``."""
    if is_table(X):
        import pyarrow as pa

        for key, v in zip(keys, values):
            X = X.set_column(X.column_names.index(key), key, pa.array(v, type=pa.float64()))
        return X
    X = X.copy()
    for key, v in zip(keys, values):
        X[key] = v
    return X


class Transform:
    """Base class: a column-wise bijection. Subclasses give ``_chains(keys)`` (one chain of ``Step`` per
    column, after fitting), ``_spec()`` (a JSON-able description) and, if they have free parameters,
    ``_fit_stream(make_batches, keys)`` and ``n_fitted_parameters``."""

    #: the number of parameters estimated from data by the last fit (BIC/AIC count them)
    n_fitted_parameters = 0

    # ---------------------------------------------------------------- compiled form
    def program(self, keys):
        """The program over columns ``keys`` (names of a table, indices of an array)."""
        chains = self._chains(list(keys))
        return Program(chains, keys)

    def _chains(self, keys):
        raise NotImplementedError

    # ---------------------------------------------------------------- public API
    def forward(self, X):
        """T(X): same shape and kind as X (array, Arrow table or DataFrame; only transformed columns change).
        A value outside the domain is a ValueError naming the column and the input row."""
        return self._run(X, inverse=False)[0]

    def inverse(self, Y):
        """T^-1(Y). A value outside T's range (which has no preimage) is a ValueError naming column and row."""
        return self._run(Y, inverse=True)[0]

    def log_abs_det_jacobian(self, X, outside="error"):
        """log|det J_T(x)| per row, (n,) float64: the sum over columns of log|dT_j/dx_j|. NaN entries add
        nothing (missing). ``outside="zero-density"``: a point outside the domain gets -inf instead of an
        error."""
        return self._run(X, inverse=False, outside=outside)[1]

    def check(self, X):
        """Raise a ValueError naming column and row if X has a value outside the domain; return self."""
        self._run(X, inverse=False)
        return self

    def fit(self, X, y=None):
        """Fit the free parameters (a power transform's ``lmbda=None``, ``Standardize``) on X; returns self."""
        if is_table(X) or is_frame(X):
            keys = column_keys(X)
            return self.fit_stream(lambda: iter([X]), keys)
        A, keys, _ = _as_matrix(X)
        return self.fit_stream(lambda: iter([A]), keys)

    def fit_stream(self, make_batches, keys=None):
        """Fit on a stream: ``make_batches()`` returns a fresh iterator over batches (arrays, or tables with
        the columns ``keys``) and is called once per pass (Standardize: 1 pass; each power transform:
        typically 4, at most ``POWER_PASSES``). Returns self."""
        if keys is None:
            first = next(iter(make_batches()))
            keys = column_keys(first) if (is_table(first) or is_frame(first)) else _as_matrix(first)[1]
        self._fit_stream(make_batches, list(keys))
        return self

    def _fit_stream(self, make_batches, keys):
        pass  # nothing free

    # ---------------------------------------------------------------- model files
    def to_json(self):
        return json.dumps(self._spec(), sort_keys=True)

    def __eq__(self, other):
        return isinstance(other, Transform) and self._spec() == other._spec()

    def __hash__(self):
        return hash(self.to_json())

    def __repr__(self):
        return describe(self._spec())

    # ---------------------------------------------------------------- running
    def _run(self, X, inverse, outside="error", keys=None):
        """(T(X) or T^-1(X), log-Jacobian or None). ``keys``: the columns' names for an array whose model
        was fitted on named columns (tables bring their own)."""
        if outside not in OUTSIDE:
            raise ValueError(f"outside must be one of {OUTSIDE}, got {outside!r}")
        if is_table(X) or is_frame(X):
            keys = column_keys(X)
            prog = self.program(keys)
            act = prog.active
            cols = [_numeric_column(X, keys[j]) for j in act]
            A = np.column_stack(cols) if cols else np.empty((len(X) if is_frame(X) else X.num_rows, 0))
            sub = Program([prog.chains[j] for j in act], [keys[j] for j in act])
            out, ld = run_program(sub, A, inverse, outside)
            return _replace_columns(X, [keys[j] for j in act], list(out.T)), ld
        A, index_keys, one_d = _as_matrix(X)
        out, ld = run_program(self.program(index_keys if keys is None else keys), A, inverse, outside)
        return (out[:, 0] if one_d else out), ld


def run_program(prog, A, inverse=False, outside="error", name="X"):
    """(program(A) or its inverse, log-Jacobian (forward) or None) for a float64 (n, D) array."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    out = np.empty_like(A)
    ld = np.empty(0 if inverse else A.shape[0])
    bad = tk.transform_rows(A, prog.codes, prog.params, inverse, outside == "zero-density", out, ld)
    if bad >= 0:
        raise ValueError(f"{name} is outside the transform's domain: {prog.describe_bad(A, bad)}")
    if inverse:
        nan_out = np.isnan(out) & ~np.isnan(A)
        if nan_out.any():
            r, j = np.argwhere(nan_out)[0]
            raise ValueError(f"value {float(A[r, j])!r} in column {prog.keys[j]!r}, row {r} is outside the transform's "
                             "range: it has no preimage")
        return out, None
    return out, ld


# ==================================================================== the transforms
class Affine(Transform):
    """y = loc + scale * x, column-wise (``loc``, ``scale``: scalars or one value per column; scale != 0)."""

    def __init__(self, loc=0.0, scale=1.0):
        self.loc = np.asarray(loc, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        for name, v in (("loc", self.loc), ("scale", self.scale)):
            if v.ndim > 1 or not np.all(np.isfinite(v)):
                raise ValueError(f"Affine: parameter {name!r} must be a finite scalar or 1-D array, got {v!r}")
        if np.any(self.scale == 0):
            raise ValueError("Affine: parameter 'scale' must be non-zero (the map must be invertible)")

    def _per_column(self, v, name, D):
        if v.ndim == 0:
            return np.full(D, float(v))
        if v.shape[0] != D:
            raise ValueError(f"Affine: parameter {name!r} has {v.shape[0]} values for {D} columns")
        return v

    def _chains(self, keys):
        D = len(keys)
        loc, scale = self._per_column(self.loc, "loc", D), self._per_column(self.scale, "scale", D)
        return [[Step(tk.AFFINE, float(a), float(b))] for a, b in zip(loc, scale)]

    def _spec(self):
        return {"type": "Affine", "loc": self.loc.tolist(), "scale": self.scale.tolist()}


class Log(Transform):
    """y = log x (x > 0): a model of log x gives the density of x (e.g. Normal -> log-normal)."""

    def _chains(self, keys):
        return [[Step(tk.LOG)] for _ in keys]

    def _spec(self):
        return {"type": "Log"}


class Logit(Transform):
    """y = log((x - low) / (high - x)) for low < x < high (proportions: the default [0, 1])."""

    def __init__(self, low=0.0, high=1.0):
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"Logit: need finite low < high, got low={low}, high={high}")
        self.low, self.high = low, high

    def _chains(self, keys):
        return [[Step(tk.LOGIT, self.low, self.high)] for _ in keys]

    def _spec(self):
        return {"type": "Logit", "low": self.low, "high": self.high}


class _Power(Transform):
    """Box–Cox / Yeo–Johnson: lambda per column, given or (``lmbda=None``) fitted by maximum likelihood of a
    Gaussian on the transformed column — scipy's ``boxcox_normmax(method="mle")`` / scikit-learn's
    ``PowerTransformer(standardize=False).lambdas_``."""

    code = None

    def __init__(self, lmbda=None):
        self.lmbda = None if lmbda is None else np.asarray(lmbda, dtype=np.float64)
        if self.lmbda is not None and (self.lmbda.ndim > 1 or not np.all(np.isfinite(self.lmbda))):
            raise ValueError(f"{type(self).__name__}: lmbda must be None, a finite scalar or one value per "
                             f"column, got {lmbda!r}")
        self.lambdas_ = None

    @property
    def n_fitted_parameters(self):
        return 0 if self.lmbda is not None or self.lambdas_ is None else len(self.lambdas_)

    def _lambdas(self, D):
        if self.lmbda is not None:
            lam = np.full(D, float(self.lmbda)) if self.lmbda.ndim == 0 else self.lmbda
        elif self.lambdas_ is None:
            raise ValueError(f"{type(self).__name__}(lmbda=None) is not fitted: call fit(X) (or give lmbda)")
        else:
            lam = self.lambdas_
        if len(lam) != D:
            raise ValueError(f"{type(self).__name__}: {len(lam)} lambdas for {D} columns")
        return lam

    def _chains(self, keys):
        return [[Step(self.code, float(v))] for v in self._lambdas(len(keys))]

    def _fit_stream(self, make_batches, keys):
        if self.lmbda is not None:
            return
        self.lambdas_ = fit_power_lambdas(make_batches, keys, self.code, type(self).__name__)

    def _spec(self):
        lam = self.lmbda if self.lmbda is not None else self.lambdas_
        spec = {"type": type(self).__name__, "lmbda": None if lam is None else np.asarray(lam).tolist(),
                "fitted": self.lmbda is None}
        return spec


class BoxCox(_Power):
    """y = (x**l - 1)/l (log x at l = 0) for positive data."""
    code = tk.BOXCOX


class YeoJohnson(_Power):
    """Yeo–Johnson's power transform for any real data (Box–Cox of 1 + x above 0, mirrored with 2 - l below)."""
    code = tk.YEOJOHNSON


class Standardize(Transform):
    """y = (x - mean) / std per column, the mean and (population) standard deviation fitted on the data
    (NaN ignored), as scikit-learn's ``StandardScaler``."""

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    @property
    def n_fitted_parameters(self):
        return 0 if self.mean_ is None else 2 * len(self.mean_)

    def _chains(self, keys):
        if self.mean_ is None:
            raise ValueError("Standardize is not fitted: call fit(X)")
        if len(self.mean_) != len(keys):
            raise ValueError(f"Standardize was fitted on {len(self.mean_)} columns, got {len(keys)}")
        return [[Step(tk.AFFINE, float(-m / s), float(1.0 / s))] for m, s in zip(self.mean_, self.scale_)]

    def _fit_stream(self, make_batches, keys):
        n = mean = m2 = None
        for batch in make_batches():
            A = _batch_matrix(batch, keys)
            obs = ~np.isnan(A)
            nb = obs.sum(axis=0).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                mb = np.where(nb > 0, np.nansum(A, axis=0) / np.maximum(nb, 1), 0.0)
                m2b = np.nansum((A - mb) ** 2, axis=0)
            if n is None:
                n, mean, m2 = nb, mb, m2b
                continue
            tot = n + nb
            with np.errstate(invalid="ignore", divide="ignore"):
                delta = mb - mean
                mean = np.where(tot > 0, mean + delta * nb / np.maximum(tot, 1), 0.0)
                m2 = m2 + m2b + np.where(tot > 0, delta ** 2 * n * nb / np.maximum(tot, 1), 0.0)
            n = tot
        if n is None or np.any(n == 0):
            raise ValueError("Standardize: a column has no observed values")
        std = np.sqrt(m2 / n)
        # scikit-learn's rule: a constant column keeps scale 1
        std = np.where(std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0), std, 1.0)
        self.mean_, self.scale_ = mean, std

    def _spec(self):
        return {"type": "Standardize", "mean": None if self.mean_ is None else self.mean_.tolist(),
                "scale": None if self.scale_ is None else self.scale_.tolist()}


class Compose(Transform):
    """T = t_n ∘ … ∘ t_1: ``Compose([t1, t2])`` applies t1 first. Fitting fits t1, then t2 on t1(X), …;
    the log-Jacobian is the sum of the stages' (the chain rule)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"Compose takes engine.transforms objects, got {type(t).__name__}")

    @property
    def n_fitted_parameters(self):
        return sum(t.n_fitted_parameters for t in self.transforms)

    def _chains(self, keys):
        chains = [[] for _ in keys]
        for t in self.transforms:
            for c, more in zip(chains, t._chains(keys)):
                c.extend(more)
        return chains

    def _fit_stream(self, make_batches, keys):
        for i, t in enumerate(self.transforms):
            before = Compose(self.transforms[:i])

            def staged(before=before):
                prog = before.program(keys)
                for batch in make_batches():
                    yield run_program(prog, _batch_matrix(batch, keys))[0]

            t._fit_stream(staged, keys)

    def _spec(self):
        return {"type": "Compose", "transforms": [t._spec() for t in self.transforms]}


class ColumnWise(Transform):
    """A transform per column: ``ColumnWise({"price": Log(), "delay": YeoJohnson()})`` (names for tables,
    indices for arrays); the other columns pass through unchanged."""

    def __init__(self, mapping):
        if not isinstance(mapping, dict) or not mapping:
            raise TypeError("ColumnWise takes a non-empty dict {column: transform}")
        for k, t in mapping.items():
            if not isinstance(t, Transform):
                raise TypeError(f"ColumnWise: column {k!r} maps to {type(t).__name__}, not an engine transform")
        self.mapping = dict(mapping)

    @property
    def n_fitted_parameters(self):
        return sum(t.n_fitted_parameters for t in self.mapping.values())

    def _index(self, keys):
        pos = {}
        for k in self.mapping:
            if k in keys:
                pos[k] = keys.index(k)
            elif isinstance(k, (int, np.integer)) and 0 <= k < len(keys):
                pos[k] = int(k)
            else:
                raise ValueError(f"ColumnWise: column {k!r} is not among the data's columns {list(keys)[:20]}")
        return pos

    def _chains(self, keys):
        chains = [[] for _ in keys]
        for k, j in self._index(keys).items():
            chains[j] = self.mapping[k]._chains([keys[j]])[0]
        return chains

    def _fit_stream(self, make_batches, keys):
        for k, j in self._index(keys).items():
            def column(j=j):
                for batch in make_batches():
                    yield _batch_matrix(batch, [keys[j]]) if is_table(batch) or is_frame(batch) else \
                        _as_matrix(batch)[0][:, j:j + 1]

            self.mapping[k]._fit_stream(column, [keys[j]])

    def _spec(self):
        return {"type": "ColumnWise", "columns": [[k if isinstance(k, str) else int(k), t._spec()]
                                                  for k, t in self.mapping.items()]}


def _batch_matrix(batch, keys):
    """A batch (array or table/DataFrame with columns ``keys``) as a float64 (n, D) array."""
    if is_table(batch) or is_frame(batch):
        return np.column_stack([_numeric_column(batch, k) for k in keys]) if keys else np.empty((len(batch), 0))
    return _as_matrix(batch)[0]


# ==================================================================== lambda by maximum likelihood
def _profile(stats, lambdas):
    count, mean, m2, jac = stats
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = -0.5 * count[:, None] * np.log(m2 / count[:, None]) + (lambdas - 1.0) * jac[:, None]
    return np.where(np.isfinite(ll), ll, -np.inf)


def _profile_pass(make_batches, keys, kind, lambdas, name):
    """count, mean, M2, jac over the whole stream for the grid ``lambdas`` (D, G): one pass."""
    D = len(keys)
    tot = None
    row0 = 0
    kinds = np.full(D, kind, dtype=np.int64)
    for batch in make_batches():
        A = _batch_matrix(batch, keys)
        count, mean, m2, jac, bad = tk.power_profile(A, kinds, np.ascontiguousarray(lambdas))
        if bad >= 0:
            x = A[bad]
            j = int(np.argmax(~np.isfinite(x) | ((x <= 0) if kind == tk.BOXCOX else False)))
            why = "is not finite" if not np.isfinite(x[j]) else "is outside the domain x > 0 (BoxCox)"
            raise ValueError(f"{name}.fit: column {keys[j]!r}, input row {row0 + bad}: value {float(x[j])!r} {why}")
        row0 += A.shape[0]
        if tot is None:
            tot = [count, mean, m2, jac]
            continue
        n0 = tot[0][:, None]
        n1 = count[:, None]
        nn = n0 + n1
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mean - tot[1]
            w = np.where(nn > 0, n1 / np.maximum(nn, 1), 0.0)
            tot[1] = tot[1] + delta * w
            tot[2] = tot[2] + m2 + np.where(nn > 0, delta ** 2 * n0 * n1 / np.maximum(nn, 1), 0.0)
        tot[0] = tot[0] + count
        tot[3] = tot[3] + jac
    if tot is None or np.any(tot[0] < 2):
        j = 0 if tot is None else int(np.argmax(tot[0] < 2))
        raise ValueError(f"{name}.fit: column {keys[j]!r} needs at least 2 observed values")
    return tot


def _vertex(grid, ll, best):
    """The vertex of the parabola through the best grid point and its two neighbours (clipped to them)."""
    rows = np.arange(grid.shape[0])
    best = np.clip(best, 1, grid.shape[1] - 2)
    y0, y1, y2 = ll[rows, best - 1], ll[rows, best], ll[rows, best + 1]
    h = grid[:, 1] - grid[:, 0]
    denom = y0 - 2 * y1 + y2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(denom < 0, 0.5 * h * (y0 - y2) / denom, 0.0)
    return grid[rows, best] + np.clip(np.nan_to_num(shift), -h, h)


def fit_power_lambdas(make_batches, keys, kind, name="power transform"):
    """The maximum-likelihood lambda of every column, all columns in the same passes over the stream.

    Pass 1 evaluates the profile log-likelihood at COARSE points of [-8, 8] (step 1; the span widens while
    the best is at an edge). Each refinement pass evaluates 5 points around the previous parabola vertex
    at steps 0.1, 1e-3, 1e-5 (a pass whose best point is at the edge walks on at the same step). The answer
    is the vertex of the parabola through the last pass's best point and its neighbours: a smooth maximum
    is located to O(h**3) = 1e-15 by the last step, below the rounding noise of the log-likelihood, so the
    estimate is exact to what float64 can resolve (compare scipy's Brent tolerance of 1.5e-8). Typically 4
    passes (``POWER_PASSES`` bounds them).
    """
    D = len(keys)
    lo, hi = np.full(D, -LAMBDA_SPAN), np.full(D, LAMBDA_SPAN)
    for _ in range(5):
        grid = np.linspace(lo, hi, COARSE, axis=1)
        ll = _profile(_profile_pass(make_batches, keys, kind, grid, name), grid)
        best = np.argmax(ll, axis=1)
        low, high = best == 0, best == COARSE - 1
        if not (low | high).any():
            break
        lo = np.where(low, lo - LAMBDA_SPAN, lo)
        hi = np.where(high, hi + LAMBDA_SPAN, hi)
    centre = _vertex(grid, ll, best)
    offsets = np.arange(-2, 3, dtype=np.float64)
    passes = 1
    for step in REFINE_STEPS:
        todo = np.ones(D, dtype=bool)
        while todo.any() and passes < POWER_PASSES:
            grid = centre[:, None] + step * offsets[None, :]
            ll = _profile(_profile_pass(make_batches, keys, kind, grid, name), grid)
            passes += 1
            best = np.argmax(ll, axis=1)
            edge = (best == 0) | (best == 4)
            vertex = _vertex(grid, ll, best)
            centre = np.where(todo & edge, grid[np.arange(D), best], np.where(todo, vertex, centre))
            todo &= edge
    return centre


# ==================================================================== specs (model files, CLI)
def from_spec(spec):
    """Rebuild a transform from ``_spec()`` output (model files): validated by the constructors."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"not a transform description: {spec!r:.100}")
    kind = spec["type"]
    if kind == "Affine":
        return Affine(spec["loc"], spec["scale"])
    if kind == "Log":
        return Log()
    if kind == "Logit":
        return Logit(spec["low"], spec["high"])
    if kind in ("BoxCox", "YeoJohnson"):
        cls = BoxCox if kind == "BoxCox" else YeoJohnson
        if spec.get("fitted"):
            t = cls(None)
            t.lambdas_ = None if spec["lmbda"] is None else np.asarray(spec["lmbda"], dtype=np.float64)
            if t.lambdas_ is not None and not np.all(np.isfinite(t.lambdas_)):
                raise ValueError(f"{kind}: fitted lambdas must be finite")
            return t
        return cls(spec["lmbda"])
    if kind == "Standardize":
        t = Standardize()
        if spec["mean"] is not None:
            t.mean_ = np.asarray(spec["mean"], dtype=np.float64)
            t.scale_ = np.asarray(spec["scale"], dtype=np.float64)
            if t.mean_.shape != t.scale_.shape or not (np.all(np.isfinite(t.mean_)) and np.all(t.scale_ > 0)):
                raise ValueError("Standardize: mean and scale must be finite, scale > 0, of one length")
        return t
    if kind == "Compose":
        return Compose([from_spec(s) for s in spec["transforms"]])
    if kind == "ColumnWise":
        return ColumnWise({k: from_spec(s) for k, s in spec["columns"]})
    raise ValueError(f"unknown transform type {kind!r}")


def describe(spec):
    """A one-line description: 'YeoJohnson(lmbda=[0.31, -0.2])', 'ColumnWise(price=Log(), …)'."""
    kind = spec["type"]
    if kind == "Compose":
        return "Compose([" + ", ".join(describe(s) for s in spec["transforms"]) + "])"
    if kind == "ColumnWise":
        return "ColumnWise(" + ", ".join(f"{k}={describe(s)}" for k, s in spec["columns"]) + ")"
    args = {k: v for k, v in spec.items() if k not in ("type", "fitted")}

    def fmt(v):
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.6g}" for x in v) + "]"
        return f"{v:.6g}" if isinstance(v, float) else repr(v)

    return f"{kind}(" + ", ".join(f"{k}={fmt(v)}" for k, v in args.items()) + ")"


_BY_NAME = {"log": Log, "logit": Logit, "box-cox": BoxCox, "boxcox": BoxCox, "yeo-johnson": YeoJohnson,
            "yeojohnson": YeoJohnson, "standardize": Standardize}


def parse(text):
    """The CLI's ``--transform``: 'yeo-johnson' (every column) or 'price=log,delay=yeo-johnson'; a stage
    list with '+' ('yeo-johnson+standardize')."""
    def one(word):
        stages = [w.strip().lower() for w in word.split("+")]
        out = []
        for w in stages:
            if w not in _BY_NAME:
                raise ValueError(f"unknown transform {w!r} (known: {', '.join(sorted(_BY_NAME))})")
            out.append(_BY_NAME[w]())
        return out[0] if len(out) == 1 else Compose(out)

    text = text.strip()
    if "=" not in text:
        return one(text)
    mapping = {}
    for part in text.split(","):
        if "=" not in part:
            raise ValueError(f"--transform: expected column=transform, got {part!r}")
        col, word = part.split("=", 1)
        mapping[col.strip()] = one(word)
    return ColumnWise(mapping)
