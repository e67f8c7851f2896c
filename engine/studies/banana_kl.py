"""Forward vs reverse KL in 2-D: Gaussian mixtures fitted to a banana-shaped target (the 2-D version of the
seed's figure).

    python -m engine.studies.banana_kl [--output docs/banana_kl.png]

Target (known up to its normaliser, and exactly samplable): x1 ~ N(0, 2^2), x2 | x1 ~ N(B (x1^2 - 4), 1),
so log p(x) = log N(x1; 0, 4) + log N(x2; B (x1^2 - 4), 1) with Z = 1 (used only to report KL).

* forward: argmin_q KL(p || q) is maximum likelihood — EM (``GaussianMixture.fit``) on samples of p;
* reverse: argmin_q KL(q || p) — ``engine.fit_reverse_kl`` on log p and its gradient, started from the
  forward fit.

For K = 1 and K = 3 both directions are scored by Monte Carlo KL both ways.
"""
import argparse

import numpy as np

from ..estimation.kl import kl_divergence
from ..estimation.reverse_kl import fit_reverse_kl
from ..models.mixture import GaussianMixture

B = 0.5
_LOG_2PI = np.log(2 * np.pi)


def log_target(X):
    x1, x2 = X[:, 0], X[:, 1]
    r = x2 - B * (x1 ** 2 - 4)
    return -0.5 * x1 ** 2 / 4 - np.log(2.0) - 0.5 * r ** 2 - _LOG_2PI


def grad_log_target(X):
    x1, x2 = X[:, 0], X[:, 1]
    r = x2 - B * (x1 ** 2 - 4)
    return np.column_stack([-x1 / 4 + r * 2 * B * x1, -r])


def sample_target(n, seed):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 2, n)
    return np.column_stack([x1, B * (x1 ** 2 - 4) + rng.normal(size=n)])


class _Target:
    """The target as a model for ``kl_divergence`` (Monte Carlo): its log-density and exact sampler."""

    def score_samples(self, X):
        return log_target(np.asarray(X, dtype=np.float64))

    def sample(self, n, random_state=None):
        return sample_target(n, random_state), None  # an int or a SeedSequence: numpy takes either


def run(seed=0, n_fit=200_000, n_kl=200_000):
    X = sample_target(n_fit, seed)
    target = _Target()
    out = {}
    for K in (1, 3):
        forward = GaussianMixture(K, covariance_type="full", random_state=seed).fit(X)
        reverse = fit_reverse_kl(forward, log_target, grad_log_target=grad_log_target, n_samples=512,
                                 max_iter=3000, learning_rate=0.01, random_state=seed).q
        kl = {}
        for name, q in (("forward", forward), ("reverse", reverse)):
            kl[name] = {"KL(p||q)": kl_divergence(target, q, method="mc", n_samples=n_kl, random_state=seed + 1),
                        "KL(q||p)": kl_divergence(q, target, method="mc", n_samples=n_kl, random_state=seed + 2)}
        out[K] = {"forward": forward, "reverse": reverse, "kl": kl}
    return out, X


def figure(result, X, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g1, g2 = np.meshgrid(np.linspace(-6, 6, 240), np.linspace(-4, 12, 240))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    p = np.exp(log_target(grid)).reshape(g1.shape)
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.4), sharex=True, sharey=True)
    for row, K in enumerate(sorted(result)):
        for col, name in enumerate(("forward", "reverse")):
            ax = axes[row, col]
            q = result[K][name]
            qd = np.exp(q.score_samples(grid)).reshape(g1.shape)
            ax.contourf(g1, g2, p, levels=12, cmap="Greys")
            ax.contour(g1, g2, qd, levels=6, colors="tab:red", linewidths=1.2)
            kl = result[K]["kl"][name]
            crit = "KL(p||q)" if name == "forward" else "KL(q||p)"
            how = "EM on samples of p" if name == "forward" else "engine.fit_reverse_kl"
            ax.set_title(f"K={K}, {name}: argmin {crit} ({how})", fontsize=9)
            ax.text(0.02, 0.97, f"KL(p||q) = {kl['KL(p||q)'].estimate:.3f} ± {kl['KL(p||q)'].stderr:.1g}\n"
                    f"KL(q||p) = {kl['KL(q||p)'].estimate:.3f} ± {kl['KL(q||p)'].stderr:.1g}",
                    transform=ax.transAxes, va="top", fontsize=8,
                    bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    for ax in axes[-1]:
        ax.set_xlabel("$x_1$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$x_2$")
    fig.suptitle("banana target p (grey) and fitted Gaussian mixtures q (red): forward vs reverse KL")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="docs/banana_kl.png")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    result, X = run(args.seed)
    print("| K | fit | KL(p‖q) | KL(q‖p) |")
    print("|---|---|---|---|")
    for K, r in result.items():
        for name in ("forward", "reverse"):
            kl = r["kl"][name]
            print(f"| {K} | {name} | {kl['KL(p||q)'].estimate:.4f} ± {kl['KL(p||q)'].stderr:.1g} | "
                  f"{kl['KL(q||p)'].estimate:.4f} ± {kl['KL(q||p)'].stderr:.1g} |")
    if args.output:
        figure(result, X, args.output)
        print(f"figure written to {args.output}")


if __name__ == "__main__":
    main()
