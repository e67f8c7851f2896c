"""Where a GPU scoring call's time goes (K=16, D=8 by default; data already on the GPU):

    python -m bench.cuda_scoring_parts [--rows 10000000] [--features 8] [--components 16] [--repeat 5]

Times the whole call (engine's, and through the generic kernel with its separate check pass) and, each
alone: the NaN/inf check pass, the parameter upload, the log-density kernel (the one compiled for D, with a
fixed 1,024-block grid-stride launch and with one thread per row, and the generic kernel),
and two diagnostic variants of the D kernel defined here, not used by engine: the log-sum-exp's exps
replaced by a cheap stand-in (what the exps cost), the quadratic forms skipped (what the rest costs), and
the exps of terms below e^-40 of the running maximum skipped (their sum is below rounding).
"""
import argparse
import math

import numpy as np
from numba import cuda, float64

from .common import best_time


def _variants(D):
    """Diagnostic copies of the D kernel's scoring loop, on engine's own per-component term, that change only
    the log-sum-exp (or drop the terms)."""
    from engine.cuda.kernels import _component_log_term as component_log_term

    @cuda.jit
    def cheap_exp(X, U, shifted, log_norm, dense, shared_factor, out):
        x = cuda.local.array(D, float64)
        K = shifted.shape[0]
        for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
            for j in range(D):
                x[j] = X[i, j]
            mx = -math.inf
            s = 0.0
            for k in range(K):
                t = component_log_term(x, k, U, shifted, log_norm, dense, shared_factor, D)
                if t > mx:
                    s = s * (1.0 + (mx - t)) + 1.0
                    mx = t
                else:
                    s += 1.0 + (t - mx)
            out[i] = mx + s

    @cuda.jit
    def no_forms(X, U, shifted, log_norm, dense, shared_factor, out):
        x = cuda.local.array(D, float64)
        K = shifted.shape[0]
        for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
            acc0 = 0.0
            for j in range(D):
                x[j] = X[i, j]
                acc0 += x[j]
            mx = -math.inf
            s = 0.0
            for k in range(K):
                t = log_norm[k] - 0.5 * acc0 * shifted[k, 0]
                if t > mx:
                    s = s * math.exp(mx - t) + 1.0
                    mx = t
                elif t > -math.inf:
                    s += math.exp(t - mx)
            out[i] = mx + math.log(s) if mx > -math.inf else -math.inf

    @cuda.jit
    def skip_tiny(X, U, shifted, log_norm, dense, shared_factor, out):
        x = cuda.local.array(D, float64)
        K = shifted.shape[0]
        for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
            for j in range(D):
                x[j] = X[i, j]
            mx = -math.inf
            s = 0.0
            for k in range(K):
                t = component_log_term(x, k, U, shifted, log_norm, dense, shared_factor, D)
                if t > mx:
                    s = s * math.exp(mx - t) + 1.0 if mx - t > -40.0 else 1.0
                    mx = t
                elif t - mx > -40.0:
                    s += math.exp(t - mx)
            out[i] = mx + math.log(s) if mx > -math.inf else -math.inf

    return cheap_exp, no_forms, skip_tiny


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    import engine
    from engine.cuda import api, kernels

    rng = np.random.default_rng(0)
    n, D, K = a.rows, a.features, a.components
    dX = cuda.to_device(rng.normal(scale=3, size=(n, D)))
    out = cuda.device_array(n)
    w = rng.dirichlet(np.ones(K))
    m = rng.normal(scale=3, size=(K, D))
    model = engine.GaussianMixture.from_params(w, m, np.stack([np.eye(D)] * K), "full", device="cuda")
    params = api._params(model)
    special = kernels.log_density_kernel(D)
    cheap_exp, no_forms, skip_tiny = _variants(D)
    grid, rows_grid = api._grid(n), (n + api.THREADS - 1) // api.THREADS
    first_bad = cuda.to_device(np.array([n], dtype=np.int64))
    parts = {
        "whole logpdf call (engine)": lambda: model.logpdf(dX, out=out),
        "whole logpdf call, generic kernel and check pass": lambda: api.mixture_logpdf(model, dX, out=out, generic=True),
        "NaN/inf check pass": lambda: api.check_finite(dX),
        "parameter upload (engine caches it per parameter set)": lambda: (
            cuda.to_device(model._kernel_params.prec_chol), cuda.to_device(model._kernel_params.shifted_means),
            cuda.to_device(model._kernel_params.log_norm)),
        "D kernel, 1,024 blocks": lambda: special[grid, api.THREADS](dX, *params, out, first_bad),
        "D kernel, one thread per row (engine's launch)": lambda: special[rows_grid, api.THREADS](dX, *params, out,
                                                                                                   first_bad),
        "generic kernel, 1,024 blocks": lambda: kernels.mixture_log_density[grid, api.THREADS](dX, *params, out),
        "D kernel, exps replaced (diagnostic)": lambda: cheap_exp[grid, api.THREADS](dX, *params, out),
        "D kernel, forms skipped (diagnostic)": lambda: no_forms[grid, api.THREADS](dX, *params, out),
        "D kernel, exps below e^-40 of the max skipped": lambda: skip_tiny[grid, api.THREADS](dX, *params, out),
    }
    print(f"{n:,} x {D}, K={K}, full; GPU {getattr(cuda.get_current_device(), 'name', '(simulator)')}; best of {a.repeat}")
    for name, fn in parts.items():
        print(f"{name}: {best_time(fn, a.repeat, cuda.synchronize) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
