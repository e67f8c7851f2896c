"""Side-by-side throughput of engine against its NumPy twins, scipy and scikit-learn, measured in one run.

    python -m bench.compare [--quick] [--json out.json] [--markdown out.md]
    python -m bench.compare --limits    # the copy/FLOP/exp limits and the full-covariance D x K sweep

Each row times one operation (best of --repeat runs, after a warm-up call that compiles/caches the kernels)
and reports points per second and the ratio engine / other. Each row runs in a fresh process (as asv runs
each benchmark), and all sides of a row in that same process, one after the other, so a noisy shared
machine shifts both sides together; --same-process runs every row in this one.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import warnings

import numba
import numpy as np
from numba import njit, prange

import engine
from engine import reference

from .common import best_time, best_times_interleaved, seconds_per_iteration, sklearn_twin

try:
    import scipy.stats as scipy_stats
except ImportError:  # optional oracle
    scipy_stats = None
try:
    from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
except ImportError:
    SkGaussianMixture = SkBayesianGaussianMixture = None


@njit(parallel=True, cache=True)
def _parallel_copy_into(src, dst):
    for i in prange(src.shape[0]):
        dst[i] = src[i]


def parallel_copy(src):
    """The memory floor for a streaming kernel: read n doubles, write n doubles into a new array allocated
    by NumPy, as logpdf allocates its output (Numba's own allocator would skip NumPy's huge-page advice
    and make the floor look ~3x slower than it is)."""
    dst = np.empty_like(src)
    _parallel_copy_into(src, dst)
    return dst


def mixture_params(rng, K, D, covariance_type):
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(scale=3, size=(K, D))
    if covariance_type == "full":
        A = rng.normal(size=(K, D, D))
        covs = A @ A.transpose(0, 2, 1) / D + 0.5 * np.eye(D)
    else:
        covs = rng.uniform(0.5, 2.0, size=(K, D))
    return weights, means, covs


def run(quick=False, repeat=5, only=None):
    rng = np.random.default_rng(0)
    rows = []

    def wanted(name):
        return only is None or only.lower() in name.lower()

    def add(name, n, times, targets=None):
        base = times["engine"]
        row = {"benchmark": name, "n": n, "engine_points_per_s": n / base}
        for other, t in times.items():
            if other != "engine":
                row[f"vs_{other}"] = t / base
        row["targets"] = targets or {}
        rows.append(row)

    n = 1_000_000 if quick else 10_000_000
    x = rng.normal(size=n) if wanted("Normal logpdf") else None
    model = engine.Normal(0.5, 2.0)
    times = {} if x is None else best_times_interleaved({
        "engine": (lambda: model.logpdf(x), repeat),
        "memcopy": (lambda: parallel_copy(x), repeat),
        "numpy": (lambda: reference.normal_log_density(x, 0.5, 2.0), repeat),
    })
    if scipy_stats is not None and times:
        times["scipy"] = best_time(lambda: scipy_stats.norm(0.5, 2.0).logpdf(x), max(1, repeat // 2))
    if times:
        add("Normal logpdf", n, times, {"memcopy": 0.7, "numpy": 5})
    if x is not None and wanted("Normal logpdf out="):
        # a batch job's steady state: the same-sized batch scored again and again into one caller-owned
        # buffer; the floor is a copy into an existing buffer (no allocation, no page faults)
        buf, dst = np.empty_like(x), np.empty_like(x)
        add("Normal logpdf out=", n, best_times_interleaved({
            "engine": (lambda: model.logpdf(x, out=buf), repeat),
            "memcopy_into": (lambda: _parallel_copy_into(x, dst), repeat),
        }), {"memcopy_into": 0.8})

    n = 100_000 if quick else 1_000_000
    K, D = 16, 8
    for covariance_type in ("full", "diag"):
        w, m, c = mixture_params(rng, K, D, covariance_type)
        if not wanted(f"GMM score_samples {covariance_type}"):
            continue
        X = rng.normal(scale=3, size=(n, D))
        gmm = engine.GaussianMixture.from_params(w, m, c, covariance_type)
        sides = {
            "engine": (lambda: gmm.score_samples(X), repeat),
            "numpy": (lambda: reference.mixture_log_density(X, *gmm._kernel_params), max(1, repeat // 2)),
        }
        if SkGaussianMixture is not None:
            sk = sklearn_twin(gmm)
            sides["sklearn"] = (lambda: sk.score_samples(X), max(1, repeat // 2))
        times = best_times_interleaved(sides)
        add(f"GMM score_samples {covariance_type} K={K} D={D}", n, times, {"sklearn": 10})

    for covariance_type in ("full", "diag"):
        w, m, c = mixture_params(rng, K, D, covariance_type)
        if not wanted(f"GMM sample {covariance_type}"):
            continue
        gmm = engine.GaussianMixture.from_params(w, m, c, covariance_type)
        key = np.uint64(1)
        # a batch job's steady state: every draw into the same caller-owned arrays (no allocation and no
        # page faults for the 64 MB output), timed in turn with the fresh-output draw and the other sides.
        # A fresh process's first large allocations are slow while the kernel compacts memory into huge
        # pages (the first few 64 MiB outputs take 5x longer): every side gets the same five warm-up calls
        X_buf, labels_buf = np.empty((n, D)), np.empty(n, dtype=np.int64)
        sides = {
            "engine": (lambda: gmm.sample(n, random_state=1), repeat),
            "engine_out": (lambda: gmm.sample(n, random_state=1, out=X_buf, labels_out=labels_buf), repeat),
            "numpy": (lambda: reference.mixture_sample(key, 0, *gmm._sampler_params, n), max(1, repeat // 2)),
        }
        if SkGaussianMixture is not None:
            sk = sklearn_twin(gmm)
            sk.random_state = 0
            sides["sklearn"] = (lambda: sk.sample(n), repeat)
        times = best_times_interleaved(sides, warmup=5)
        out_time = times.pop("engine_out")
        add(f"GMM sample {covariance_type} K={K} D={D}", n, times, {"sklearn": 15})
        add(f"GMM sample {covariance_type} out= K={K} D={D}", n, dict(times, engine=out_time), {"sklearn": 15})

    # Monte Carlo KL between two K=16, D=8 full mixtures; the twin samples and evaluates in batches of 2**20
    if wanted("MC KL"):
        n_kl = 1_000_000 if quick else 10_000_000
        p_mix = engine.GaussianMixture.from_params(*mixture_params(rng, K, D, "full"), "full")
        q_mix = engine.GaussianMixture.from_params(*mixture_params(rng, K, D, "full"), "full")

        def twin_kl():
            total, acc, acc2 = 0, 0.0, 0.0
            for start in range(0, n_kl, 1 << 20):
                m = min(1 << 20, n_kl - start)
                Xs, _ = reference.mixture_sample(np.uint64(1), start, *p_mix._sampler_params, m)
                v = reference.mixture_log_density(Xs, *p_mix._kernel_params) - reference.mixture_log_density(Xs, *q_mix._kernel_params)
                total, acc, acc2 = total + m, acc + v.sum(), acc2 + (v * v).sum()
            return acc / total

        times = {
            "engine": best_time(lambda: engine.kl_divergence(p_mix, q_mix, method="mc", n_samples=n_kl, random_state=1), max(1, repeat // 2)),
            "numpy": best_time(twin_kl, 1),
        }
        add(f"MC KL full K={K} D={D} (samples)", n_kl, times, {"numpy": 10})

    # one EM iteration from the same parameters: (time of fit with i2 iterations - i1 iterations) / (i2 - i1),
    # tol=0, so initialisation and the final pass cancel out
    truth = engine.GaussianMixture.from_params(*mixture_params(rng, K, D, "diag"), "diag")
    X, _ = truth.sample(n, random_state=0)
    for covariance_type in ("full", "diag"):
        if not wanted(f"EM iteration {covariance_type}"):
            continue
        start = engine.GaussianMixture(K, covariance_type=covariance_type, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start.fit(X[: n // 10])
        init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_,
                    init_params="random_from_data", tol=0.0, covariance_type=covariance_type, random_state=0)

        times = {"engine": seconds_per_iteration(lambda iters: engine.GaussianMixture(K, max_iter=iters, **init),
                                                 X, 1, 11, tries=5)}
        if SkGaussianMixture is not None:
            times["sklearn"] = seconds_per_iteration(lambda iters: SkGaussianMixture(K, max_iter=iters, **init), X, 1, 3)
        add(f"EM iteration {covariance_type} K={K} D={D}", n, times, {"sklearn": 20})

    # one variational (BayesianGaussianMixture) iteration, the same way; both start from random_from_data
    # points of their own generator (the difference of iteration counts cancels the initialisation)
    for covariance_type in ("full", "diag"):
        if not wanted(f"VB iteration {covariance_type}"):
            continue
        init = dict(n_components=K, covariance_type=covariance_type, init_params="random_from_data", tol=0.0,
                    random_state=0)
        times = {"engine": seconds_per_iteration(lambda iters: engine.BayesianGaussianMixture(max_iter=iters, **init),
                                                 X, 1, 11, tries=5)}
        if SkBayesianGaussianMixture is not None:
            times["sklearn"] = seconds_per_iteration(lambda iters: SkBayesianGaussianMixture(max_iter=iters, **init),
                                                     X, 1, 3)
        add(f"VB iteration {covariance_type} K={K} D={D}", n, times, {"sklearn": 20})
    return rows


#: the rows, by the text that selects them with --only
ROWS = ("Normal logpdf", "GMM score_samples full", "GMM score_samples diag", "GMM sample full", "GMM sample diag",
        "MC KL", "EM iteration full", "EM iteration diag", "VB iteration full", "VB iteration diag")


def run_isolated(quick, repeat, only):
    """Each row in a fresh Python process, so that one row's memory churn (hundreds of MiB allocated and
    freed) does not change the page-fault cost the next row sees; within a row every side still runs in
    the same process, one after the other."""
    rows = []
    for name in ROWS:
        if only is not None and only.lower() not in name.lower():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "row.json")
            cmd = [sys.executable, "-m", "bench.compare", "--same-process", "--only", name, "--repeat", str(repeat),
                   "--json", out] + (["--quick"] if quick else [])
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            with open(out) as f:
                rows.extend(json.load(f)["rows"])
    return rows


def machine():
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def to_markdown(rows, info):
    others = sorted({k for r in rows for k in r if k.startswith("vs_")})
    head = "| benchmark | n | engine points/s | " + " | ".join(o.replace("vs_", "× ") for o in others) + " |"
    lines = [head, "|" + "---|" * (3 + len(others))]
    for r in rows:
        cells = []
        for o in others:
            if o in r:
                target = r["targets"].get(o[3:])
                mark = "" if target is None else (" ✓" if r[o] >= target else f" (target {target})")
                cells.append(f"{r[o]:.2f}{mark}")
            else:
                cells.append("–")
        lines.append(f"| {r['benchmark']} | {r['n']:,} | {r['engine_points_per_s']:.3g} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Ratios are other time / engine time (higher = engine faster), best of several runs; each row in a fresh process, all sides of a row in that one (Normal logpdf, scoring and sampling: timed in turn). "
                 f"Machine: {info['cores']} cores, {info['numba_threads']} Numba threads, numba {info['numba']}, "
                 f"numpy {info['numpy']}, Python {info['python']}.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs (a smoke run)")
    parser.add_argument("--only", help="run only benchmarks whose name contains this text")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--markdown", help="also write the table as Markdown here")
    parser.add_argument("--same-process", action="store_true",
                        help="run every row in this process (default: each row in a fresh one, as asv does)")
    parser.add_argument("--limits", action="store_true",
                        help="measure this machine's copy, dgemm, Numba-FMA and exp limits and sweep full-covariance scoring "
                             "and E-step over D and K against them (bench.limits), instead of the rows")
    args = parser.parse_args(argv)
    if args.limits:
        from . import limits

        measured, sweep_rows = limits.run(args.repeat, args.quick)
        table = limits.to_markdown(measured, sweep_rows)
        print(table)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": machine(), "limits": measured, "sweep": sweep_rows}, f, indent=2)
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(table + "\n")
        return 0
    if args.same_process:
        rows = run(args.quick, args.repeat, args.only)
    else:
        rows = run_isolated(args.quick, args.repeat, args.only)
    info = machine()
    table = to_markdown(rows, info)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
