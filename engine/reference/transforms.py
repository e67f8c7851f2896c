"""Twin of ``engine.kernels.transforms``: each elementary map written from its textbook formula in NumPy
(np.power / np.log1p / np.expm1 and a branch per case, as scipy and scikit-learn write them)."""
import numpy as np

NONE, AFFINE, LOG, LOGIT, BOXCOX, YEOJOHNSON = 0, 1, 2, 3, 4, 5
#: scipy's rule: |lambda| below machine epsilon is the log limit
_EPS = np.spacing(1.0)


def _forward(code, p0, p1, x):
    """(y, log|dy/dx|) of one map over a 1-D array x inside its domain."""
    with np.errstate(all="ignore"):
        if code == AFFINE:
            return p0 + p1 * x, np.full_like(x, np.log(abs(p1)))
        if code == LOG:
            y = np.log(x)
            return y, -y
        if code == LOGIT:
            y = np.log((x - p0) / (p1 - x))
            return y, np.log(p1 - p0) - np.log(x - p0) - np.log(p1 - x)
        if code == BOXCOX:
            y = np.log(x) if abs(p0) < _EPS else np.expm1(p0 * np.log(x)) / p0
            return y, (p0 - 1.0) * np.log(x)
        if code == YEOJOHNSON:
            lam = p0
            y = np.empty_like(x)
            pos = x >= 0
            # scipy's formulas (expm1/log1p keep the digits of small x and small lambda)
            if abs(lam) < _EPS:
                y[pos] = np.log1p(x[pos])
            else:
                y[pos] = np.expm1(lam * np.log1p(x[pos])) / lam
            if abs(2.0 - lam) < _EPS:
                y[~pos] = -np.log1p(-x[~pos])
            else:
                y[~pos] = -np.expm1((2.0 - lam) * np.log1p(-x[~pos])) / (2.0 - lam)
            return y, (lam - 1.0) * np.sign(x) * np.log1p(np.abs(x))
    raise ValueError(code)


def _inverse(code, p0, p1, y):
    with np.errstate(all="ignore"):
        if code == AFFINE:
            return (y - p0) / p1
        if code == LOG:
            return np.exp(y)
        if code == LOGIT:
            return p0 + (p1 - p0) / (1.0 + np.exp(-y))
        if code == BOXCOX:
            return np.exp(y) if abs(p0) < _EPS else np.exp(np.log1p(p0 * y) / p0)
        if code == YEOJOHNSON:
            lam = p0
            x = np.empty_like(y)
            pos = y >= 0
            x[pos] = np.expm1(y[pos]) if abs(lam) < _EPS else np.expm1(np.log1p(lam * y[pos]) / lam)
            x[~pos] = (-np.expm1(-y[~pos]) if abs(2.0 - lam) < _EPS else
                       -np.expm1(np.log1p(-(2.0 - lam) * y[~pos]) / (2.0 - lam)))
            return x
    raise ValueError(code)


def transform_rows(X, codes, params, inverse=False):
    """(out, logdet): the program applied to X (n, D) column by column (inverse: in reverse order, no
    logdet). NaN passes through and adds nothing to the log-Jacobian."""
    X = np.asarray(X, dtype=np.float64)
    out = X.copy()
    logdet = np.zeros(X.shape[0])
    D, L = codes.shape
    for j in range(D):
        col = out[:, j]
        obs = ~np.isnan(col)
        steps = range(L - 1, -1, -1) if inverse else range(L)
        for s in steps:
            code = codes[j, s]
            if code == NONE:
                continue
            if inverse:
                col[obs] = _inverse(code, params[j, s, 0], params[j, s, 1], col[obs])
            else:
                y, ld = _forward(code, params[j, s, 0], params[j, s, 1], col[obs])
                col[obs] = y
                logdet[obs] += ld
    return out, (None if inverse else logdet)


def profile_log_likelihood(x, kind, lam):
    """The profile log-likelihood of a power transform's lambda on one column (NaN dropped), as scipy's
    ``boxcox_llf`` and scikit-learn's Yeo–Johnson objective write it."""
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    codes = np.array([[kind]])
    params = np.array([[[lam, 0.0]]])
    y, _ = transform_rows(x[:, None], codes, params)
    y = y[:, 0]
    jac = np.sum(np.log(x)) if kind == BOXCOX else np.sum(np.sign(x) * np.log1p(np.abs(x)))
    return -0.5 * len(x) * np.log(np.var(y)) + (lam - 1.0) * jac
