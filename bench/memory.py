"""Peak memory of fitting a Gaussian mixture, measured in a fresh process.

    python -m bench.memory [--rows 10000000] [--features 8] [--components 16] [--covariance-type full]

Prints the data size, the process's resident memory after creating the data (baseline: interpreter,
numba, the data) and the peak resident memory during ``fit``; the ratio peak / (baseline) says how much
fitting adds beyond the data, and peak / data is the whole process's peak against the data size (the
interpreter, numba and its LLVM included: ~170 MiB). Uses ru_maxrss (Linux, kilobytes).
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, warnings
import numpy as np
import engine
rows, D, K, ct = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
truth = engine.GaussianMixture.from_params(rng.dirichlet(np.ones(K)), rng.normal(scale=3, size=(K, D)), np.ones((K, D)), "diag")
# compile/load the kernels the measured fit uses; above 2**20 rows k-means++ seeds from a strided view,
# which is a second specialisation (a compile costs ~40 MiB of LLVM memory, and it is not the fit's)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    engine.GaussianMixture(2, covariance_type=ct, max_iter=1).fit(truth.sample((1 << 20) + 1, random_state=1)[0])
X = np.random.default_rng(0).standard_normal((rows, D))  # allocates exactly the data, no temporaries
X *= 3.0
with open("/proc/self/status") as f:
    rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS")][0]
before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    engine.GaussianMixture(K, covariance_type=ct, max_iter=5, random_state=0).fit(X)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"data_mb": X.nbytes / 2**20, "rss_with_data_mb": rss / 1024, "peak_before_fit_mb": before_peak / 1024, "peak_mb": peak / 1024}))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--components", type=int, default=16)
    p.add_argument("--covariance-type", default="full")
    a = p.parse_args(argv)
    out = subprocess.run([sys.executable, "-c", CHILD, str(a.rows), str(a.features), str(a.components), a.covariance_type],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print(f"data {r['data_mb']:.0f} MiB; resident with data {r['rss_with_data_mb']:.0f} MiB; "
          f"peak during fit {r['peak_mb']:.0f} MiB; fit added {r['peak_mb'] - r['rss_with_data_mb']:.0f} MiB "
          f"= {(r['peak_mb'] - r['rss_with_data_mb']) / r['data_mb']:.3f} x the data; "
          f"peak / (data + process before fit) = {r['peak_mb'] / r['rss_with_data_mb']:.3f}; "
          f"peak resident / data = {r['peak_mb'] / r['data_mb']:.3f} (interpreter, numba and LLVM included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
