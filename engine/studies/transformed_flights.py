"""A Gaussian mixture with and without Yeo–Johnson on the flights data, in the data's own units (issue 17).

    python -m engine.studies.transformed_flights [--output docs/transformed_flights.png] [--max-k 8]

The two skewed columns dep_delay and arr_delay of ``datasets/flights.parquet`` (rows with nulls dropped,
dequantised by U(0, 1): see ``load``), split 80/20 at random (seed 0). For each model, K = 1..max-k full-covariance components are fitted on the
training rows and K is chosen by BIC on them (for the transformed model the BIC counts the 4 lambdas and
is in the data's units); the table reports the held-out mean log-likelihood in the data's units. The figure
is a histogram of dep_delay with both models' fitted marginal densities (for the transformed model the
marginal is the base's marginal at T(x) times |T'(x)|: the transform acts column by column).
"""
import argparse
import os

import numpy as np

from ..models.mixture import GaussianMixture
from ..models.transformed import Transformed
from ..transforms import YeoJohnson

COLUMNS = ["dep_delay", "arr_delay"]
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "flights.parquet")


def load(path=DATA, seed=0):
    """The four columns, rows with nulls dropped, *dequantised*: every column holds integers (minutes,
    miles), and a continuous density on integers can grow without bound by stacking narrow components on
    repeated values (distance has about 200 distinct values), so u ~ U(0, 1) is added to each value (uniform
    dequantisation: the continuous log-likelihood is then a lower bound of the discrete one)."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=COLUMNS)
    X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in COLUMNS])
    X = X[~np.isnan(X).any(axis=1)]
    return X + np.random.default_rng(seed).uniform(size=X.shape)


def run(max_k=8, seed=0, path=DATA):
    X = load(path, seed)
    rng = np.random.default_rng(seed + 1)
    idx = rng.permutation(len(X))
    cut = int(0.8 * len(X))
    train, test = X[idx[:cut]], X[idx[cut:]]
    out = {}
    for name, make in (("raw", lambda K: GaussianMixture(K, random_state=seed)),
                       ("yeo-johnson", lambda K: Transformed(GaussianMixture(K, random_state=seed), YeoJohnson()))):
        fits = {}
        for K in range(1, max_k + 1):
            m = make(K).fit(train)
            fits[K] = (m.bic(train), m, float(np.mean(m.score_samples(test))))
        K = min(fits, key=lambda k: fits[k][0])
        model = fits[K][1]
        out[name] = {"K": K, "bic": {k: float(v[0]) for k, v in fits.items()}, "model": model,
                     "test_by_k": {k: v[2] for k, v in fits.items()}, "by_k": {k: v[1] for k, v in fits.items()},
                     "train": float(np.mean(model.score_samples(train))),
                     "test": float(np.mean(model.score_samples(test)))}
    return out, train, test


def marginal_log_density(model, j, x):
    """log p(x_j) of column j under a GaussianMixture or a Transformed(GaussianMixture, column-wise T)."""
    if isinstance(model, Transformed):
        t = model.transform
        D = model.base.means_.shape[1]
        full = np.zeros((len(x), D))
        full[:, j] = x
        y = t.forward(full)[:, j]
        lam = t.lambdas_[j]
        ld = (lam - 1.0) * np.sign(x) * np.log1p(np.abs(x))
        return marginal_log_density(model.base, j, y) + ld
    var = model.covariances_[:, j, j]
    lw = np.log(model.weights_)
    terms = lw[None, :] - 0.5 * np.log(2 * np.pi * var)[None, :] - 0.5 * (x[:, None] - model.means_[None, :, j]) ** 2 / var
    return np.logaddexp.reduce(terms, axis=1)


def figure(result, train, output, column="dep_delay", small_k=2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = COLUMNS.index(column)
    lo, hi = np.quantile(train[:, j], [0.001, 0.995])
    grid = np.linspace(lo, hi, 2000)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(train[:, j], bins=np.arange(np.floor(lo), np.ceil(hi) + 1, 1.0), density=True, color="0.8",
            label="training data (1-minute bins)")
    for name, style in (("raw", "C1--"), ("yeo-johnson", "C0-")):
        r = result[name]
        ax.plot(grid, np.exp(marginal_log_density(r["model"], j, grid)), style, lw=1.6,
                label=f"{name}: K={r['K']} by BIC, held-out mean log-lik {r['test']:.3f}")
    for name, style in (("raw", "C3:"), ("yeo-johnson", "C2-.")):
        r = result[name]
        ax.plot(grid, np.exp(marginal_log_density(r["by_k"][small_k], j, grid)), style, lw=1.4,
                label=f"{name}: K={small_k}, held-out mean log-lik {r['test_by_k'][small_k]:.3f}")
    ax.set_xlim(lo, hi)
    ax.set_yscale("log")
    ax.set_ylim(1e-6, None)
    ax.set_xlabel(f"{column} (minutes)")
    ax.set_ylabel("density (log scale)")
    ax.set_title("flights: Gaussian mixture on the raw data vs on Yeo–Johnson(data), densities in minutes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="docs/transformed_flights.png", help="PNG ('' for none; needs matplotlib)")
    ap.add_argument("--max-k", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    result, train, test = run(args.max_k, args.seed)
    print(f"{len(train):,} training rows, {len(test):,} held-out rows; columns {', '.join(COLUMNS)}")
    print("| model | K (BIC) | BIC (train) | mean log-lik, train | mean log-lik, held out |")
    print("|---|---|---|---|---|")
    for name, r in result.items():
        print(f"| {name} | {r['K']} | {r['bic'][r['K']]:.0f} | {r['train']:.4f} | {r['test']:.4f} |")
    print(f"lambdas: {np.array2string(result['yeo-johnson']['model'].transform.lambdas_, precision=4)}")
    print("held-out mean log-likelihood by K: | K | " + " | ".join(str(k) for k in result["raw"]["test_by_k"]) + " |")
    for name, r in result.items():
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in r["test_by_k"].values()) + " |")
    if args.output:
        figure(result, train, args.output)
        print(f"figure written to {args.output}")


if __name__ == "__main__":
    main()
