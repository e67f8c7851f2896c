"""Nearest-neighbour speed, side by side in one run (issue 19).

    python -m bench.knn_compare [--n 1000000] [--dims 2,4,8,16] [--k 5] [--ud-n 20000]

* kNN step: engine's k-d tree (build + parallel query of all n points against themselves, k neighbours
  besides the point) vs scipy's ``cKDTree(X).query(X, k + 1, workers=-1)`` (build + query), both on all
  cores, on N(0, I_D) data.
* Whole entropy estimate: ``engine.entropy(X, k)`` (subsampling intervals off, then on) vs
  ``universal_divergence.estimate`` (a two-sample KL, its only estimator: the closest comparable whole
  computation, a kNN pass over X and over Y) at n = 20,000 (it does not scale further: an O(n^2) scan).
"""
import argparse
import json
import time

import numpy as np

import engine
from engine.estimation.knn import knn_distances


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def knn_rows(n, dims, k, repeat):
    from scipy.spatial import cKDTree

    rows = []
    for D in dims:
        X = np.random.default_rng(D).normal(size=(n, D))
        knn_distances(X[:2000], k)  # compile / load the kernels
        ours = timed(lambda: knn_distances(X, k), repeat)
        theirs = timed(lambda: cKDTree(X).query(X, k + 1, workers=-1), repeat)
        rows.append({"benchmark": f"kNN distances n={n:,} D={D} k={k} (build + query)", "engine_s": ours,
                     "scipy_cKDTree_s": theirs, "ratio_scipy_over_engine": theirs / ours})
    return rows


def entropy_rows(n, k):
    rows = []
    try:
        import universal_divergence as ud
    except ImportError:
        return rows
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    Y = rng.normal(size=(n, 4)) + 0.5
    engine.entropy(X[:1000], k=k, n_subsamples=0)
    ours = timed(lambda: engine.entropy(X, k=k, n_subsamples=0), 3)
    ours_ci = timed(lambda: engine.entropy(X, k=k, random_state=0), 1)
    ours_kl = timed(lambda: engine.kl_divergence(X, Y, method="knn", k=k, bias_correction=False, n_subsamples=0), 3)
    theirs = timed(lambda: ud.estimate(X, Y, k=k), 1)
    # universal-divergence's default mode (adaptive k, WKV's bias-reduced estimator) against engine's same
    # estimator (bias_correction="adaptive"): O(n^2) in Python, so at n / 10 and n / 4 only
    for m in (n // 10, n // 4):
        Xm, Ym = X[:m], Y[:m]
        ours_a = timed(lambda: engine.kl_divergence(Xm, Ym, method="knn", bias_correction="adaptive",
                                                    n_subsamples=0), 3)
        t = time.perf_counter()
        ud.estimate(Xm, Ym)
        theirs_a = time.perf_counter() - t
        rows.append({"benchmark": f"two-sample KL, adaptive k (universal-divergence's default), n={m:,} D=4",
                     "engine_s": ours_a, "universal_divergence_s": theirs_a, "ratio": theirs_a / ours_a})
    rows.append({"benchmark": f"whole estimate n={n:,} D=4 k={k}", "engine_entropy_s": ours,
                 "engine_entropy_with_100_subsample_interval_s": ours_ci, "engine_two_sample_kl_s": ours_kl,
                 "universal_divergence_two_sample_kl_s": theirs, "ratio_ud_over_engine_entropy": theirs / ours,
                 "ratio_ud_over_engine_kl": theirs / ours_kl})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dims", default="2,4,8,16")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--ud-n", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--json")
    a = p.parse_args(argv)
    rows = knn_rows(a.n, [int(d) for d in a.dims.split(",")], a.k, a.repeat) + entropy_rows(a.ud_n, a.k)
    for r in rows:
        print(json.dumps(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
