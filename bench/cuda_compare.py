"""GPU vs CPU: scoring, one EM iteration (statistics pass + M-step) and sampling for a K=16 mixture.

    python -m bench.cuda_compare [--rows 10000000] [--samples 1000000] [--features 8] [--components 16]
                                 [--cpu-threads N] [--repeat 3]

Times (best of --repeat) the CPU path (Numba, --cpu-threads threads) and the CUDA path with the data
already on the GPU (the steady state of a GPU pipeline) and with the host-device copies included. Scoring
and sampling write into caller-owned buffers (``out=``, ``labels_out=``) on every side, as a batch job
would: a GPU buffer for "on GPU", a NumPy buffer for the CPU and "with the copy". Where scikit-learn is
installed, the sampling rows also give scikit-learn's ``sample`` time and the speed-ups over it.
"""
import argparse

import numba
import numpy as np

import engine
from engine.estimation.em import e_step_stats, m_step

from .common import best_time, sklearn_twin
from .limits import score_flops


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--cpu-threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    from numba import cuda

    from engine.cuda import api, kernels

    if a.cpu_threads:
        numba.set_num_threads(a.cpu_threads)
    rng = np.random.default_rng(0)
    n, D, K, n_draw = a.rows, a.features, a.components, a.samples
    X = rng.normal(scale=3, size=(n, D))
    dX = cuda.to_device(X)
    scores, d_scores = np.empty(n), cuda.device_array(n)
    draws, labels = np.empty((n_draw, D)), np.empty(n_draw, dtype=np.int64)
    d_draws, d_labels = cuda.device_array((n_draw, D)), cuda.device_array(n_draw, dtype=np.int64)
    print(f"{n:,} x {D} scored, {n_draw:,} drawn, K={K}; CPU threads {numba.get_num_threads()}; "
          f"GPU {getattr(cuda.get_current_device(), 'name', '(simulator)')}")
    print("| operation | cpu s | gpu s (data on GPU) | gpu s (incl. copy) | speed-up (on GPU) | speed-up (incl. copy) "
          "| scikit-learn s | GPU (on GPU) x scikit-learn |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for ct in ("full", "diag"):
        w = rng.dirichlet(np.ones(K))
        m = rng.normal(scale=3, size=(K, D))
        c = np.stack([np.eye(D)] * K) if ct == "full" else np.ones((K, D))
        cpu = engine.GaussianMixture.from_params(w, m, c, ct)
        gpu = engine.GaussianMixture.from_params(w, m, c, ct, device="cuda")
        rows = {
            f"score {ct}": (lambda: cpu.logpdf(X, out=scores), lambda: gpu.logpdf(dX, out=d_scores),
                            lambda: gpu.logpdf(X, out=scores)),
            f"EM iteration {ct}": (
                lambda: m_step(e_step_stats(cpu, X), ct),
                lambda: m_step(e_step_stats(gpu, dX), ct),
                lambda: m_step(e_step_stats(gpu, X), ct),
            ),
            f"sample {ct} ({n_draw:,})": (
                lambda: cpu.sample(n_draw, random_state=1, out=draws, labels_out=labels),
                lambda: gpu.sample(n_draw, random_state=1, out=d_draws, labels_out=d_labels),
                lambda: gpu.sample(n_draw, random_state=1, out=draws, labels_out=labels),
            ),
        }
        if D <= kernels.SPECIALISED_MAX_D:
            # the same scoring call through the generic kernel (runtime D, per-thread local arrays, a separate
            # NaN/inf pass): an A/B on this GPU of what compiling for the model's D buys
            generic = lambda: api.mixture_logpdf(gpu, dX, out=d_scores, generic=True)  # noqa: E731
            t_generic = best_time(generic, a.repeat, cuda.synchronize)
            t_special = best_time(lambda: gpu.logpdf(dX, out=d_scores), a.repeat, cuda.synchronize)
            # full: bench.limits' count; diag: per component D FMAs for (x u - s) and D for the squares
            flops = n * (score_flops(K, D) if ct == "full" else 4 * K * D)
            notes.append(f"score {ct}, data on GPU: kernel for D={D} {t_special * 1e3:.2f} ms "
                         f"({flops / t_special / 1e12:.2f} TFLOP/s), generic kernel {t_generic * 1e3:.2f} ms "
                         f"({flops / t_generic / 1e12:.2f} TFLOP/s): {t_generic / t_special:.1f}x")
        for name, (f_cpu, f_gpu, f_copy) in rows.items():
            t_cpu = best_time(f_cpu, a.repeat)
            t_gpu = best_time(f_gpu, a.repeat, cuda.synchronize)
            t_copy = best_time(f_copy, a.repeat, cuda.synchronize)
            t_sk = ""
            if name.startswith("sample"):
                try:
                    sk = sklearn_twin(cpu)
                except NotImplementedError:  # scikit-learn is not installed
                    sk = None
                if sk is not None:
                    sk.random_state = 0
                    t_sk = best_time(lambda: sk.sample(n_draw), a.repeat)
            sk_cols = f"{t_sk:.4f} | {t_sk / t_gpu:.0f}x" if t_sk else " | "
            print(f"| {name} | {t_cpu:.4f} | {t_gpu:.4f} | {t_copy:.4f} | {t_cpu / t_gpu:.1f}x | {t_cpu / t_copy:.1f}x "
                  f"| {sk_cols} |")

    # Monte Carlo KL between two full mixtures (sampling and both densities on the device where it runs)
    p_mix = engine.GaussianMixture.from_params(rng.dirichlet(np.ones(K)), rng.normal(scale=3, size=(K, D)),
                                               np.stack([np.eye(D)] * K), "full")
    q_mix = engine.GaussianMixture.from_params(rng.dirichlet(np.ones(K)), rng.normal(scale=3, size=(K, D)),
                                               np.stack([np.eye(D)] * K), "full")
    n_kl = a.samples * 10
    t_cpu = best_time(lambda: engine.kl_divergence(p_mix, q_mix, method="mc", n_samples=n_kl, random_state=1), a.repeat)
    t_gpu = best_time(lambda: engine.kl_divergence(p_mix, q_mix, method="mc", n_samples=n_kl, random_state=1,
                                                   device="cuda"), a.repeat, cuda.synchronize)
    print(f"| MC KL full ({n_kl:,} samples) | {t_cpu:.4f} | {t_gpu:.4f} | – | {t_cpu / t_gpu:.1f}x | – |  |  |")
    saved, kernels.SPECIALISED_MAX_D = kernels.SPECIALISED_MAX_D, 0  # every D through the generic kernels
    try:
        t_generic = best_time(lambda: engine.kl_divergence(p_mix, q_mix, method="mc", n_samples=n_kl, random_state=1,
                                                           device="cuda"), a.repeat, cuda.synchronize)
    finally:
        kernels.SPECIALISED_MAX_D = saved
    notes.append(f"MC KL full on the GPU: kernel for D={D} {t_gpu * 1e3:.2f} ms, generic kernel "
                 f"{t_generic * 1e3:.2f} ms: {t_generic / t_gpu:.1f}x")

    print()
    print(f"FLOPs per scored point (an FMA is 2; exp and log not counted): full K (D (D + 1) + 2 D) = "
          f"{score_flops(K, D)} (bench.limits' count), diag 4 K D = {4 * K * D}")
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
