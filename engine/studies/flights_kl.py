"""The seed's loop, closed: how far is a fitted Gaussian mixture from the data, D_KL(p_data || p_theta), per K.

    python -m engine.studies.flights_kl [--data datasets/flights.parquet] [--max-k 8] [--markdown out.md]

Fits GaussianMixture(K, full) for K = 1..max_k to a seeded 80% of the complete rows of the flights data
(dep_delay, arr_delay, air_time, distance) and estimates, on the held-out 20%, D_KL(p_data || p_theta) =
-H(p_data) - E[log p_theta] with nearest neighbours (``engine.kl_divergence(X, model, method="knn")``) and
its 95% subsampling interval. The columns are whole minutes and miles, so the held-out rows are dequantised
(one unit of uniform noise per column, ``ties="dequantize"``): the divergence is that of the dequantised
data, the density a continuous model can be compared with. Maximum likelihood minimises exactly this
quantity on the training rows; held out, it is what the model's fit is worth.
"""
import argparse
import time
import warnings

import numpy as np

import engine

COLUMNS = ("dep_delay", "arr_delay", "air_time", "distance")


def run(path, max_k=8, seed=0, k=1):
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=list(COLUMNS))
    X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in COLUMNS]).astype(float)
    X = X[np.isfinite(X).all(axis=1)]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    cut = int(0.8 * len(X))
    train, test = X[perm[:cut]], X[perm[cut:]]
    rows = []
    for K in range(1, max_k + 1):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = engine.GaussianMixture(K, covariance_type="full", random_state=seed, n_init=2, max_iter=300).fit(train)
        r = engine.kl_divergence(test, model, method="knn", k=k, ties="dequantize", random_state=seed)
        rows.append({"K": K, "kl": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "stderr": r.stderr,
                     "train_mean_loglik": model.lower_bound_, "bic": model.bic(train), "n_train": len(train),
                     "n_test": len(test), "seconds": time.perf_counter() - t0})
    return rows


def to_markdown(rows):
    lines = ["| K | held-out D_KL(p_data ‖ p_θ) (nats) | 95% interval | train mean log-lik | train BIC |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['K']} | {r['kl']:.3f} | [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | "
                     f"{r['train_mean_loglik']:.3f} | {r['bic']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="datasets/flights.parquet")
    p.add_argument("--max-k", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown")
    a = p.parse_args(argv)
    rows = run(a.data, a.max_k, a.seed)
    text = to_markdown(rows)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
