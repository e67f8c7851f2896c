"""Reverse-KL fitting to an unnormalised target: ``engine.fit_reverse_kl``.

A target known up to its normaliser, p(x) = p~(x) / Z, is approximated by an engine model q maximising the
evidence lower bound

    ELBO(q) = E_q[log p~(X) - log q(X)] = log Z - D_KL(q || p)  <=  log Z,

i.e. minimising the reverse KL (mode seeking), by stochastic gradient ascent (Adam). q is Gaussian or a
Gaussian mixture; every component is x = mu_k + L_k eps, eps ~ N(0, I), L_k lower triangular (diagonal for
"diag"), its diagonal kept positive through log L_ii.

Gradients ("the gradient of an expectation"):

* with ``grad_log_target`` — reparameterised: d/dtheta E[h(mu + L eps)] = E[grad_x h . dx/dtheta], with
  h = log p~ - log q. For one Gaussian the entropy is exact (sum log L_ii), so only grad log p~ is sampled:
  grad_mu = E[g], grad_L = tril(E[g eps^T]) + diag(1/L_ii).
* without it — score function: grad = E[(h(X) - b) grad_theta log q_k(X)] with a leave-one-out baseline b
  (the control variate). It needs only log p~, at a cost in variance: for a Gaussian target in D
  dimensions the per-sample gradient variance grows like D (each coordinate of grad log q is noise
  multiplied by the centred h), against O(1) for the reparameterised estimator, so it needs more samples
  or smaller steps for the same precision (see the test and README for measured numbers).
* mixture weights (softmax logits) — exact marginalisation over components: every component gets its own
  batch of draws (stratified), and d ELBO/d alpha_j = w_j (f_j - sum_k w_k f_k), f_k = E_{q_k}[h].

The reported q is the Polyak average of the iterates over the last quarter of the iterations (the raw
iterates keep jittering at the step size); the ELBO is estimated afterwards from ``n_eval`` fresh draws of q,
with its standard error.
"""
from dataclasses import dataclass

import numpy as np

from .. import _random


@dataclass
class ReverseKLResult:
    q: object            # the fitted model (same kind as the q passed in)
    elbo: float          # estimate of E_q[log p~ - log q] = log Z - KL(q || p)
    elbo_stderr: float   # its Monte Carlo standard error
    trace: np.ndarray    # (n_iter,): the ELBO estimate of each iteration's batch
    n_iter: int
    gradient: str        # "reparameterised" or "score-function"

    def __repr__(self):
        return (f"ReverseKLResult(q={self.q!r}, elbo={self.elbo:.6g} ± {self.elbo_stderr:.2g}, n_iter={self.n_iter}, "
                f"gradient={self.gradient!r})")


class _Gaussians:
    """q as K Gaussian components: logits alpha (K,), means (K, D), factors L (K, D, D) lower triangular
    (diagonal-only for ``diag``); packed into one vector with log L_ii in place of L_ii."""

    def __init__(self, kind, weights, means, factors, diag):
        self.kind = kind
        self.K, self.D = means.shape
        self.diag = diag
        self.alpha = np.log(weights)
        self.means = means.astype(np.float64).copy()
        self.factors = factors.astype(np.float64).copy()

    @classmethod
    def from_model(cls, q):
        from ..models.mixture import GaussianMixture
        from ..models.mvn import MultivariateNormal
        from ..models.normal import Normal

        if isinstance(q, Normal):
            return cls("normal", np.ones(1), np.array([[q.loc]]), np.array([[[q.scale]]]), True)
        if isinstance(q, MultivariateNormal):
            if q.covariance_type not in ("full", "diag"):
                raise ValueError("fit_reverse_kl takes a MultivariateNormal with covariance_type 'full' or 'diag'")
            gm = q._mixture
            return cls(f"mvn-{q.covariance_type}", np.ones(1), gm.means_, _factors(gm), q.covariance_type == "diag")
        if isinstance(q, GaussianMixture):
            if not hasattr(q, "weights_"):
                raise ValueError("q must have parameters (a start): use GaussianMixture.from_params or a fitted one")
            if q.covariance_type not in ("full", "diag"):
                raise ValueError("fit_reverse_kl takes a GaussianMixture with covariance_type 'full' or 'diag'")
            return cls(f"gmm-{q.covariance_type}", q.weights_, q.means_, _factors(q), q.covariance_type == "diag")
        raise TypeError(f"q must be a Normal, MultivariateNormal or GaussianMixture, got {type(q).__name__}")

    # --- packing: theta = [alpha (K > 1 only), means, L entries (log on the diagonal)]
    def _tri(self):
        if self.diag:
            return np.arange(self.D), np.arange(self.D)
        return np.tril_indices(self.D)

    def pack(self):
        rows, cols = self._tri()
        L = self.factors[:, rows, cols].copy()
        on_diag = rows == cols
        L[:, on_diag] = np.log(L[:, on_diag])
        parts = [self.alpha] if self.K > 1 else []
        return np.concatenate(parts + [self.means.ravel(), L.ravel()])

    def unpack(self, theta):
        rows, cols = self._tri()
        i = 0
        if self.K > 1:
            self.alpha = theta[:self.K].copy()
            i = self.K
        self.means = theta[i:i + self.K * self.D].reshape(self.K, self.D).copy()
        i += self.K * self.D
        L = theta[i:].reshape(self.K, len(rows)).copy()
        on_diag = rows == cols
        L[:, on_diag] = np.exp(L[:, on_diag])
        self.factors = np.zeros((self.K, self.D, self.D))
        self.factors[:, rows, cols] = L

    def chain(self, g_alpha, g_means, g_factors):
        """Gradients in (alpha, means, L) -> in theta (log on the diagonal: times L_ii)."""
        rows, cols = self._tri()
        gL = g_factors[:, rows, cols].copy()
        on_diag = rows == cols
        gL[:, on_diag] *= self.factors[:, rows[on_diag], cols[on_diag]]
        parts = [g_alpha] if self.K > 1 else []
        return np.concatenate(parts + [g_means.ravel(), gL.ravel()])

    @property
    def weights(self):
        a = self.alpha - self.alpha.max()
        w = np.exp(a)
        return w / w.sum()

    def log_q(self, X):
        """log q(X) (n,) and, per component, log w_k + log q_k(X) (n, K)."""
        n = X.shape[0]
        terms = np.empty((n, self.K))
        lw = np.log(self.weights)
        for k in range(self.K):
            Z = np.linalg.solve(self.factors[k], (X - self.means[k]).T).T if not self.diag else \
                (X - self.means[k]) / np.diag(self.factors[k])
            terms[:, k] = (lw[k] - 0.5 * np.sum(Z * Z, axis=1) - np.sum(np.log(np.diag(self.factors[k])))
                           - 0.5 * self.D * np.log(2 * np.pi))
        return np.logaddexp.reduce(terms, axis=1), terms

    def grad_x_log_q(self, X, terms, total):
        """grad_x log q(X) (n, D) = sum_k r_k(x) (-Sigma_k^-1 (x - mu_k))."""
        r = np.exp(terms - total[:, None])
        out = np.zeros_like(X)
        for k in range(self.K):
            L = self.factors[k]
            if self.diag:
                prec_dx = (X - self.means[k]) / np.diag(L) ** 2
            else:
                z = np.linalg.solve(L, (X - self.means[k]).T)
                prec_dx = np.linalg.solve(L.T, z).T
            out -= r[:, k:k + 1] * prec_dx
        return out

    def model(self):
        from ..models.mixture import GaussianMixture
        from ..models.mvn import MultivariateNormal
        from ..models.normal import Normal

        cov = np.einsum("kij,klj->kil", self.factors, self.factors)
        if self.kind == "normal":
            return Normal(self.means[0, 0], self.factors[0, 0, 0])
        if self.kind == "mvn-full":
            return MultivariateNormal(self.means[0], cov[0])
        if self.kind == "mvn-diag":
            return MultivariateNormal(self.means[0], np.diag(cov[0]), covariance_type="diag")
        ct = self.kind.split("-")[1]
        covs = cov if ct == "full" else np.diagonal(cov, axis1=1, axis2=2).copy()
        return GaussianMixture.from_params(self.weights, self.means, covs, ct)


def _factors(gm):
    """Lower Cholesky factors (K, D, D) of a GaussianMixture's covariances (full or diag)."""
    if gm.covariance_type == "full":
        return np.linalg.cholesky(gm.covariances_)
    K, D = gm.means_.shape
    out = np.zeros((K, D, D))
    idx = np.arange(D)
    out[:, idx, idx] = np.sqrt(gm.covariances_)
    return out


def _call(fn, X, name, shape):
    v = np.asarray(fn(X), dtype=np.float64)
    if v.shape != shape:
        raise ValueError(f"{name} must return an array of shape {shape} for X of shape {X.shape}, got {v.shape}")
    return v


def fit_reverse_kl(q, log_target, *, grad_log_target=None, n_samples=256, max_iter=2000, learning_rate=0.02,
                   random_state=None, n_eval=100_000):
    """Fit q to exp(log_target) / Z by maximising the ELBO (minimising D_KL(q || p)); returns a
    ``ReverseKLResult`` (fitted q, ELBO with standard error, per-iteration trace).

    q: the start, a ``Normal``, ``MultivariateNormal`` ("full"/"diag") or ``GaussianMixture`` ("full"/"diag",
    K fixed); it is not modified. log_target(X (n, D)) -> (n,) unnormalised log-densities (NumPy or a
    Numba function; for a Normal q, X is (n, 1)); grad_log_target(X) -> (n, D) gradients of log_target, if
    known (reparameterised gradients; otherwise score-function gradients with a control variate).
    n_samples: draws per component per iteration; learning_rate: Adam's step (on means, log scales, factor
    entries and weight logits). The same random_state gives the same fit.
    """
    if not callable(log_target):
        raise TypeError("log_target must be a callable X (n, D) -> (n,) log-densities")
    if grad_log_target is not None and not callable(grad_log_target):
        raise TypeError("grad_log_target must be None or a callable X (n, D) -> (n, D)")
    for name, v, lo in (("n_samples", n_samples, 2), ("max_iter", max_iter, 1), ("n_eval", n_eval, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    state = _Gaussians.from_model(q)
    K, D, n = state.K, state.D, int(n_samples)
    rng = np.random.default_rng(np.random.SeedSequence(int(_random.stream_key(random_state))))
    theta = state.pack()
    m1 = np.zeros_like(theta)
    m2 = np.zeros_like(theta)
    avg = np.zeros_like(theta)
    n_avg = 0
    start_avg = max_iter - max(1, max_iter // 4)
    trace = np.empty(max_iter)
    for t in range(1, max_iter + 1):
        state.unpack(theta)
        eps = rng.standard_normal((K, n, D))
        X = state.means[:, None, :] + np.einsum("kij,knj->kni", state.factors, eps)
        flat = X.reshape(K * n, D)
        lp = _call(log_target, flat, "log_target", (K * n,))
        lq, terms = state.log_q(flat)
        h = (lp - lq).reshape(K, n)
        if not np.all(np.isfinite(h)):
            raise ValueError(f"iteration {t}: log_target returned a non-finite value at a draw of q "
                             "(q has mass where the target has none, or the step diverged: lower learning_rate)")
        w = state.weights
        f = h.mean(axis=1)
        trace[t - 1] = float(w @ f)
        g_alpha = w * (f - w @ f)
        if grad_log_target is not None:
            g = _call(grad_log_target, flat, "grad_log_target", (K * n, D))
            if K == 1:
                gh = g.reshape(K, n, D)  # one Gaussian: its entropy term is exact (below)
            else:
                gh = (g - state.grad_x_log_q(flat, terms, lq)).reshape(K, n, D)
            g_means = w[:, None] * gh.mean(axis=1)
            g_factors = w[:, None, None] * np.einsum("kni,knj->kij", gh, eps) / n
            if K == 1:
                g_factors[0] += np.diag(1.0 / np.diag(state.factors[0]))
            gradient = "reparameterised"
        else:
            # score function of each component with a leave-one-out baseline (the control variate)
            centred = h - (h.sum(axis=1, keepdims=True) - h) / (n - 1)
            Linv_T_eps = np.stack([np.linalg.solve(state.factors[k].T, eps[k].T).T for k in range(K)])
            g_means = w[:, None] * np.einsum("kn,kni->ki", centred, Linv_T_eps) / n
            g_factors = w[:, None, None] * (np.einsum("kn,kni,knj->kij", centred, Linv_T_eps, eps) / n)
            gradient = "score-function"
        if state.diag:
            g_factors = g_factors * np.eye(D)[None]
        g_factors = np.tril(g_factors)
        grad = state.chain(g_alpha, g_means, g_factors)
        # Adam (ascent)
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        theta = theta + learning_rate * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
        if t > start_avg:
            n_avg += 1
            avg += (theta - avg) / n_avg
    state.unpack(avg)
    fitted = state.model()
    # the ELBO of the fitted q from fresh draws, with its standard error
    eval_key = np.random.SeedSequence([int(_random.stream_key(random_state)) if random_state is not None else
                                       int(rng.integers(2**63)), 1])
    draw = fitted.sample(int(n_eval), random_state=eval_key)
    Xe = draw[0] if isinstance(draw, tuple) else draw
    Xe = np.asarray(Xe, dtype=np.float64).reshape(int(n_eval), D)
    lq_e = state.log_q(Xe)[0]
    d = _call(log_target, Xe, "log_target", (int(n_eval),)) - lq_e
    return ReverseKLResult(fitted, float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))), trace, max_iter, gradient)
