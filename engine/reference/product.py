"""NumPy twin of the product-family kernels: the n x K matrix of component log-densities written directly
from each family's formula (no kernel layout, no shifts, no blocks), the log-density, and one EM iteration
(responsibilities as an n x K matrix, parameters as weighted averages). Test oracle and asv baseline."""
import numpy as np
import math

EPS_MASS = 10 * np.finfo(np.float64).eps
_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def gammaln(x):
    return _lgamma(x)


def _dense_block(X, dense, K):
    """(n, K) log N(x_g | mean_k, cov_k) of the dense block dense = (cols, means (K, Dg), cov, "full"|"tied"),
    from explicit inverses and log-determinants."""
    cols, means, cov, ct = dense
    Xg = X[:, cols]
    out = np.empty((X.shape[0], K))
    for k in range(K):
        C = cov[k] if ct == "full" else cov
        inv = np.linalg.inv(C)
        _, logdet = np.linalg.slogdet(C)
        d = Xg - means[k]
        out[:, k] = -0.5 * (len(cols) * np.log(2 * np.pi) + logdet + np.einsum("ni,ij,nj->n", d, inv, d))
    return out


def component_log_terms(X, kinds, weights, loc, var, cat_probs, cat_offsets, dense=None):
    """(n, K): log w_k + sum_j log p_kj(X[:, j]) with NaN entries left out. kinds: list of family names
    ("dense" columns: the joint Gaussian block ``dense`` = (cols, means, cov, covariance type))."""
    X = np.asarray(X, dtype=np.float64)
    n, D = X.shape
    K = weights.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.tile(np.log(weights), (n, 1))
        for j, kind in enumerate(kinds):
            x = X[:, j:j + 1]
            obs = ~np.isnan(x)
            xs = np.where(obs, x, 0.0)
            if kind == "gaussian":
                t = -0.5 * np.log(2 * np.pi * var[:, j]) - 0.5 * (xs - loc[:, j]) ** 2 / var[:, j]
            elif kind == "bernoulli":
                t = np.where(xs == 1, np.log(loc[:, j]), np.log(1 - loc[:, j]))
            elif kind == "poisson":
                t = np.where(xs > 0, xs * np.log(loc[:, j]), 0.0) - loc[:, j] - gammaln(xs + 1)
            elif kind == "exponential":
                t = np.log(loc[:, j]) - loc[:, j] * xs
            elif kind == "dense":
                continue
            else:
                idx = cat_offsets[j] + xs[:, 0].astype(np.int64)
                t = np.log(cat_probs[:, idx]).T
            out += np.where(obs, t, 0.0)
    if dense is not None:
        out += _dense_block(X, dense, K)
    return out


def log_density(X, *params):
    terms = component_log_terms(X, *params)
    mx = np.max(terms, axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        return (mx + np.log(np.sum(np.exp(terms - mx), axis=1, keepdims=True)))[:, 0]


def em_step(X, kinds, weights, loc, var, cat_probs, cat_offsets, cat_sizes, reg_covar=1e-6, spherical=(),
            sample_weight=None, dense=None):
    """One EM iteration: (new weights, loc, var, cat_probs, mean log-likelihood under the old parameters), and
    with a dense block also its new (means, covariances) before the log-likelihood."""
    X = np.asarray(X, dtype=np.float64)
    n, D = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    terms = component_log_terms(X, kinds, weights, loc, var, cat_probs, cat_offsets, dense)
    lse = log_density(X, kinds, weights, loc, var, cat_probs, cat_offsets, dense)
    resp = np.exp(terms - lse[:, None]) * w[:, None]
    nk = resp.sum(axis=0) + EPS_MASS
    new_w = nk / nk.sum()
    new_loc = np.zeros_like(loc)
    new_var = np.ones_like(var)
    new_cat = np.zeros_like(cat_probs)
    for j, kind in enumerate(kinds):
        obs = ~np.isnan(X[:, j])
        r = resp[obs]
        x = X[obs, j]
        mass = r.sum(axis=0) + EPS_MASS
        if kind == "gaussian":
            mean = (r * x[:, None]).sum(axis=0) / mass
            new_loc[:, j] = mean
            new_var[:, j] = (r * (x[:, None] - mean) ** 2).sum(axis=0) / mass + reg_covar
        elif kind in ("bernoulli", "poisson"):
            new_loc[:, j] = (r * x[:, None]).sum(axis=0) / mass
        elif kind == "exponential":
            new_loc[:, j] = mass / ((r * x[:, None]).sum(axis=0) + EPS_MASS)
        elif kind == "dense":
            continue
        else:
            lo, C = cat_offsets[j], cat_sizes[j]
            onehot = np.eye(C)[x.astype(np.int64)]
            counts = r.T @ onehot
            p = counts / mass[:, None]
            new_cat[:, lo:lo + C] = p / p.sum(axis=1, keepdims=True)
    for group in spherical:
        group = list(group)
        num = np.zeros(len(weights))
        den = np.zeros(len(weights))
        for j in group:
            obs = ~np.isnan(X[:, j])
            r = resp[obs]
            x = X[obs, j]
            mass = r.sum(axis=0) + EPS_MASS
            mean = (r * x[:, None]).sum(axis=0) / mass
            num += (r * (x[:, None] - mean) ** 2).sum(axis=0)
            den += mass
        new_var[:, group] = (num / den + reg_covar)[:, None]
    if dense is not None:
        cols, _, _, ct = dense
        Xg = X[:, cols]
        Dg = len(cols)
        nk_d = resp.sum(axis=0) + EPS_MASS
        means = (resp.T @ Xg) / nk_d[:, None]
        scat = np.stack([(resp[:, k, None] * (Xg - means[k])).T @ (Xg - means[k]) for k in range(len(weights))])
        covs = (scat / nk_d[:, None, None] if ct == "full" else scat.sum(axis=0) / nk_d.sum()) + reg_covar * np.eye(Dg)
        new_loc[:, cols] = means
        return new_w, new_loc, new_var, new_cat, (means, covs), float((w * lse).sum() / w.sum())
    return new_w, new_loc, new_var, new_cat, float((w * lse).sum() / w.sum())


def bernoulli_em_step_blas(X, weights, probs, chunk=1 << 20):
    """One EM iteration of a Bernoulli mixture the way NumPy does it best: per chunk of rows, the component
    log-terms as one BLAS matrix product X @ (logit p)^T + sum log(1 - p) + log w, a log-sum-exp, and the
    statistics as resp^T X (BLAS again). Memory: a chunk's float64 copy and its (chunk, K) matrices.
    Returns (weights, probs, mean log-likelihood). Benchmark baseline (probs strictly inside (0, 1))."""
    logit = np.log(probs) - np.log1p(-probs)
    const = np.log(weights) + np.log1p(-probs).sum(axis=1)
    K, D = probs.shape
    nk = np.zeros(K)
    s1 = np.zeros((K, D))
    ll = 0.0
    for start in range(0, X.shape[0], chunk):
        Xf = X[start:start + chunk].astype(np.float64)
        L = Xf @ logit.T + const
        mx = L.max(axis=1, keepdims=True)
        E = np.exp(L - mx)
        tot = E.sum(axis=1, keepdims=True)
        ll += float((mx + np.log(tot)).sum())
        R = E / tot
        nk += R.sum(axis=0)
        s1 += R.T @ Xf
    nk_eps = nk + EPS_MASS
    return nk_eps / nk_eps.sum(), s1 / nk_eps[:, None], ll / X.shape[0]
