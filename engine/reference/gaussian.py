import numpy as np


def component_terms(X, prec_chol, shifted_means, log_norm):
    """(n, K) matrix of log(w_k N(x_i | component k)); prec_chol (P, D, D) or (K, D) as in the kernel."""
    X = X.astype(np.float64)
    K = shifted_means.shape[0]
    if prec_chol.ndim == 3:
        if prec_chol.shape[0] == K:
            Y = np.einsum("nd,kde->nke", X, prec_chol)
        else:
            Y = (X @ prec_chol[0])[:, None, :]
    else:
        Y = X[:, None, :] * prec_chol[None]
    sq = np.sum((Y - shifted_means[None]) ** 2, axis=2)
    return log_norm[None] - 0.5 * sq


def mixture_log_density(X, prec_chol, shifted_means, log_norm):
    """Twin of ``engine.kernels.gaussian.mixture_log_density``: log-sum-exp over the (n, K) terms."""
    terms = component_terms(X, prec_chol, shifted_means, log_norm)
    mx = terms.max(axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        out = mx[:, 0] + np.log(np.exp(terms - mx).sum(axis=1))
    return out.astype(X.dtype)
