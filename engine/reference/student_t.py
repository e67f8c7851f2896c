"""NumPy twin of the Student-t mixture kernels: component log-densities from full scale matrices (inverse and
log-determinant, no Cholesky layouts), and one EM iteration written from McLachlan & Peel (2000) with n x K
matrices of responsibilities and weights u. Test oracle and benchmark baseline."""
import math

import numpy as np

EPS_MASS = 10 * np.finfo(np.float64).eps


def full_scales(covariances, covariance_type, K, D):
    c = np.asarray(covariances, dtype=np.float64)
    return {"full": lambda: c, "tied": lambda: np.broadcast_to(c, (K, D, D)),
            "diag": lambda: np.stack([np.diag(v) for v in c]),
            "spherical": lambda: np.stack([v * np.eye(D) for v in c])}[covariance_type]()


def component_terms(X, weights, means, covariances, dofs, covariance_type):
    """(n, K) log w_k + log t_k(x), and (n, K) Mahalanobis distances."""
    n, D = X.shape
    K = len(weights)
    S = full_scales(covariances, covariance_type, K, D)
    terms = np.empty((n, K))
    delta = np.empty((n, K))
    for k in range(K):
        inv = np.linalg.inv(S[k])
        diff = X - means[k]
        delta[:, k] = np.einsum("ni,ij,nj->n", diff, inv, diff)
        nu = dofs[k]
        _, logdet = np.linalg.slogdet(S[k])
        c = math.lgamma((nu + D) / 2) - math.lgamma(nu / 2) - D / 2 * math.log(nu * math.pi) - 0.5 * logdet
        terms[:, k] = np.log(weights[k]) + c - (nu + D) / 2 * np.log1p(delta[:, k] / nu)
    return terms, delta


def log_density(X, *params):
    terms, _ = component_terms(X, *params)
    mx = terms.max(axis=1, keepdims=True)
    return (mx + np.log(np.exp(terms - mx).sum(axis=1, keepdims=True)))[:, 0]


def em_step(X, weights, means, covariances, dofs, covariance_type, reg_covar=1e-6, fixed_dof=None):
    """(weights, means, covariances, dofs, mean log-likelihood under the old parameters)."""
    from engine.families.student_t import solve_dof  # the 1-D root finder (its own tests check it)

    n, D = X.shape
    K = len(weights)
    terms, delta = component_terms(X, weights, means, covariances, dofs, covariance_type)
    lse = log_density(X, weights, means, covariances, dofs, covariance_type)
    tau = np.exp(terms - lse[:, None])
    u = (dofs + D) / (dofs + delta)
    nk = tau.sum(axis=0) + EPS_MASS
    new_w = nk / nk.sum()
    tu = tau * u
    new_means = (tu.T @ X) / (tu.sum(axis=0) + EPS_MASS)[:, None]
    scat = np.stack([(tu[:, k, None] * (X - new_means[k])).T @ (X - new_means[k]) for k in range(K)])
    if covariance_type == "full":
        new_cov = scat / nk[:, None, None] + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        new_cov = scat.sum(axis=0) / nk.sum() + reg_covar * np.eye(D)
    else:
        new_cov = np.stack([np.diag(s) for s in scat]) / nk[:, None] + reg_covar
        if covariance_type == "spherical":
            new_cov = new_cov.mean(axis=1)
    if fixed_dof is not None:
        new_dofs = np.full(K, float(fixed_dof))
    else:
        sl = (tau * (np.log(u) - u)).sum(axis=0)
        new_dofs = np.array([solve_dof(tau[:, k].sum(), sl[k], dofs[k], D) for k in range(K)])
    return new_w, new_means, new_cov, new_dofs, float(lse.mean())
