"""First use: tell the user about compilation, and compile the scoring kernel in parallel with the fit's.

A cold Numba cache (a fresh install, a new environment, a Dask worker image) compiles each kernel the first
time it runs; the result is cached on disk (``cache=True``) and later processes load it in milliseconds. On a
cold cache ``engine fit`` compiles the E-step kernel (about 10 s on 2 cores) and then the scoring kernel (about
4 s) for the training log-density quantiles. Numba compiles one function at a time in a process, so the CLI
starts a second process that compiles the scoring kernel into the shared on-disk cache while this process
compiles the E-step: when the fit needs the scoring kernel, it loads it from the cache.

Whether a kernel is cached is read from Numba's cache index (``FunctionCache._index_key``, an internal API
stable since Numba 0.49); if that ever fails, the answer is "cached" (no note, no helper process).
"""
import os
import subprocess
import sys

import numpy as np


def _example_args(dense, D=2, K=2):
    """Arguments with exactly the types the CLI's fit and score pass to ``mixture_log_density``."""
    U = np.array(np.broadcast_to(np.eye(D), (K, D, D)), order="C") if dense else np.ones((K, D))
    return (np.zeros((3, D)), U, np.zeros((K, D)), np.zeros(K), np.empty(3), np.empty((3, K)))


def is_cached(dispatcher, args):
    """Whether ``dispatcher`` has a compiled specialisation for ``args`` in memory or in its on-disk cache."""
    try:
        from numba import typeof

        sig = tuple(typeof(a) for a in args)
        if sig in dispatcher.overloads:
            return True
        cache = dispatcher._cache
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # an internal API changed: behave as if warm
        return True


def scoring_kernel_cached(dense):
    from .kernels.gaussian import mixture_log_density

    return is_cached(mixture_log_density, _example_args(dense))


def fit_kernels_cached(dense, n_features=None, full=False):
    """Whether the E-step kernels a fit runs are cached: ``em_statistics`` (every fit: EM and the k-means
    initialisation's hard passes), and for full or diagonal (not dense: diag, spherical) covariances with
    ``n_features`` = 8 on a CPU with 512-bit vectors also ``em_statistics_rows8``, which
    ``statistics_parts`` picks there (a kernel of its own)."""
    from .kernels._simd import WIDE
    from .kernels.em import em_statistics, em_statistics_rows8

    U = _example_args(dense)[1]
    D = U.shape[-1]
    args = (np.zeros((3, D)), np.empty(0), U, np.zeros((2, D)), np.zeros(2), np.zeros((2, D)), False, 0,
            np.uint64(0), 0)
    if not is_cached(em_statistics, args):
        return False
    if WIDE and n_features == 8 and (full or not dense):
        return is_cached(em_statistics_rows8, args[:6])
    return True


def compile_scoring_kernel_in_background(dense):
    """Start a helper process compiling the scoring kernel into the on-disk cache; None if it is cached."""
    if scoring_kernel_cached(dense):
        return None
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", "1")  # it only compiles; a thread pool would just take memory
    # run from the folder holding *this* engine package, so the helper imports the same files (and so writes
    # the same cache): from a source checkout's root, "-m engine" would otherwise find the checkout's copy
    # while an installed console script runs site-packages' copy
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return subprocess.Popen([sys.executable, "-m", "engine._warmup", "dense" if dense else "diag"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, cwd=package_parent)
    except OSError:
        return None


def _main(argv):
    from .kernels.gaussian import mixture_log_density

    mixture_log_density(*_example_args(argv[0] == "dense"))


if __name__ == "__main__":
    _main(sys.argv[1:])
