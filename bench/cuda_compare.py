"""GPU vs CPU: scoring and one EM iteration (statistics pass + M-step) for a K=16 mixture.

    python -m bench.cuda_compare [--rows 10000000] [--features 8] [--components 16] [--cpu-threads N]

Times (best of --repeat) the CPU path (Numba, --cpu-threads threads) and the CUDA path with the data
already on the GPU (the steady state of a GPU pipeline) and with the host-to-device copy included.
"""
import argparse

import numba
import numpy as np

import engine
from engine.estimation.em import e_step_stats, m_step

from .common import best_time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--cpu-threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    from numba import cuda

    if a.cpu_threads:
        numba.set_num_threads(a.cpu_threads)
    rng = np.random.default_rng(0)
    n, D, K = a.rows, a.features, a.components
    X = rng.normal(scale=3, size=(n, D))
    dX = cuda.to_device(X)
    print(f"{n:,} x {D}, K={K}; CPU threads {numba.get_num_threads()}; GPU {cuda.get_current_device().name}")
    print("| operation | cpu s | gpu s (data on GPU) | gpu s (incl. copy) | speed-up (on GPU) | speed-up (incl. copy) |")
    print("|---|---|---|---|---|---|")
    for ct in ("full", "diag"):
        w = rng.dirichlet(np.ones(K))
        m = rng.normal(scale=3, size=(K, D))
        c = np.stack([np.eye(D)] * K) if ct == "full" else np.ones((K, D))
        cpu = engine.GaussianMixture.from_params(w, m, c, ct)
        gpu = engine.GaussianMixture.from_params(w, m, c, ct, device="cuda")
        rows = {
            f"score {ct}": (lambda: cpu.logpdf(X), lambda: gpu.logpdf(dX), lambda: gpu.logpdf(X)),
            f"EM iteration {ct}": (
                lambda: m_step(e_step_stats(cpu, X), ct),
                lambda: m_step(e_step_stats(gpu, dX), ct),
                lambda: m_step(e_step_stats(gpu, X), ct),
            ),
        }
        for name, (f_cpu, f_gpu, f_copy) in rows.items():
            t_cpu = best_time(f_cpu, a.repeat)
            t_gpu = best_time(f_gpu, a.repeat, cuda.synchronize)
            t_copy = best_time(f_copy, a.repeat, cuda.synchronize)
            print(f"| {name} | {t_cpu:.4f} | {t_gpu:.4f} | {t_copy:.4f} | {t_cpu / t_gpu:.1f}x | {t_cpu / t_copy:.1f}x |")


if __name__ == "__main__":
    main()
