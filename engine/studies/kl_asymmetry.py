"""Forward vs reverse KL: fitting one Gaussian to a bimodal mixture (Goodfellow, NIPS 2016 GAN tutorial,
figure 1).

p is a two-mode 1-D Gaussian mixture; q a single Gaussian.

* Forward KL, min_q D_KL(p || q), is maximum likelihood on samples of p: the closed-form Gaussian MLE
  (mean and variance of the samples). The fit is mode *covering*: its mean lies between the modes and its
  variance spans both.
* Reverse KL, min_q D_KL(q || p), is fitted by ``engine.fit_reverse_kl`` (stochastic gradient ascent on the
  ELBO with the reparameterised estimator x = m + sigma * eps): the fit is mode *seeking*, locked onto one
  mode with about that mode's width.

Both fits are then scored in both directions by Monte Carlo KL with standard errors.
"""
from dataclasses import dataclass

import numpy as np

from .._termination import commit_file
from ..estimation.kl import KLResult, kl_divergence
from ..estimation.mle import fit_mle
from ..estimation.reverse_kl import fit_reverse_kl as engine_fit_reverse_kl
from ..models import GaussianMixture, Normal


@dataclass
class KLAsymmetryResult:
    p: GaussianMixture
    forward_fit: Normal
    reverse_fit: Normal
    kl_p_forward: KLResult   # D_KL(p || q_forward): small (what the forward fit minimises)
    kl_p_reverse: KLResult   # D_KL(p || q_reverse): large, q_reverse misses a mode
    kl_forward_p: KLResult   # D_KL(q_forward || p): large, q_forward puts mass between the modes
    kl_reverse_p: KLResult   # D_KL(q_reverse || p): small (what the reverse fit minimises)
    reverse_trace: np.ndarray  # (steps,): the ELBO estimate (= -KL(q || p), p normalised) per step

    def summary(self):
        f, r = self.forward_fit, self.reverse_fit
        return "\n".join([
            f"p: {self.p.weights_[0]:.2f} N({self.p.means_[0, 0]:g}, {np.sqrt(self.p.covariances_[0]):g}^2) + "
            f"{self.p.weights_[1]:.2f} N({self.p.means_[1, 0]:g}, {np.sqrt(self.p.covariances_[1]):g}^2)",
            f"forward fit  argmin KL(p||q): N({f.loc:.4f}, {f.scale:.4f}^2)   (mode covering)",
            f"reverse fit  argmin KL(q||p): N({r.loc:.4f}, {r.scale:.4f}^2)   (mode seeking)",
            f"KL(p || q_forward) = {self.kl_p_forward}",
            f"KL(p || q_reverse) = {self.kl_p_reverse}",
            f"KL(q_forward || p) = {self.kl_forward_p}",
            f"KL(q_reverse || p) = {self.kl_reverse_p}",
        ])


def default_p():
    return GaussianMixture.from_params([0.5, 0.5], [[-2.0], [2.0]], [0.6**2, 0.6**2], "spherical")


def _mixture_target(p):
    """log p and d/dx log p of a 1-D GaussianMixture p (for ``engine.fit_reverse_kl``)."""
    var = p.covariances_.reshape(len(p.weights_), -1)[:, 0]
    mus = p.means_[:, 0]

    def log_target(X):
        return p.score_samples(X)

    def grad_log_target(X):
        _, resp = p.log_density_and_responsibilities(X)
        return (resp * (mus[None, :] - X) / var[None, :]).sum(axis=1, keepdims=True)

    return log_target, grad_log_target


def fit_reverse_kl(p, m0, sigma0, steps=1500, batch=4096, learning_rate=0.03, random_state=0):
    """The reverse fit through ``engine.fit_reverse_kl`` (reparameterised gradients, Adam); returns
    (m, sigma, the ELBO trace (steps,))."""
    if p.n_features_in_ != 1:
        raise ValueError("the reverse-KL study needs a 1-D mixture p")
    log_target, grad = _mixture_target(p)
    r = engine_fit_reverse_kl(Normal(m0, sigma0), log_target, grad_log_target=grad, n_samples=batch,
                              max_iter=steps, learning_rate=learning_rate, random_state=random_state,
                              n_eval=10_000)
    return r.q.loc, r.q.scale, r.trace


def run(p=None, n_fit=200_000, n_kl=1_000_000, random_state=0):
    """The study: both fits and the four divergences (Monte Carlo, with standard errors)."""
    p = p or default_p()
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(0, 2**31, size=6)
    forward = fit_mle(p.sample(n_fit, random_state=int(seeds[0]))[0], family="normal")
    # Reverse KL has several local optima: started wide and near the middle (e.g. at the forward fit
    # itself) SGD settles in a broad, centred Gaussian with a larger reverse KL than either one-mode fit.
    # Start it off-centre and at half the forward width, as a generic initialisation would be.
    m0, sigma0 = forward.loc + 0.5 * forward.scale, 0.5 * forward.scale
    m, sigma, trace = fit_reverse_kl(p, m0, sigma0, random_state=int(seeds[1]))
    reverse = Normal(m, sigma)
    kl = lambda a, b, s: kl_divergence(a, b, method="mc", n_samples=n_kl, random_state=int(s))  # noqa: E731
    return KLAsymmetryResult(
        p, forward, reverse,
        kl(p, forward, seeds[2]), kl(p, reverse, seeds[3]), kl(forward, p, seeds[4]), kl(reverse, p, seeds[5]),
        trace,
    )


def plot(result, path):
    """Write a PNG like figure 1 of Goodfellow's tutorial: p, the forward fit and the reverse fit."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the figure needs matplotlib: pip install 'engine[plot]'") from None
    import os
    import tempfile

    x = np.linspace(-5, 5, 1001)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    p_density = np.exp(result.p.logpdf(x[:, None]))
    for ax, q, title, kl in (
        (axes[0], result.forward_fit, "forward: $q^* = \\arg\\min_q D_{KL}(p \\| q)$", result.kl_p_forward),
        (axes[1], result.reverse_fit, "reverse: $q^* = \\arg\\min_q D_{KL}(q \\| p)$", result.kl_reverse_p),
    ):
        ax.plot(x, p_density, color="black", lw=2, label="$p(x)$")
        ax.plot(x, np.exp(q.logpdf(x)), color="tab:red", lw=2, ls="--", label="$q^*(x)$")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.text(0.02, 0.95, f"KL = {kl.estimate:.4f} ± {kl.stderr:.1g}", transform=ax.transAxes, va="top")
        ax.legend(loc="upper right")
    axes[0].set_ylabel("probability density")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        commit_file(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
