"""Side-by-side speed of the mixture families (issue 15), measured in one run.

    python -m bench.families_compare [--quick] [--repeat 3] [--markdown out.md]

Rows:
* Bernoulli EM iteration, 10M x 32 binary (int8), K = 16: engine's fused statistics + M-step vs the NumPy
  twin written the way NumPy does it best (BLAS matrix products per chunk of 2^20 rows,
  ``engine.reference.product.bernoulli_em_step_blas``), from the same parameters.
* Student-t EM iteration, 1M x 8, K = 16, full scales: engine's t mixture vs engine's Gaussian mixture of the
  same shape (the t's extra cost), and vs ``studenttmixture.EMStudentMixture`` (fixed dof) per iteration
  (fit time with i2 iterations minus i1 iterations, so initialisation cancels).
* Peak RSS of a 10M-row Bernoulli fit (a fresh process: resident memory beyond the data).
"""
import argparse
import json
import os
import subprocess
import sys
import warnings

import numpy as np

import engine
from engine.families.product import ProductParams
from engine.reference import product as product_twin

from .common import best_time, seconds_per_iteration


def bernoulli_data(n, D, K, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.uniform(0.1, 0.9, (K, D))
    X = np.empty((n, D), dtype=np.int8)
    for s in range(0, n, 1 << 20):
        z = rng.integers(0, K, min(1 << 20, n - s))
        X[s:s + len(z)] = rng.random((len(z), D)) < P[z]
    return X


def bernoulli_row(quick, repeat):
    n, D, K = (1_000_000 if quick else 10_000_000), 32, 16
    X = bernoulli_data(n, D, K)
    rng = np.random.default_rng(1)
    w0, p0 = np.full(K, 1.0 / K), rng.uniform(0.3, 0.7, (K, D))
    m = engine.Mixture(K, family="bernoulli", params_init={"probs": p0}, weights_init=w0, max_iter=0).fit(X[:1000])
    fam, params = m._family_obj, ProductParams(w0, p0, np.ones((K, D)), np.zeros((K, 0)))
    engine_t = best_time(lambda: fam.m_step(fam.statistics(X, np.empty(0), params)), repeat)
    twin_t = best_time(lambda: product_twin.bernoulli_em_step_blas(X, w0, p0), max(1, repeat // 2))
    return {"benchmark": f"Bernoulli EM iteration {n:,} x {D} int8, K={K}", "n": n, "engine_s": engine_t,
            "vs_numpy_blas": twin_t / engine_t, "target": ">= 5x numpy"}


def student_rows(quick, repeat):
    n, D, K = (100_000 if quick else 1_000_000), 8, 16
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=6, size=(K, D))
    z = rng.integers(0, K, n)
    g = rng.chisquare(5, n) / 5
    X = centres[z] + rng.normal(size=(n, D)) / np.sqrt(g)[:, None]
    start = engine.Mixture(K, family="student_t", max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X[: n // 10])
    t_init = dict(family="student_t", params_init={"means": start.means_, "covariances": start.covariances_},
                  weights_init=start.weights_, tol=0.0, random_state=0)
    g_init = dict(means_init=start.means_, precisions_init=np.linalg.inv(start.covariances_),
                  weights_init=start.weights_, tol=0.0, random_state=0)

    def per_iteration(make, i1, i2, tries):
        return seconds_per_iteration(make, X, i1, i2, tries)

    fixed = dict(t_init, dof=4.0)
    t_learned = per_iteration(lambda it: engine.Mixture(K, max_iter=it, **t_init), 1, 11, repeat)
    t_fixed = per_iteration(lambda it: engine.Mixture(K, max_iter=it, **fixed), 1, 11, repeat)
    gauss = per_iteration(lambda it: engine.GaussianMixture(K, max_iter=it, **g_init), 1, 11, repeat)
    rows = [{"benchmark": f"Student-t EM iteration full {n:,} x {D}, K={K} (dof learned)", "n": n,
             "engine_s": t_learned, "t_over_gaussian": t_learned / gauss, "target": "<= 1.5x the Gaussian"},
            {"benchmark": f"Student-t EM iteration full {n:,} x {D}, K={K} (dof fixed 4)", "n": n,
             "engine_s": t_fixed, "t_over_gaussian": t_fixed / gauss}]
    try:
        from studenttmixture import EMStudentMixture
    except ImportError:
        return rows
    other = per_iteration(lambda it: EMStudentMixture(K, tol=1e-300, max_iter=it, df=4.0, fixed_df=True, random_state=0,
                                                      init_type="kmeans"), 1, 3, 1)
    rows[1]["vs_studenttmixture"] = other / t_fixed
    rows[1]["target"] = ">= 20x studenttmixture"
    return rows


def peak_rss_row(quick):
    """The data are written to a .npy file first, so the measuring process holds nothing but engine, the data
    (loaded whole) and the fit: its peak RSS minus the RSS after loading is what the fit added."""
    import tempfile

    n = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, bernoulli_data(n, 32, 16))
        code = f"""
import resource, numpy as np, engine, warnings
X = np.load({path!r})
engine.Mixture(2, family="bernoulli", max_iter=1, random_state=0).fit(X[:1000])  # kernels loaded, small
def hwm():  # peak resident set (KiB) since the last reset
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
with open("/proc/self/clear_refs", "w") as f:  # Linux: reset the peak to the current RSS (np.load's copy gone)
    f.write("5")
before = hwm()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    engine.Mixture(16, family="bernoulli", max_iter=5, random_state=0).fit(X)
print(before, hwm(), X.nbytes)
"""
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    before, after, nbytes = map(int, out.stdout.split())
    return {"benchmark": f"Peak RSS, Bernoulli fit {n:,} x 32 int8, K=16, 5 iterations", "n": n,
            "data_MiB": nbytes / 2**20, "peak_rss_MiB": after / 1024, "rss_with_data_MiB": before / 1024,
            "fit_added_MiB": (after - before) / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="bernoulli | student | rss")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = []
    if args.only in (None, "bernoulli"):
        rows.append(bernoulli_row(args.quick, args.repeat))
    if args.only in (None, "student"):
        rows.extend(student_rows(args.quick, args.repeat))
    if args.only in (None, "rss"):
        rows.append(peak_rss_row(args.quick))
    for r in rows:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
