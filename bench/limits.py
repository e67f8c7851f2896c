"""This machine's limits, and how close the full-covariance kernels come to them, measured in one run.

    python -m bench.compare --limits [--repeat N]

Limits (the same process, just before the sweep):
- copy into an existing buffer (GB/s, bytes read + written): the floor of any streaming kernel;
- dgemm (GFLOP/s): NumPy's BLAS on 4000 x 4000 matrices, the FLOP peak the issue measures against. The
  BLAS uses 512-bit vectors; Numba's LLVM prefers 256-bit ones on this CPU family, which halves the
  peak a Numba kernel can reach;
- Numba FMA (GFLOP/s): independent FMA chains vectorised by LLVM, what a Numba kernel can reach at best
  (about 2/3 of the dgemm peak here: 256-bit vectors at a higher clock);
- exp (M/s): engine's exp on L1-resident data, all threads, two ways: the scalar ``fast_exp`` in a loop
  LLVM vectorises, and the 8-lane ``vec8_exp_diff`` the log-sum-exp calls; n K / the faster rate is the
  floor of a K-component log-sum-exp over n points.

The sweep scores n points under a K-component full-covariance mixture in D dimensions, and runs one E-step
over them, for D in (2, 8, 32, 64) and K in (4, 16, 64). FLOP counts per point (an FMA is 2 FLOPs; exp and
log not counted):
- score: K (D (D + 1) + 2 D): the triangular map (x - mu) U, D (D + 1) / 2 FMAs, and the squared norm;
- E-step: the score's, plus K (D (D + 1) + 2 D) for the weighted sums r x and r x x^T (a triangle).
"GEMM bound" is the time of the one dgemm a BLAS-based scorer must run ((n, D) @ (D, K D), every
component's factor side by side, the whole matrix since BLAS has no triangular-times-many-vectors
product) on the same data; where it is longer than engine's whole kernel, no BLAS-based approach can win
that shape.
"""
import time

import numba
import numpy as np
from numba import njit, prange

import engine
from engine.kernels._config import PARALLEL
from engine.kernels._fastmath import fast_exp
from engine.kernels._simd import vec8_add, vec8_exp_diff, vec8_fill, vec8_lane, vec8_load_at

from .common import best_time, sklearn_twin

DIMENSIONS = (2, 8, 32, 64)
COMPONENTS = (4, 16, 64)


@njit(**PARALLEL)
def _copy_into(src, dst):
    for i in prange(src.shape[0]):
        dst[i] = src[i]


@njit(parallel=True, nogil=True, cache=True, fastmath={"contract"})
def _fma_rate(x, reps, out):
    """Per element of the L1-resident x: 8 independent Horner chains of 16 FMAs, vectorised over x (no
    reassociation, so LLVM cannot fold the chains); one work item per thread."""
    for t in prange(out.shape[0]):
        m = x.shape[0]
        y = np.empty(m)
        acc = 0.0
        for r in range(reps):
            for b in range(m):
                v = x[b] + r * 1e-12
                p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = v
                for _ in range(16):
                    p0 = p0 * v + 0.5
                    p1 = p1 * v + 0.25
                    p2 = p2 * v + 0.125
                    p3 = p3 * v + 0.0625
                    p4 = p4 * v + 0.03125
                    p5 = p5 * v + 0.015625
                    p6 = p6 * v + 0.0078125
                    p7 = p7 * v + 0.00390625
                y[b] = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))
            acc += y[r % m]
        out[t] = acc


@njit(**PARALLEL)
def _exp_rate(x, reps, out):
    """engine's exp over the L1-resident x, reps times per thread (as in the log-sum-exp, on scratch)."""
    for t in prange(out.shape[0]):
        acc = 0.0
        for r in range(reps):
            for b in range(x.shape[0]):
                acc += fast_exp(x[b] - r)
        out[t] = acc


@njit(**PARALLEL)
def _exp8_rate(x, reps, out):
    """The log-sum-exp's 8-lane exp (``vec8_exp_diff``) over the L1-resident x (a multiple of 8 long), reps
    times per thread."""
    for t in prange(out.shape[0]):
        acc = vec8_fill(0.0)
        for r in range(reps):
            shift = vec8_fill(1.0 + r * 1e-12)
            for b in range(0, x.shape[0], 8):
                acc = vec8_add(acc, vec8_exp_diff(vec8_load_at(x, 0, b, 8), shift))
        out[t] = vec8_lane(acc, 0) + vec8_lane(acc, 7)


def measure_limits(repeat=5):
    """{'copy_GBps', 'dgemm_GFLOPs', 'numba_fma_GFLOPs', 'exp_Mps', 'exp8_Mps'} measured now."""
    rng = np.random.default_rng(0)
    n = 10_000_000
    x = rng.normal(size=n)
    dst = np.empty_like(x)
    t_copy = best_time(lambda: _copy_into(x, dst), repeat)
    threads = numba.get_num_threads()
    small = rng.uniform(-0.9, 0.9, 512)
    partial = np.empty(threads)
    reps = 2000
    t_fma = best_time(lambda: _fma_rate(small, reps, partial), repeat)
    t_exp = best_time(lambda: _exp_rate(small, reps, partial), repeat)
    t_exp8 = best_time(lambda: _exp8_rate(small, reps, partial), repeat)
    # the BLAS last: its threads spin for a while after each call, slowing whatever runs next
    a = rng.normal(size=(4000, 4000))
    b = rng.normal(size=(4000, 4000))
    t_gemm = best_time(lambda: a @ b, repeat)
    _let_blas_threads_sleep()
    return {"copy_GBps": 16 * n / t_copy / 1e9, "dgemm_GFLOPs": 2 * 4000 ** 3 / t_gemm / 1e9,
            "numba_fma_GFLOPs": threads * 512 * reps * 16 * 8 * 2 / t_fma / 1e9,
            "exp_Mps": threads * 512 * reps / t_exp / 1e6, "exp8_Mps": threads * 512 * reps / t_exp8 / 1e6}


def _let_blas_threads_sleep():
    """OpenBLAS's worker threads busy-wait for new work after a call (about 0.1 s at its default timeout)
    and would take cores from the next engine kernel timed."""
    time.sleep(0.5)


def score_flops(K, D):
    return K * (D * (D + 1) + 2 * D)


def estep_flops(K, D):
    return 2 * score_flops(K, D)


def sweep(repeat=5, peak=None, exp_rate=None, quick=False):
    """One row per (D, K): engine's scoring and E-step times and GFLOP/s, % of ``peak``, scikit-learn's
    scoring time and the GEMM bound."""
    rng = np.random.default_rng(1)
    rows = []
    for D in DIMENSIONS:
        for K in COMPONENTS:
            # about 2 GFLOP of scoring per shape, within [20k, 1M] points
            n = int(np.clip(2e9 / score_flops(K, D), 20_000, 1_000_000)) // (10 if quick else 1)
            weights = rng.dirichlet(np.ones(K))
            means = rng.normal(scale=3, size=(K, D))
            A = rng.normal(size=(K, D, D))
            covs = A @ A.transpose(0, 2, 1) / D + 0.5 * np.eye(D)
            model = engine.GaussianMixture.from_params(weights, means, covs, "full")
            X = rng.normal(scale=3, size=(n, D))
            t_score = best_time(lambda: model.score_samples(X), repeat)
            t_estep = best_time(lambda: engine.em.e_step_stats(model, X), repeat)
            factors = np.ascontiguousarray(np.concatenate(list(model.precisions_cholesky_), axis=1))
            t_gemm = best_time(lambda: X @ factors, repeat)
            _let_blas_threads_sleep()
            row = {"D": D, "K": K, "n": n, "score_s": t_score, "estep_s": t_estep, "gemm_s": t_gemm,
                   "score_GFLOPs": n * score_flops(K, D) / t_score / 1e9,
                   "estep_GFLOPs": n * estep_flops(K, D) / t_estep / 1e9}
            if exp_rate:
                row["exp_floor_s"] = n * K / (exp_rate * 1e6)
            try:
                sk = sklearn_twin(model)
                row["sklearn_score_s"] = best_time(lambda: sk.score_samples(X), max(1, repeat // 2))
                _let_blas_threads_sleep()
            except NotImplementedError:
                pass
            if peak:
                row["score_peak_pct"] = 100 * row["score_GFLOPs"] / peak
                row["estep_peak_pct"] = 100 * row["estep_GFLOPs"] / peak
            rows.append(row)
    return rows


def to_markdown(limits, rows):
    lines = [
        f"Limits: copy into an existing buffer {limits['copy_GBps']:.1f} GB/s; dgemm (NumPy's BLAS) "
        f"{limits['dgemm_GFLOPs']:.0f} GFLOP/s; Numba FMA {limits['numba_fma_GFLOPs']:.0f} GFLOP/s; "
        f"engine exp {limits['exp_Mps']:.0f} M/s (scalar fast_exp, vectorised by LLVM), "
        f"{limits['exp8_Mps']:.0f} M/s (the log-sum-exp's 8-lane exp).",
        "",
        "| D | K | n | score ms | score GFLOP/s | % of dgemm peak | × sklearn | GEMM bound ms | E-step ms | "
        "E-step GFLOP/s | % of peak | exp floor ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sk = f"{r['sklearn_score_s'] / r['score_s']:.1f}" if "sklearn_score_s" in r else "–"
        lines.append(
            f"| {r['D']} | {r['K']} | {r['n']:,} | {1e3 * r['score_s']:.1f} | {r['score_GFLOPs']:.1f} | "
            f"{r.get('score_peak_pct', float('nan')):.0f}% | {sk} | {1e3 * r['gemm_s']:.1f} | "
            f"{1e3 * r['estep_s']:.1f} | {r['estep_GFLOPs']:.1f} | {r.get('estep_peak_pct', float('nan')):.0f}% | "
            f"{1e3 * r.get('exp_floor_s', float('nan')):.1f} |")
    lines += ["", "FLOPs per point: score K (D (D + 1) + 2 D), E-step twice that (FMA = 2; exp/log not counted). "
              "GEMM bound: the one dgemm a BLAS-based scorer needs, alone. "
              "exp floor: n K exps at the faster exp rate above."]
    return "\n".join(lines)


def run(repeat=5, quick=False):
    limits = measure_limits(repeat)
    rows = sweep(repeat, peak=limits["dgemm_GFLOPs"], exp_rate=max(limits["exp_Mps"], limits["exp8_Mps"]),
                 quick=quick)
    return limits, rows
