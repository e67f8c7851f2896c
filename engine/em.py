"""``engine.em``: the EM seam, public.

* ``e_step_stats(model, X, sample_weight=None)`` — additive sufficient statistics of X under any engine
  mixture (``GaussianMixture``: ``SufficientStats``; ``Mixture``: its family's statistics). Statistics of
  batches, files, Dask partitions or GPU tiles add with ``+``.
* ``m_step(stats, model)`` — the parameters that maximise the expected complete-data log-likelihood.
* ``run_em`` — the one EM loop (best of ``n_init`` starts, a lower-bound hook, warm starts) that every
  estimator runs, whatever computes its statistics (in memory, streamed Parquet, Dask, CUDA).
"""
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from .estimation.em import SufficientStats, m_step as gaussian_m_step  # noqa: F401  (public re-export)

__all__ = ["e_step_stats", "m_step", "run_em", "EMResult", "mean_log_likelihood", "SufficientStats"]


def e_step_stats(model, X, sample_weight=None, device=None):
    """E-step statistics of X (one parallel pass, no n x K array) under a fitted or parametrised model."""
    if hasattr(model, "_e_step_stats"):
        return model._e_step_stats(X, sample_weight)
    from .estimation.em import e_step_stats as gaussian_e_step_stats

    return gaussian_e_step_stats(model, X, sample_weight, device=device)


def m_step(stats, model=None, covariance_type=None, reg_covar=1e-6):
    """Parameters from statistics. For a ``Mixture`` pass it as ``model`` (its family does the update);
    Gaussian statistics alone give (weights, means, covariances), as ``engine.estimation.em.m_step``."""
    if model is not None and hasattr(model, "_m_step"):
        return model._m_step(stats)
    if isinstance(stats, SufficientStats):
        return gaussian_m_step(stats, covariance_type, reg_covar)
    raise TypeError(f"m_step needs the model whose family took these statistics ({type(stats).__name__})")


def mean_log_likelihood(stats, params_before, params_after):
    """The default lower bound: average log-likelihood of the data under the E-step's parameters."""
    return stats.mean_log_likelihood


@dataclass
class EMResult:
    params: object
    lower_bound: float
    n_iter: int
    converged: bool
    lower_bounds: list = field(default_factory=list)
    init: int = 0


def run_em(*, initialize, statistics, m_step, base_key, n_init=1, max_iter=100, tol=1e-3, start=None,
           start_bound=-np.inf, lower_bound=mean_log_likelihood, install=None, on_iteration=None, verbose=0,
           verbose_interval=10, stop=None):
    """Best of ``n_init`` EM runs.

    initialize(key) -> params: a start for run i, keyed by SeedSequence([base_key, i]) (skipped when ``start``
    is given: a warm start, one run from it, its previous bound ``start_bound``).
    statistics(params) -> additive statistics of all the data under params (they know their own
    ``mean_log_likelihood``).
    m_step(stats) -> params.
    lower_bound(stats, params_before, params_after) -> float: the quantity whose change below ``tol``
    stops a run (default: the mean log-likelihood under the E-step's parameters; a variational fit puts
    its ELBO here). install(params, where) validates/installs each new parameter set (raising a clear
    error for a degenerate one); on_iteration(init, iteration, bound) is called after every iteration.
    stop(bound, previous) -> bool: the stopping rule (default: |bound - previous| < tol; hmmlearn's HMMs stop on
    the signed change).
    """
    best = None
    for init in range(1 if start is not None else n_init):
        key = np.random.SeedSequence([int(base_key), init]).generate_state(1, np.uint64)[0]
        if start is not None:
            params, bound = start, start_bound
        else:
            params, bound = initialize(key), -np.inf
            if install is not None:
                install(params, " at initialisation")
        bounds = []
        converged = False
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            previous = bound
            stats = statistics(params)
            new_params = m_step(stats)
            bound = lower_bound(stats, params, new_params)
            if install is not None:
                install(new_params, f" at iteration {n_iter}")
            params = new_params
            bounds.append(bound)
            change = bound - previous
            if on_iteration is not None:
                on_iteration(init, n_iter, bound)
            if verbose >= 2 and n_iter % verbose_interval == 0:
                print(f"  iteration {n_iter}: lower bound {bound:.8f} (change {change:.3g})", file=sys.stderr)
            if (stop(bound, previous) if stop is not None else abs(change) < tol):
                converged = True
                break
        if verbose:
            print(f"init {init}: {'converged' if converged else 'did not converge'} after {n_iter} "
                  f"iterations, lower bound {bound:.8f}", file=sys.stderr)
        if best is None or bound > best.lower_bound:
            best = EMResult(params, bound, n_iter, converged, bounds, init)
    return best


def warn_not_converged(stacklevel=4):
    from ._sklearn_compat import convergence_warning_class

    warnings.warn(
        "Best performing initialization did not converge. Try different init parameters, or increase "
        "max_iter, tol, or check for degenerate data. (EM did not converge: the best initialisation "
        "stopped at max_iter.)",
        convergence_warning_class(),  # also scikit-learn's ConvergenceWarning when it is loaded
        stacklevel=stacklevel,
    )
