"""Forward vs reverse KL: fitting one Gaussian to a bimodal mixture (Goodfellow, NIPS 2016 GAN tutorial,
figure 1).

p is a two-mode 1-D Gaussian mixture; q a single Gaussian.

* Forward KL, min_q D_KL(p || q), is maximum likelihood on samples of p: the closed-form Gaussian MLE
  (mean and variance of the samples). The fit is mode *covering*: its mean lies between the modes and its
  variance spans both.
* Reverse KL, min_q D_KL(q || p), is fitted by stochastic gradient descent with the reparameterised
  estimator x = m + sigma * eps (``engine.kernels.reverse_kl``): the fit is mode *seeking*, locked onto one
  mode with about that mode's width.

Both fits are then scored in both directions by Monte Carlo KL with standard errors.
"""
from dataclasses import dataclass

import numpy as np

from .. import _random
from ..estimation.kl import KLResult, kl_divergence
from ..estimation.mle import fit_mle
from ..kernels.reverse_kl import reverse_kl_gradient
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
    reverse_trace: np.ndarray  # (steps, 3): m, sigma, KL estimate per SGD step

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


def fit_reverse_kl(p, m0, sigma0, steps=1500, batch=4096, learning_rate=0.03, random_state=0):
    """Adam on (m, log sigma) with reparameterised gradients; returns (m, sigma, trace (steps, 3))."""
    if p.n_features_in_ != 1:
        raise ValueError("the reverse-KL study needs a 1-D mixture p")
    key = _random.stream_key(random_state)
    weights = p.weights_
    mus = p.means_[:, 0]
    sds = np.sqrt(p.covariances_ if p.covariance_type == "spherical" else p.covariances_.reshape(len(weights), -1)[:, 0])
    theta = np.array([m0, np.log(sigma0)])
    m1 = np.zeros(2)
    m2 = np.zeros(2)
    b1, b2, eps = 0.9, 0.999, 1e-8
    trace = np.empty((steps, 3))
    for t in range(1, steps + 1):
        gm, gr, kl = reverse_kl_gradient(theta[0], theta[1], weights, mus, sds, key, (t - 1) * batch, batch)
        g = np.array([gm, gr])
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b2 * m2 + (1 - b2) * g * g
        theta -= learning_rate * (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps)
        trace[t - 1] = theta[0], np.exp(theta[1]), kl
    return theta[0], np.exp(theta[1]), trace


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
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
