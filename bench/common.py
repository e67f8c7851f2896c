"""Shared set-up for the asv benchmarks: deterministic models and data, and optional competitors."""
import time

import numpy as np

import engine


def mixture(K, D, covariance_type, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(scale=3, size=(K, D))
    if covariance_type == "full":
        A = rng.normal(size=(K, D, D))
        covs = A @ A.transpose(0, 2, 1) / D + 0.5 * np.eye(D)
    elif covariance_type == "tied":
        A = rng.normal(size=(D, D))
        covs = A @ A.T / D + 0.5 * np.eye(D)
    elif covariance_type == "diag":
        covs = rng.uniform(0.5, 2.0, size=(K, D))
    else:
        covs = rng.uniform(0.5, 2.0, size=K)
    return engine.GaussianMixture.from_params(weights, means, covs, covariance_type)


def data(n, D, dtype="float64", seed=1):
    return (np.random.default_rng(seed).normal(scale=3, size=(n, D))).astype(dtype)


def sklearn_twin(model):
    """scikit-learn's GaussianMixture with the same parameters, or NotImplementedError (asv skips)."""
    try:
        from sklearn.mixture import GaussianMixture
        from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky
    except ImportError:
        raise NotImplementedError("scikit-learn is not installed") from None
    sk = GaussianMixture(len(model.weights_), covariance_type=model.covariance_type, random_state=0)
    sk.weights_, sk.means_, sk.covariances_ = model.weights_, model.means_, model.covariances_
    sk.precisions_cholesky_ = _compute_precision_cholesky(model.covariances_, model.covariance_type)
    return sk


def best_time(fn, repeat=3, sync=None, warmup=True):
    """Best-of-``repeat`` wall time of fn() after ``warmup`` untimed calls (True = 1: compiles or loads the
    kernels; more settle the kernel's huge-page supply for functions that allocate large outputs);
    ``sync`` (e.g. cuda.synchronize) is called before each clock read."""
    for _ in range(int(warmup)):
        fn()
        if sync:
            sync()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - t)
    return best


def best_times_interleaved(sides, warmup=True, pause=0.25):
    """Best wall times of several sides of one comparison, timed in turn: ``sides`` maps a name to
    ``(fn, repeat)``; after ``warmup`` untimed calls of each, round r times once every side that has more than
    r repeats. On a shared host whose speed drifts by tens of percent within a minute, sides timed one
    after the other can each catch a different phase, and their ratio swings with it; timed in turn, each
    side's best comes from the same phases. ``pause`` seconds of sleep precede each timed call: a BLAS
    call's worker threads spin for a while after it returns (OpenBLAS: ~0.1 s), and on 2 cores a side
    timed right after scikit-learn's ``multivariate_normal`` ran at half speed. Returns {name: seconds}."""
    for fn, _ in sides.values():
        for _ in range(int(warmup)):
            fn()
    best = {name: np.inf for name in sides}
    for r in range(max(repeat for _, repeat in sides.values())):
        for name, (fn, repeat) in sides.items():
            if r < repeat:
                time.sleep(pause)
                t = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t)
    return best


def throughput(fn, n, repeat=3):
    """Best-of-repeat points per second of fn() (asv's setup has already warmed it)."""
    return n / best_time(fn, repeat, warmup=False)


def seconds_per_iteration(make, X, i1, i2, tries=3):
    """Seconds per EM iteration of ``make(max_iter).fit(X)``: (time at i2 iterations - time at i1) / (i2 - i1),
    so the initialisation and the final pass cancel out (use tol=0). The two counts are interleaved so a burst
    of load on the shared machine hits both, and each takes its minimum (noise only ever adds time)."""
    import time
    import warnings

    def run(iters):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            make(iters).fit(X)
            return time.perf_counter() - t

    run(i1)
    t1, t2 = [], []
    for _ in range(tries):
        t1.append(run(i1))
        t2.append(run(i2))
    return (min(t2) - min(t1)) / (i2 - i1)
