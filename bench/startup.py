"""First-call latency: what a new process pays before engine runs at full speed.

    python -m bench.startup [--skip-quickstart] [--json FILE]

Every measurement runs in a fresh Python process, with Numba's on-disk cache in a temporary directory
(``NUMBA_CACHE_DIR``): first with that directory empty (a fresh install, a new CI run, Docker image or Dask
worker: everything compiles), then again with the cache it left behind (every later process). In each process
the calls run in this order, each timed on its first call: import engine; fit, score_samples, sample and
kl_divergence (Monte Carlo) in float64; then the same in float32 (after float64: what a second dtype adds).
Then the README Quickstart's first command (``engine fit`` + ``engine score`` on the flights data) with an
empty cache and with a warm one. The data are 20,000 x 4, K = 3, full covariances.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
t = time.perf_counter()
import numpy as np
import engine
times = {"import engine": time.perf_counter() - t}
X64 = np.random.default_rng(0).normal(size=(20_000, 4))
for dtype in ("float64", "float32"):
    X = X64.astype(dtype)
    t = time.perf_counter(); g = engine.GaussianMixture(3, random_state=0).fit(X); times[f"fit {dtype}"] = time.perf_counter() - t
    t = time.perf_counter(); g.score_samples(X); times[f"score_samples {dtype}"] = time.perf_counter() - t
    t = time.perf_counter(); g.sample(20_000, random_state=0, dtype=np.dtype(dtype)); times[f"sample {dtype}"] = time.perf_counter() - t
    q = engine.GaussianMixture.from_params(g.weights_, g.means_ + 0.1, g.covariances_, "full")
    t = time.perf_counter(); engine.kl_divergence(g, q, method="mc", n_samples=20_000, random_state=0)
    times[f"kl_divergence {dtype}"] = time.perf_counter() - t
print(json.dumps(times))
"""

QUICKSTART = [
    ["fit", "datasets/flights.parquet", "--columns", "dep_delay,arr_delay,air_time,distance", "--nulls", "drop",
     "--components", "6", "--model-out", "{out}/flights.model.arrow", "--overwrite", "--quiet"],
    ["score", "datasets/flights.parquet", "--model", "{out}/flights.model.arrow", "--output",
     "{out}/flights_scores.parquet", "--id-column", "year,month,day,carrier,flight,origin,dest", "--nulls", "keep",
     "--labels", "--anomaly-quantile", "0.01", "--overwrite", "--quiet"],
]


def _env(cache):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache
    return env


def api_first_calls(cache):
    out = subprocess.run([sys.executable, "-c", CHILD], env=_env(cache), cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quickstart(cache, out):
    seconds = []
    for command in QUICKSTART:
        argv = [sys.executable, "-m", "engine"] + [a.format(out=out) for a in command]
        t = time.perf_counter()
        subprocess.run(argv, env=_env(cache), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - t)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-quickstart", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="engine-startup-") as tmp:
        cache = os.path.join(tmp, "numba-cache")
        os.makedirs(cache)
        results["empty cache"] = api_first_calls(cache)
        results["warm cache"] = api_first_calls(cache)
        if not args.skip_quickstart:
            qcache = os.path.join(tmp, "numba-cache-quickstart")
            os.makedirs(qcache)
            results["quickstart empty cache"] = quickstart(qcache, tmp)
            results["quickstart warm cache"] = quickstart(qcache, tmp)
    names = list(results["empty cache"])
    print(f"{'first call in a new process':<28} {'empty cache s':>14} {'warm cache s':>13}")
    for name in names:
        print(f"{name:<28} {results['empty cache'][name]:>14.2f} {results['warm cache'][name]:>13.3f}")
    if not args.skip_quickstart:
        for label in ("quickstart empty cache", "quickstart warm cache"):
            fit, score = results[label]
            print(f"{label}: engine fit {fit:.2f} s + engine score {score:.2f} s = {fit + score:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
