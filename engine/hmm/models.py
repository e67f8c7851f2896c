"""hmmlearn-compatible hidden Markov model estimators on the HMM seam (``engine.hmm.core``).

``GaussianHMM``, ``PoissonHMM`` and ``CategoricalHMM`` take hmmlearn 0.3.3's constructor arguments, attributes
and methods (an hmmlearn user changes one import); ``HMM`` takes any family of ``engine.Mixture`` as its
emission. Every fit runs ``engine.em.run_em`` over additive ``HMMStats``; ``sample_weight`` in ``fit`` weights
whole sequences. Where hmmlearn's numbers are defined behaviour they are matched; where they are defects they
are not (README, "HMMs: decisions against hmmlearn"):

* a scalar ``covars_prior`` for full/tied covariances is the inverse-Wishart scale ``covars_prior * I``
  (hmmlearn adds it to every entry, off-diagonals included);
* ``covars_`` of a spherical model is a well-formed (K, D, D) array (hmmlearn's is (K*D, D, D) after a fit);
* ``decode(algorithm="map")`` returns sum_t log max_k p(z_t = k | x) (hmmlearn returns the sum of the
  posteriors themselves, not a log-probability);
* ``PoissonHMM``'s prior uses each state's own posterior mass (hmmlearn uses the total over all states);
* a state that receives no posterior mass keeps its previous emission parameters (hmmlearn divides 0 by 0),
  and a state never left keeps its ``transmat_`` row (hmmlearn leaves a row of zeros, which its own check
  then rejects);
* forward-backward is always scaled *and* safe: ``implementation`` is accepted and ignored ("scaling"
  never raises an underflow error here).

Kept as hmmlearn does it: ``min_covar`` acts at initialisation only, ``monitor_.history`` holds each
iteration's log-likelihood before its M-step, ``monitor_.converged`` is also true when ``n_iter`` ran out,
and the stopping rule is ``history[-1] - history[-2] < tol`` (signed).
"""
import logging
import numbers
import sys
import warnings
from collections import deque
from dataclasses import replace

import numpy as np

from .. import _random
from .._registry import register
from .._sklearn_compat import EstimatorParams
from .._validation import output_array
from ..em import run_em
from ..estimation.em_stats import SufficientStats
from ..families.columns import Column
from ..families.product import ProductFamily, ProductParams
from ..kernels import hmm as hk
from ..models import _covariance as cov
from . import core
from .emissions import (CallableEmission, GaussianEmission, GaussianEmissionParams, GMMEmission, GMMEmissionParams,
                        ProductEmission, StudentTEmission)

_log = logging.getLogger(__name__)

DECODER_ALGORITHMS = frozenset(("viterbi", "map"))
COVARIANCE_TYPES = frozenset(("spherical", "diag", "full", "tied"))


class ConvergenceMonitor:
    """hmmlearn's convergence monitor: ``history`` (the last two log-likelihoods), ``iter``, ``converged``."""

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def __repr__(self):
        params = sorted(dict(vars(self), history=list(self.history)).items())
        return f"{type(self).__name__}(\n" + "".join(f"    {k}={v},\n" for k, v in params) + ")"

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta), file=sys.stderr)
        precision = np.finfo(float).eps ** 0.5
        if self.history and (log_prob - self.history[-1]) < -precision:
            _log.warning(f"Model is not converging.  Current: {log_prob} is not greater than {self.history[-1]}. "
                         f"Delta is {log_prob - self.history[-1]}")
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self):
        return (self.iter == self.n_iter or
                (len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol))


def _check_random_state(seed):
    """hmmlearn's (scikit-learn's) ``check_random_state`` for the initialisation draws."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {seed!r}")


def _normalize(a, axis=None):
    """hmmlearn's ``normalize``: divide by the sum along ``axis``; a zero sum stays zero."""
    s = a.sum(axis=axis, keepdims=axis is not None)
    if axis is None:
        return a / s if s != 0 else a
    s = np.where(s == 0, 1.0, s)
    return a / s


def _as_2d_float(X, name="X"):
    X = np.asarray(X)
    if X.dtype == object:
        raise ValueError(f"{name} must be numeric, got an object array")
    if X.ndim == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead: reshape {name} with X.reshape(-1, 1) for one "
                         "feature")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 rows; an HMM needs at least one observation")
    return np.ascontiguousarray(X, dtype=np.float64)


def _float_data(model, X):
    """(float64 (n, D) data with all-missing rows zero-filled, their indices or None), D checked against the
    model's n_features."""
    data = _as_2d_float(X)
    if getattr(model, "n_features", None) is not None and data.shape[1] != model.n_features:
        raise ValueError(f"X has {data.shape[1]} features, but the model has {model.n_features}")
    missing, data = _all_missing_rows(data)
    return data, missing


def _all_missing_rows(data):
    """Rows whose every value is NaN (unobserved steps), and a copy of data with them zero-filled."""
    # min propagates NaN: one read of the data and no boolean array (1M x 4: 1.2 ms, isnan(X).any() 3 ms)
    if not np.isnan(data.min()):
        return None, data
    nan = np.isnan(data)
    rows = np.flatnonzero(nan.all(axis=1))
    if not rows.size:
        return None, data
    filled = data.copy()
    filled[rows] = 0.0
    return rows, filled


class _BaseHMM(EstimatorParams):
    """The shared fit/score/decode/sample of every HMM; subclasses bring the emission."""

    _emission_codes = ""
    _feature_names_as_array = True

    # ------------------------------------------------------------------ subclass hooks
    def _emission(self):
        raise NotImplementedError

    def _prepare(self, X):
        """(data float64 (n, D), all-missing row indices or None)."""
        raise NotImplementedError

    def _emission_params(self):
        raise NotImplementedError

    def _set_emission_params(self, eparams):
        raise NotImplementedError

    def _emission_m_step(self, stats, eparams):
        raise NotImplementedError

    def _init_emission(self, X, lengths, random_state):
        raise NotImplementedError

    def _check_emission(self):
        pass

    # ------------------------------------------------------------------ hmmlearn's protocol
    def _needs_init(self, code, name):
        if code in self.init_params:
            if hasattr(self, name):
                _log.warning("Even though the %r attribute is set, it will be overwritten during initialization "
                             "because 'init_params' contains %r", name, code)
            return True
        return not hasattr(self, name)

    def _init(self, X, lengths=None):
        """hmmlearn's ``_init``: draw the parameters named in ``init_params`` (and any not yet set)."""
        X = self._init_input(X)
        self._check_and_set_n_features(X)
        init = 1.0 / self.n_components
        random_state = _check_random_state(self.random_state)
        if self._needs_init("s", "startprob_"):
            self.startprob_ = random_state.dirichlet(np.full(self.n_components, init))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = random_state.dirichlet(np.full(self.n_components, init), size=self.n_components)
        self._init_emission(X, lengths, random_state)
        counts = self._get_n_fit_scalars_per_param()
        n_fit_scalars = sum(counts[p] for p in self.params if p in counts)
        if X.size < n_fit_scalars:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data points will result in a "
                         "degenerate solution.", n_fit_scalars, X.size)

    def _init_input(self, X):
        return _as_2d_float(X)

    def _check_and_set_n_features(self, X):
        n_features = X.shape[1]
        if getattr(self, "n_features", None) is not None:
            if self.n_features != n_features:
                raise ValueError(f"Unexpected number of dimensions, got {n_features} but expected {self.n_features}")
        else:
            self.n_features = n_features

    def _check_sum_1(self, name):
        s = getattr(self, name).sum(axis=-1)
        if not np.allclose(s, 1):
            raise ValueError(f"{name} must sum to 1 (got {s:.4f})" if s.ndim == 0
                             else f"{name} rows must sum to 1 (got row sums of {s})")

    def _check(self):
        K = self.n_components
        self.startprob_ = np.asarray(self.startprob_, dtype=np.float64)
        if self.startprob_.shape != (K,):
            raise ValueError(f"startprob_ must have length n_components ({K}), got shape {self.startprob_.shape}")
        if np.any(~np.isfinite(self.startprob_)) or np.any(self.startprob_ < 0):
            raise ValueError("startprob_ must hold finite probabilities >= 0")
        self._check_sum_1("startprob_")
        self.transmat_ = np.asarray(self.transmat_, dtype=np.float64)
        if self.transmat_.shape != (K, K):
            raise ValueError(f"transmat_ must have shape (n_components, n_components) = ({K}, {K}), got "
                             f"{self.transmat_.shape}")
        if np.any(~np.isfinite(self.transmat_)) or np.any(self.transmat_ < 0):
            raise ValueError("transmat_ must hold finite probabilities >= 0")
        self._check_sum_1("transmat_")
        self._check_emission()

    def _check_hyper(self):
        K = self.n_components
        if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
            raise ValueError(f"parameter 'n_components' must be an integer >= 1, got {K!r}")
        n_iter = self.n_iter
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 0:
            raise ValueError(f"parameter 'n_iter' must be an integer >= 0, got {n_iter!r}")
        if not isinstance(self.tol, numbers.Real) or np.isnan(self.tol):
            raise ValueError(f"parameter 'tol' must be a number (-inf: run all n_iter iterations), got {self.tol!r}")
        if self.algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"parameter 'algorithm' must be 'viterbi' or 'map', got {self.algorithm!r}")
        if self.implementation not in ("log", "scaling"):
            raise ValueError(f"parameter 'implementation' must be 'log' or 'scaling', got {self.implementation!r}")

    def _hmm_params(self):
        return core.HMMParams(np.asarray(self.startprob_, dtype=np.float64),
                              np.asarray(self.transmat_, dtype=np.float64), self._emission_params())

    def _install(self, params):
        self.startprob_ = params.startprob
        self.transmat_ = params.transmat
        self._set_emission_params(params.emission)

    def _transition_m_step(self, stats, params):
        startprob, transmat = params.startprob, params.transmat
        if "s" in self.params:
            new = np.maximum(self.startprob_prior - 1 + stats.start, 0)
            startprob = _normalize(np.where(params.startprob == 0, 0, new))
        if "t" in self.params:
            new = np.where(params.transmat == 0, 0, np.maximum(self.transmat_prior - 1 + stats.trans, 0))
            # a state never left (no expected transitions out of it) keeps its row: hmmlearn leaves a row of
            # zeros, a model that then fails its own check
            empty = new.sum(axis=1) == 0
            transmat = np.where(empty[:, None], params.transmat, _normalize(new, axis=1))
        if "s" in self.params and startprob.sum() == 0:
            startprob = params.startprob
        return startprob, transmat

    # ------------------------------------------------------------------ fitting
    def fit(self, X, lengths=None, sample_weight=None):
        """Baum–Welch (EM) from the parameters drawn by ``_init`` (or set by the user, ``init_params=""``).

        X: (n, D) concatenated sequences; lengths: their lengths (None: one sequence); sample_weight: one
        non-negative weight per sequence (a weight of 2 counts as the sequence twice)."""
        self._check_hyper()
        data, missing = self._prepare(X)
        seqs = core.sequences(data.shape[0], lengths, sample_weight)
        self._init(self._observed_for_init(X, data, missing), lengths)
        self._check()
        emission = self._emission()
        K = self.n_components
        chunks, max_rows = core.plan(seqs, K)
        work = self._work = core.Work.reuse(getattr(self, "_work", None), max_rows, K, data.shape[0])
        return self._baum_welch(lambda params: core.statistics(emission, params, data, seqs, chunks, max_rows,
                                                                missing, work))

    def _begin_fit(self, X):
        """Hook before a fit's initialisation (``engine.HMM`` builds its family from X's columns here)."""
        return X

    def fit_stream(self, chunks, init=None):
        """Exact Baum–Welch over sequences that never need to be in memory together.

        chunks: a callable returning a fresh iterable of (X, lengths) on every call (one call per iteration),
        each X holding whole sequences (a sequence never spans two chunks); every call must yield the same
        rows. init: (X, lengths) of whole sequences for the initialisation (default: the first chunk). Each
        iteration sums the chunks' additive statistics (``engine.hmm.HMMStats``), so with the same start the
        fit equals ``fit`` on the concatenated sequences, to rounding (the sums are grouped per chunk).
        Memory: one chunk and its HMM buffers."""
        self._check_hyper()
        if init is None:
            init = next(iter(chunks()), None)
            if init is None:
                raise ValueError("fit_stream got no sequences")
        X0, lengths0 = init
        X0 = self._begin_fit(X0)
        data0, missing0 = self._prepare(X0)
        core.sequences(data0.shape[0], lengths0)  # the lengths must cover the rows
        self._init(self._observed_for_init(X0, data0, missing0), lengths0)
        self._check()
        emission = self._emission()
        K = self.n_components

        def statistics(params):
            total = None
            for X, lengths in chunks():
                data, missing = self._prepare(X)
                seqs = core.sequences(data.shape[0], lengths)
                plan, max_rows = core.plan(seqs, K)
                part = core.statistics(emission, params, data, seqs, plan, max_rows, missing)
                total = part if total is None else total + part
            if total is None:
                raise ValueError("fit_stream got no sequences")
            return total

        return self._baum_welch(statistics)

    def _baum_welch(self, statistics):
        """EM from the current parameters: ``statistics(params) -> HMMStats`` of all the data (in memory here,
        per Dask partition in ``engine.dask``); the loop is ``engine.em.run_em``."""
        # a monitor the caller installed (hmmlearn's extension point: a subclass with its own ``converged``) is
        # kept, reset and told the current tol/n_iter; otherwise a fresh one
        monitor = getattr(self, "monitor_", None)
        if not isinstance(monitor, ConvergenceMonitor):
            monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        monitor.tol, monitor.n_iter, monitor.verbose = self.tol, self.n_iter, self.verbose
        monitor._reset()
        self.monitor_ = monitor
        last = {}

        def stats_of(params):
            last["params"] = params
            return statistics(params)

        def m_step(stats):
            before = last["params"]
            startprob, transmat = self._transition_m_step(stats, before)
            return core.HMMParams(startprob, transmat, self._emission_m_step(stats.emission, before.emission))

        result = run_em(initialize=None, statistics=stats_of, m_step=m_step, base_key=0, max_iter=self.n_iter,
                        tol=self.tol, start=self._hmm_params(), lower_bound=lambda s, b, a: s.log_likelihood,
                        stop=lambda bound, previous: monitor.converged,
                        on_iteration=lambda init, it, bound: self.monitor_.report(bound))
        self._install(result.params)
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_work", None)  # scratch buffers: not part of the model (nor worth shipping to Dask workers)
        return state

    def _observed_for_init(self, X, data, missing):
        if missing is None:
            return X
        keep = np.ones(data.shape[0], dtype=bool)
        keep[missing] = False
        return np.asarray(X)[keep]

    # ------------------------------------------------------------------ scoring and decoding
    def _check_fitted(self):
        if not hasattr(self, "startprob_"):
            from .._sklearn_compat import NotFittedError

            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit, or set "
                                 "startprob_, transmat_ and the emission parameters")
        self._check()

    def _setup(self, X, lengths):
        self._check_fitted()
        data, missing = self._prepare(X)
        seqs = core.sequences(data.shape[0], lengths)
        chunks, max_rows = core.plan(seqs, self.n_components)
        return data, missing, seqs, chunks, max_rows

    def _score_sequences(self, X, lengths=None, posteriors=False, resp_out=None, out=None):
        data, missing, seqs, chunks, max_rows = self._setup(X, lengths)
        post = None
        if posteriors:
            post = output_array(resp_out, (data.shape[0], self.n_components), np.float64, name="resp_out",
                                inputs=(X, data))
        if out is not None:
            out = output_array(out, (seqs.bounds.size - 1,), np.float64, inputs=(X, data, post))
        self._work = core.Work.reuse(getattr(self, "_work", None), max_rows, self.n_components, data.shape[0])
        ll = core.score(self._emission(), self._hmm_params(), data, seqs, chunks, max_rows, missing, post, self._work,
                        out=out)
        return ll, post

    def score(self, X, lengths=None):
        """Total log-likelihood of the sequences (forward algorithm)."""
        return float(self._score_sequences(X, lengths)[0].sum())

    def score_samples(self, X, lengths=None, *, resp_out=None):
        """(total log-likelihood, state posteriors (n, K)); ``resp_out``: a caller-owned (n, K) float64 array
        for the posteriors (a job scoring batch after batch reuses one)."""
        ll, post = self._score_sequences(X, lengths, posteriors=True, resp_out=resp_out)
        return float(ll.sum()), post

    def score_sequences(self, X, lengths=None, *, out=None):
        """Per-sequence log-likelihoods (S,) (engine's addition: anomaly scores per sequence); ``out``: a
        caller-owned (S,) float64 array to write them into."""
        return self._score_sequences(X, lengths, out=out)[0]

    def predict_proba(self, X, lengths=None, *, out=None):
        """State posteriors (n, K); ``out``: a caller-owned (n, K) float64 array to write them into."""
        return self.score_samples(X, lengths, resp_out=out)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """(log-probability, states (n,)): Viterbi's best path and its joint log-probability, or ("map") the
        per-step posterior modes and sum_t log max_k p(z_t = k | x)."""
        self._check_fitted()
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}")
        if algorithm == "map":
            _, post = self.score_samples(X, lengths)
            with np.errstate(divide="ignore"):
                return float(np.log(post.max(axis=1)).sum()), post.argmax(axis=1)
        data, missing, seqs, chunks, max_rows = self._setup(X, lengths)
        self._work = core.Work.reuse(getattr(self, "_work", None), max_rows, self.n_components, data.shape[0])
        lp, path = core.viterbi(self._emission(), self._hmm_params(), data, seqs, chunks, max_rows, missing,
                                self._work)
        return float(lp.sum()), path

    def predict(self, X, lengths=None):
        return self.decode(X, lengths)[1]

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples=1, random_state=None, currstate=None, lengths=None, *, out=None, states_out=None):
        """(X (n, D), states (n,)): state paths from ``startprob_`` (or from ``currstate``) through
        ``transmat_``, one emission per step. ``lengths`` (engine's addition): several independent sequences.
        Counter-based: the same seed gives the same numbers at any thread count. ``out`` (n, D) (float64;
        int64 for ``CategoricalHMM``) and ``states_out`` (n,) int64: caller-owned arrays to draw into."""
        self._check_fitted()
        if lengths is None:
            if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
                raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
            lengths = [n_samples]
        seqs = core.sequences(int(np.sum(lengths)), lengths)
        key = _random.stream_key(self.random_state if random_state is None else random_state)
        K = self.n_components
        cum_start = np.cumsum(self.startprob_)
        cum_start[-1] = 1.0
        cum_trans = np.cumsum(self.transmat_, axis=1)
        cum_trans[:, -1] = 1.0
        first = np.full(seqs.bounds.size - 1, -1, dtype=np.int64)
        if currstate is not None:
            if not 0 <= int(currstate) < K:
                raise ValueError(f"currstate must be a state in 0..{K - 1}, got {currstate!r}")
            first[0] = int(currstate)
        n = int(seqs.bounds[-1])
        states = output_array(states_out, (n,), np.int64, name="states_out",
                              inputs=(out,) if isinstance(out, np.ndarray) else ())
        hk.sample_states(np.uint64(key), seqs.bounds, np.ascontiguousarray(cum_start), np.ascontiguousarray(cum_trans),
                         first, states)
        emission_key = np.random.SeedSequence([int(key), 1]).generate_state(1, np.uint64)[0]
        draws_into = out if self._sample_dtype == np.float64 else None
        X = self._emission().sample(self._emission_params(), states, emission_key, out=draws_into)
        return self._sample_output(X, out), states

    #: the dtype of sampled observations (CategoricalHMM's symbols are int64)
    _sample_dtype = np.float64

    def _sample_output(self, X, out=None):
        return X

    # ------------------------------------------------------------------ model selection and the rest
    def _get_n_fit_scalars_per_param(self):
        raise NotImplementedError

    @property
    def n_parameters(self):
        return int(sum(self._get_n_fit_scalars_per_param().values()))

    def aic(self, X, lengths=None):
        return -2 * self.score(X, lengths=lengths) + 2 * self.n_parameters

    def bic(self, X, lengths=None):
        return -2 * self.score(X, lengths=lengths) + self.n_parameters * np.log(len(X))

    def get_stationary_distribution(self):
        """The stationary distribution of ``transmat_`` (left eigenvector of eigenvalue 1)."""
        if not hasattr(self, "transmat_"):
            from .._sklearn_compat import NotFittedError

            raise NotFittedError("transmat_ is not set")
        eigvals, eigvecs = np.linalg.eig(np.asarray(self.transmat_).T)
        v = np.real_if_close(eigvecs[:, np.argmax(eigvals.real)])
        return np.real(v / v.sum()).astype(float)

    def save(self, path):
        """Write the model file (engine's verified, pickle-free format; read it with ``engine.load``)."""
        from ..io.model_file import save

        self._check_fitted()
        save(self, path)

    # ------------------------------------------------------------------ model files
    def _model_record(self):
        self._check_fitted()
        hyper = {}
        arrays = {"startprob": self.startprob_, "transmat": self.transmat_}
        for name in self._PARAM_NAMES:
            v = getattr(self, name)
            if name in ("random_state", "emission"):
                continue
            if isinstance(v, np.generic):
                v = v.item()
            if v is None or isinstance(v, (bool, int, float, str)):
                hyper[name] = v
            else:
                arrays["hyper_" + name] = np.asarray(v, dtype=np.float64)
        e_header, e_arrays = self._emission_record()
        header = {"hyper": hyper, "emission": e_header, "n_features": int(self.n_features)}
        # what ``engine fit --model hmm`` adds: the sequence/order columns and per-sequence training quantiles
        for name in ("sequence_column_", "order_by_"):
            if getattr(self, name, None) is not None:
                header[name] = str(getattr(self, name))
        training = getattr(self, "training_", None)
        if training:
            for k, v in training.items():
                arrays["training_" + k] = np.asarray(v, dtype=np.float64)
        return header, {**arrays, **e_arrays}

    @classmethod
    def _from_model_record(cls, header, arrays):
        attrs = header.get("attributes") or {}
        hyper = dict(attrs["hyper"])
        for k, v in arrays.items():
            if k.startswith("hyper_") and not k.startswith("training_"):
                hyper[k[len("hyper_"):]] = v
        m = cls(**hyper)
        m.startprob_ = arrays["startprob"]
        m.transmat_ = arrays["transmat"]
        m.n_features = int(attrs["n_features"])
        m._emission_from_record(attrs.get("emission") or {}, arrays)
        m._check()
        for name in ("sequence_column_", "order_by_"):
            if name in attrs:
                setattr(m, name, attrs[name])
        training = {k[len("training_"):]: v.tolist() for k, v in arrays.items() if k.startswith("training_")}
        if training:
            m.training_ = training
        return m


class BaseHMM(_BaseHMM):
    """hmmlearn's ``BaseHMM``: subclass it and define ``_compute_log_likelihood(X) -> (n, K)`` (and
    ``_generate_sample_from_state`` to sample); ``startprob_`` and ``transmat_`` are learned, the emission is
    whatever the method computes."""

    _PARAM_NAMES = ("n_components", "startprob_prior", "transmat_prior", "algorithm", "random_state", "n_iter",
                    "tol", "verbose", "params", "init_params", "implementation")

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="st", init_params="st",
                 implementation="log"):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation

    def _compute_log_likelihood(self, X):
        raise NotImplementedError("a BaseHMM subclass defines _compute_log_likelihood(X) -> (n_samples, K)")

    def _generate_sample_from_state(self, state, random_state):
        return ()

    def _get_n_fit_scalars_per_param(self):
        nc = self.n_components
        return {"s": nc - 1, "t": nc * (nc - 1)}

    def _prepare(self, X):
        return _as_2d_float(X), None

    def _init_emission(self, X, lengths, random_state):
        pass

    def _emission(self):
        return CallableEmission(self)

    def _emission_params(self):
        return None

    def _set_emission_params(self, eparams):
        pass

    def _emission_m_step(self, stats, eparams):
        return eparams


# ---------------------------------------------------------------------------------------------- Gaussian
@register
class GaussianHMM(_BaseHMM):
    """Hidden Markov model with Gaussian emissions (hmmlearn's ``GaussianHMM``, same arguments and MAP updates)."""

    _PARAM_NAMES = ("n_components", "covariance_type", "min_covar", "startprob_prior", "transmat_prior",
                    "means_prior", "means_weight", "covars_prior", "covars_weight", "algorithm", "random_state",
                    "n_iter", "tol", "verbose", "params", "init_params", "implementation")

    def __init__(self, n_components=1, covariance_type="diag", min_covar=1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, means_prior=0, means_weight=0, covars_prior=1e-2, covars_weight=1,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stmc",
                 init_params="stmc", implementation="log"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation

    def _check_hyper(self):
        super()._check_hyper()
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {self.covariance_type!r}")

    @property
    def covars_(self):
        """Covariances as full matrices (K, D, D), whatever the covariance type (hmmlearn's convention);
        ``_covars_`` holds the compressed form."""
        c = np.asarray(self._covars_)
        K = self.n_components
        D = getattr(self, "n_features", None) or np.shape(self.means_)[1]
        ct = self.covariance_type
        if ct == "full":
            return c
        if ct == "diag":
            return np.array([np.diag(v) for v in c])
        if ct == "tied":
            return np.tile(c, (K, 1, 1))
        return np.array([np.eye(D) * v for v in c.reshape(K)])

    @covars_.setter
    def covars_(self, covars):
        covars = np.array(covars, dtype=np.float64, copy=True)
        ct = self.covariance_type
        K = self.n_components
        if ct == "spherical":
            if covars.size != K:
                raise ValueError(f"'spherical' covars have length n_components ({K}), got shape {covars.shape}")
            covars = covars.reshape(K)
            if np.any(covars <= 0):
                raise ValueError("'spherical' covars must be positive")
        elif ct == "diag":
            if covars.ndim != 2 or covars.shape[0] != K:
                raise ValueError(f"'diag' covars must have shape (n_components, n_features), got {covars.shape}")
            if np.any(covars <= 0):
                raise ValueError("'diag' covars must be positive")
        elif ct == "tied":
            if covars.ndim != 2 or covars.shape[0] != covars.shape[1]:
                raise ValueError(f"'tied' covars must have shape (n_features, n_features), got {covars.shape}")
            cov.cholesky_factors(covars, "tied", name="covars_")
        elif ct == "full":
            if covars.ndim != 3 or covars.shape[0] != K or covars.shape[1] != covars.shape[2]:
                raise ValueError(f"'full' covars must have shape (n_components, n_features, n_features), got "
                                 f"{covars.shape}")
            cov.cholesky_factors(covars, "full", name="covars_")
        else:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {ct!r}")
        self._covars_ = covars

    def _get_n_fit_scalars_per_param(self):
        nc, nf = self.n_components, self.n_features
        return {"s": nc - 1, "t": nc * (nc - 1), "m": nc * nf,
                "c": {"spherical": nc, "diag": nc * nf, "full": nc * nf * (nf + 1) // 2,
                      "tied": nf * (nf + 1) // 2}[self.covariance_type]}

    def _prepare(self, X):
        return _float_data(self, X)

    def _init_emission(self, X, lengths, random_state):
        if self._needs_init("m", "means_"):
            from ..estimation.kmeans import kmeans

            key = _random.stream_key(random_state)
            self.means_ = kmeans(np.ascontiguousarray(X), self.n_components, np.empty(0), key)
        if self._needs_init("c", "covars_"):
            D = X.shape[1]
            cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(D)
            ct = self.covariance_type
            K = self.n_components
            if ct == "spherical":
                self._covars_ = np.full(K, np.trace(cv) / D)
            elif ct == "diag":
                self._covars_ = np.tile(np.diag(cv), (K, 1))
            elif ct == "tied":
                self._covars_ = cv
            else:
                self._covars_ = np.tile(cv, (K, 1, 1))

    def _check_emission(self):
        ct = self.covariance_type
        if ct not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {ct!r}")
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != self.n_components:
            raise ValueError(f"means_ must have shape (n_components, n_features), got {self.means_.shape}")
        if not np.all(np.isfinite(self.means_)):
            raise ValueError("means_ must be finite")
        self.n_features = self.means_.shape[1]
        if not hasattr(self, "_covars_"):
            raise ValueError("covars_ is not set")
        self.covars_ = self._covars_  # validates the compressed shape
        K, D = self.n_components, self.n_features
        expected = {"spherical": (K,), "diag": (K, D), "tied": (D, D), "full": (K, D, D)}[ct]
        if np.shape(self._covars_) != expected:
            raise ValueError(f"'{ct}' covars must have shape {expected}, got {np.shape(self._covars_)}")

    def _emission(self):
        return GaussianEmission(self.covariance_type)

    def _emission_record(self):
        return {}, {"means": self.means_, "covars": self._covars_}

    def _emission_from_record(self, header, arrays):
        self.means_ = arrays["means"]
        self._covars_ = arrays["covars"]

    def _emission_params(self):
        return GaussianEmissionParams(np.asarray(self.means_, dtype=np.float64), np.asarray(self._covars_))

    def _set_emission_params(self, eparams):
        self.means_ = eparams.means
        self._covars_ = eparams.covars

    def _emission_m_step(self, stats: SufficientStats, eparams):
        """hmmlearn's MAP update (Huang, Acero & Hon, Spoken Language Processing, pp. 443-445), from moments
        about the shift (no cancellation of raw second moments)."""
        ct = self.covariance_type
        K, D = eparams.means.shape
        nk = stats.nk
        w = np.broadcast_to(np.asarray(self.means_weight, dtype=np.float64), (K,))
        mu0 = np.asarray(self.means_prior, dtype=np.float64)
        # a state with no posterior mass and no prior weight keeps its parameters (hmmlearn: 0 / 0)
        seen = (nk + w) > 0
        means = eparams.means
        if "m" in self.params:
            raw = stats.s1 + nk[:, None] * stats.shift
            with np.errstate(invalid="ignore", divide="ignore"):
                new = (w[:, None] * mu0 + raw) / (w[:, None] + nk[:, None])
            means = np.where(seen[:, None], new, means)
        covars = eparams.covars
        if "c" in self.params:
            prior = self.covars_prior
            cw = self.covars_weight
            delta = means - stats.shift
            meandiff = means - mu0
            if ct in ("spherical", "diag"):
                # sum_t g (x - m)^2 = s2 - 2 d s1 + n d^2, d = m - shift
                scatter = stats.s2 - 2 * delta * stats.s1 + nk[:, None] * delta ** 2
                c_n = w[:, None] * meandiff ** 2 + scatter
                c_d = np.maximum(cw - 1, 0) + nk[:, None]
                new = (prior + c_n) / np.maximum(c_d, 1e-5)
                if ct == "spherical":
                    new = new.mean(axis=1)
                    covars = np.where(seen, new, covars)
                else:
                    covars = np.where(seen[:, None], new, covars)
            else:
                eye = np.eye(D)
                psi = np.asarray(prior, dtype=np.float64)
                if psi.ndim == 0:
                    psi = psi * eye  # the inverse-Wishart scale: covars_prior * I (hmmlearn: every entry)
                cvweight = max(cw - D, 0) if np.ndim(cw) == 0 else np.maximum(cw - D, 0)
                outer = np.einsum("ki,kj->kij", meandiff, meandiff)
                if ct == "full":
                    s1d = np.einsum("ki,kj->kij", stats.s1, delta)
                    scatter = stats.s2 - s1d - np.swapaxes(s1d, 1, 2) + nk[:, None, None] * np.einsum(
                        "ki,kj->kij", delta, delta)
                    c_n = w[:, None, None] * outer + scatter
                    cvw = cvweight if np.ndim(cvweight) == 0 else np.asarray(cvweight)[:, None, None]
                    new = (psi + c_n) / (cvw + nk[:, None, None])
                    covars = np.where(seen[:, None, None], new, covars)
                else:
                    # sum_k sum_t g_k (x - m_k)(x - m_k)^T from the shared scatter about one shift c
                    s1d = np.einsum("ki,kj->ij", stats.s1, delta)
                    scatter = stats.s2 - s1d - s1d.T + np.einsum("k,ki,kj->ij", nk, delta, delta)
                    c_n = np.einsum("k,kij->ij", w, outer) + scatter
                    covars = (psi + c_n) / (cvweight + nk.sum())
        return GaussianEmissionParams(means, covars)


# ---------------------------------------------------------------------------------------------- GMMHMM
@register
class GMMHMM(_BaseHMM):
    """Hidden Markov model with a Gaussian mixture of ``n_mix`` components per state (hmmlearn's ``GMMHMM``: same
    arguments, attributes ``weights_`` (K, M), ``means_`` (K, M, D), ``covars_`` in its layouts (K, M, D, D) full,
    (K, D, D) tied — one matrix per state, shared by its components —, (K, M, D) diag, (K, M) spherical, and its
    MAP updates with ``weights_prior``, ``means_prior``/``means_weight``, ``covars_prior``/``covars_weight``).

    Emissions run as one Gaussian layer of K x M components (``engine.hmm.emissions.GMMEmission``). One
    difference: the covariance update takes the scatter about the *updated* means (an exact M-step);
    hmmlearn's takes it about the previous iteration's means, so the two trajectories differ, though they
    share their fixed points.
    """

    _PARAM_NAMES = ("n_components", "n_mix", "min_covar", "startprob_prior", "transmat_prior", "weights_prior",
                    "means_prior", "means_weight", "covars_prior", "covars_weight", "algorithm", "covariance_type",
                    "random_state", "n_iter", "tol", "verbose", "params", "init_params", "implementation")

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3, startprob_prior=1.0, transmat_prior=1.0,
                 weights_prior=1.0, means_prior=0.0, means_weight=0.0, covars_prior=None, covars_weight=None,
                 algorithm="viterbi", covariance_type="diag", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="stmcw", init_params="stmcw", implementation="log"):
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        # hmmlearn creates its monitor here, so a caller may replace it before fitting
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    def _check_hyper(self):
        super()._check_hyper()
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {self.covariance_type!r}")
        M = self.n_mix
        if isinstance(M, bool) or not isinstance(M, numbers.Integral) or M < 1:
            raise ValueError(f"parameter 'n_mix' must be an integer >= 1, got {M!r}")

    def _priors(self):
        """The priors in their full shapes, hmmlearn's defaults filled in (None: the values that make the
        update the maximum-likelihood one, except spherical, whose default is hmmlearn's)."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        ct = self.covariance_type
        default_prior, default_weight = {"full": (0.0, -(1.0 + D + 1.0)), "tied": (0.0, -(M + D + 1.0)),
                                         "diag": (-1.5, 0.0), "spherical": (-(M + 2.0) / 2.0, 0.0)}[ct]
        prior = default_prior if self.covars_prior is None else self.covars_prior
        weight = default_weight if self.covars_weight is None else self.covars_weight
        shapes = {"full": ((K, M, D, D), (K, M)), "tied": ((K, D, D), (K,)), "diag": ((K, M, D), (K, M, D)),
                  "spherical": ((K, M), (K, M))}[ct]
        as_array = lambda v, shape: np.broadcast_to(np.asarray(v, dtype=np.float64), shape)  # noqa: E731
        return (as_array(self.weights_prior, (K, M)), as_array(self.means_prior, (K, M, D)),
                as_array(self.means_weight, (K, M)), as_array(prior, shapes[0]), as_array(weight, shapes[1]))

    def _get_n_fit_scalars_per_param(self):
        nc, nf, nm = self.n_components, self.n_features, self.n_mix
        return {"s": nc - 1, "t": nc * (nc - 1), "m": nc * nm * nf,
                "c": {"spherical": nc * nm, "diag": nc * nm * nf, "full": nc * nm * nf * (nf + 1) // 2,
                      "tied": nc * nf * (nf + 1) // 2}[self.covariance_type],
                "w": nm - 1}

    def _prepare(self, X):
        return _float_data(self, X)

    def _init_emission(self, X, lengths, random_state):
        """hmmlearn's start: k-means of the data into K clusters, then k-means of each cluster into M means (engine's
        k-means, best of 10 seedings as hmmlearn's KMeans(n_init=10)); weights 1/M; covariances from the data's
        covariance."""
        from ..estimation.kmeans import kmeans

        K, M = self.n_components, self.n_mix
        X = np.ascontiguousarray(X, dtype=np.float64)
        D = X.shape[1]
        cv = np.atleast_2d(np.cov(X.T)) + self.min_covar * np.eye(D)
        if self._needs_init("m", "means_"):
            centres = kmeans(X, K, np.empty(0), _random.stream_key(random_state), n_init=10)
            labels = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
            means = np.empty((K, M, D))
            for k in range(K):
                members = X[labels == k]
                if members.shape[0] >= M:
                    means[k] = kmeans(np.ascontiguousarray(members), M, np.empty(0), _random.stream_key(random_state),
                                      n_init=10)
                else:  # too few points: draws around the centres' mean, as hmmlearn does
                    means[k] = random_state.multivariate_normal(centres.mean(axis=0), cv, size=M)
            self.means_ = means
        if self._needs_init("w", "weights_"):
            self.weights_ = np.full((K, M), 1.0 / M)
        if self._needs_init("c", "covars_"):
            ct = self.covariance_type
            self.covars_ = {"full": lambda: np.tile(cv, (K, M, 1, 1)), "tied": lambda: np.tile(cv, (K, 1, 1)),
                            "diag": lambda: np.tile(np.diag(cv), (K, M, 1)),
                            "spherical": lambda: np.full((K, M), cv.mean())}[ct]()

    def _check_emission(self):
        ct = self.covariance_type
        if ct not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {ct!r}")
        K, M = self.n_components, self.n_mix
        self.weights_ = np.array(self.weights_, dtype=np.float64)
        if self.weights_.shape != (K, M):
            raise ValueError(f"weights_ must have shape (n_components, n_mix) = ({K}, {M}), got {self.weights_.shape}")
        if np.any(~np.isfinite(self.weights_)) or np.any(self.weights_ < 0):
            raise ValueError("weights_ must hold finite probabilities >= 0")
        self._check_sum_1("weights_")
        self.means_ = np.array(self.means_, dtype=np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (K, M):
            raise ValueError(f"means_ must have shape (n_components, n_mix, n_features), got {self.means_.shape}")
        if not np.all(np.isfinite(self.means_)):
            raise ValueError("means_ must be finite")
        self.n_features = D = self.means_.shape[2]
        self.covars_ = np.array(self.covars_, dtype=np.float64)
        expected = {"spherical": (K, M), "tied": (K, D, D), "diag": (K, M, D), "full": (K, M, D, D)}[ct]
        if self.covars_.shape != expected:
            raise ValueError(f"{ct!r} mixture covars must have shape {expected}, got {self.covars_.shape}")
        GMMEmission(ct, M).kernel_params(self._emission_params())  # every covariance positive definite

    def _emission(self):
        return GMMEmission(self.covariance_type, self.n_mix)

    def _emission_record(self):
        return {"n_mix": int(self.n_mix)}, {"weights": self.weights_, "means": self.means_, "covars": self.covars_}

    def _emission_from_record(self, header, arrays):
        self.weights_ = arrays["weights"]
        self.means_ = arrays["means"]
        self.covars_ = arrays["covars"]

    def _emission_params(self):
        return GMMEmissionParams(np.asarray(self.weights_, dtype=np.float64), np.asarray(self.means_, dtype=np.float64),
                                 np.asarray(self.covars_, dtype=np.float64))

    def _set_emission_params(self, eparams):
        self.weights_ = eparams.weights
        self.means_ = eparams.means
        self.covars_ = eparams.covars

    def _emission_m_step(self, stats: SufficientStats, eparams):
        """hmmlearn's GMMHMM MAP update over the K·M components' moments (about the current means)."""
        K, M, D = eparams.means.shape
        ct = self.covariance_type
        weights_prior, mu0, lam, psi, nu = self._priors()
        nk = stats.nk.reshape(K, M)
        post_sum = nk.sum(axis=1)
        shift = stats.shift.reshape(K, M, D)
        s1 = stats.s1.reshape(K, M, D)
        weights, means, covars = eparams.weights, eparams.means, eparams.covars
        if "w" in self.params:
            alpha = weights_prior - 1.0
            with np.errstate(invalid="ignore", divide="ignore"):
                new = (nk + alpha) / (post_sum + alpha.sum(axis=1))[:, None]
            weights = np.where(np.isfinite(new).all(axis=1, keepdims=True), new, weights)
        if "m" in self.params:
            m_n = lam[:, :, None] * mu0 + s1 + nk[:, :, None] * shift
            m_d = nk + lam
            with np.errstate(invalid="ignore", divide="ignore"):
                new = m_n / m_d[:, :, None]
            means = np.where((m_d > 0)[:, :, None], new, means)  # an unused component keeps its mean
        if "c" in self.params:
            d = means - shift  # scatter about the updated means from the moments about the current ones
            meandiff = means - mu0
            if ct in ("full", "tied"):
                s2 = stats.s2.reshape(K, M, D, D)
                s1d = np.einsum("kmi,kmj->kmij", s1, d)
                scatter = s2 - s1d - np.swapaxes(s1d, -1, -2) + nk[:, :, None, None] * np.einsum("kmi,kmj->kmij", d, d)
                prior_dots = lam[:, :, None, None] * np.einsum("kmi,kmj->kmij", meandiff, meandiff)
                if ct == "full":
                    c_n = np.swapaxes(psi, -1, -2) + prior_dots + scatter
                    c_d = (nk + 1.0 + nu + D + 1.0)[:, :, None, None]
                    new = c_n / c_d
                    covars = np.where((c_d > 0) & (nk > 0)[:, :, None, None], new, covars)
                else:
                    c_n = np.swapaxes(psi, -1, -2) + prior_dots.sum(axis=1) + scatter.sum(axis=1)
                    c_d = (post_sum + M + nu + D + 1.0)[:, None, None]
                    covars = np.where((post_sum > 0)[:, None, None], c_n / c_d, covars)
            else:
                s2 = stats.s2.reshape(K, M, D)
                scatter = s2 - 2.0 * d * s1 + nk[:, :, None] * d * d
                if ct == "diag":
                    c_n = lam[:, :, None] * meandiff ** 2 + 2.0 * nu + scatter
                    c_d = nk[:, :, None] + 1.0 + 2.0 * (psi + 1.0)
                    covars = np.where((nk > 0)[:, :, None], c_n / c_d, covars)
                else:
                    c_n = lam * (meandiff ** 2).sum(axis=2) + 2.0 * nu + scatter.sum(axis=2)
                    c_d = D * (nk + 1.0) + 2.0 * (psi + 1.0)
                    covars = np.where(nk > 0, c_n / c_d, covars)
        return GMMEmissionParams(weights, means, covars)


# ---------------------------------------------------------------------------------------------- Poisson
def _product_params(loc, K, cat_probs=None):
    D = loc.shape[1]
    return ProductParams(np.ones(K), np.asarray(loc, dtype=np.float64), np.ones((K, D)),
                         np.zeros((K, 0)) if cat_probs is None else np.asarray(cat_probs, dtype=np.float64))


@register
class PoissonHMM(_BaseHMM):
    """Hidden Markov model with independent Poisson emissions per feature (hmmlearn's ``PoissonHMM``)."""

    _PARAM_NAMES = ("n_components", "startprob_prior", "transmat_prior", "lambdas_prior", "lambdas_weight",
                    "algorithm", "random_state", "n_iter", "tol", "verbose", "params", "init_params",
                    "implementation")

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                 lambdas_weight=0.0, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="stl", init_params="stl", implementation="log"):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation

    def _get_n_fit_scalars_per_param(self):
        nc, nf = self.n_components, self.n_features
        return {"s": nc - 1, "t": nc * (nc - 1), "l": nc * nf}

    def _prepare(self, X):
        return _float_data(self, X)

    def _init_emission(self, X, lengths, random_state):
        if self._needs_init("l", "lambdas_"):
            mean_X = X.mean()
            var_X = X.var()
            self.lambdas_ = random_state.gamma(shape=mean_X ** 2 / var_X, scale=var_X / mean_X,
                                               size=(self.n_components, self.n_features))

    def _check_emission(self):
        self.lambdas_ = np.atleast_2d(np.asarray(self.lambdas_, dtype=np.float64))
        n_features = getattr(self, "n_features", None) or self.lambdas_.shape[1]
        if self.lambdas_.shape != (self.n_components, n_features):
            raise ValueError("lambdas_ must have shape (n_components, n_features)")
        if np.any(~np.isfinite(self.lambdas_)) or np.any(self.lambdas_ < 0):
            raise ValueError("lambdas_ must be finite rates >= 0")
        self.n_features = n_features

    def _emission(self):
        return ProductEmission(ProductFamily([Column(j, "poisson") for j in range(self.n_features)]))

    def _emission_params(self):
        return _product_params(self.lambdas_, self.n_components)

    def _emission_record(self):
        return {}, {"lambdas": self.lambdas_}

    def _emission_from_record(self, header, arrays):
        self.lambdas_ = arrays["lambdas"]

    def _set_emission_params(self, eparams):
        self.lambdas_ = eparams.loc

    def _emission_m_step(self, stats, eparams):
        if "l" not in self.params:
            return eparams
        nk = stats.nk[:, None]
        alphas, betas = self.lambdas_prior, self.lambdas_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            new = (alphas + stats.s1) / (betas + nk)  # = (alpha + n_k ybar_k) / (beta + n_k), per state
        loc = np.where(np.isfinite(new), new, eparams.loc)
        return replace(eparams, loc=loc)


# ---------------------------------------------------------------------------------------------- categorical
@register
class CategoricalHMM(_BaseHMM):
    """Hidden Markov model with categorical emissions: X (n, 1) integer symbols 0..n_features-1
    (hmmlearn's ``CategoricalHMM``)."""

    _PARAM_NAMES = ("n_components", "startprob_prior", "transmat_prior", "emissionprob_prior", "n_features",
                    "algorithm", "random_state", "n_iter", "tol", "verbose", "params", "init_params",
                    "implementation")

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *, emissionprob_prior=1.0,
                 n_features=None, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="ste", init_params="ste", implementation="log"):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation

    def _get_n_fit_scalars_per_param(self):
        nc, nf = self.n_components, self.n_features
        return {"s": nc - 1, "t": nc * (nc - 1), "e": nc * (nf - 1)}

    def _init_input(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        return X

    def _check_and_set_n_features(self, X):
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError("Symbols should be integers")
        if X.min() < 0:
            raise ValueError("Symbols should be nonnegative")
        if self.n_features is not None:
            if self.n_features - 1 < X.max():
                raise ValueError(f"Largest symbol is {X.max()} but the model only emits symbols up to "
                                 f"{self.n_features - 1}")
        else:
            self.n_features = int(X.max()) + 1

    def _prepare(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != 1:
            raise ValueError(f"CategoricalHMM takes X of shape (n_samples, 1) (one symbol per step), got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X has 0 rows; an HMM needs at least one observation")
        if X.dtype.kind == "f":
            nan = np.isnan(X[:, 0])
            ok = ~nan
            if np.any(X[ok] != np.round(X[ok])):
                row = int(np.flatnonzero(ok & (X[:, 0] != np.round(X[:, 0])))[0])
                raise ValueError(f"X row {row}: symbol {X[row, 0]!r} is not an integer")
            missing = np.flatnonzero(nan) if nan.any() else None
        elif X.dtype.kind in "iub":
            missing = None
        else:
            raise ValueError(f"Symbols should be integers, got dtype {X.dtype}")
        data = np.ascontiguousarray(X, dtype=np.float64)
        if missing is not None:
            data = data.copy()
            data[missing] = 0.0
        nf = self.n_features
        if nf is not None:
            bad = np.flatnonzero((data[:, 0] < 0) | (data[:, 0] >= nf))
            if bad.size:
                r = int(bad[0])
                raise ValueError(f"X row {r}: symbol {X[r, 0]} is outside 0..{nf - 1} (n_features = {nf})")
        return data, missing

    def _observed_for_init(self, X, data, missing):
        X = np.asarray(X)
        X = X[:, None] if X.ndim == 1 else X
        if missing is None:
            return X
        keep = np.ones(data.shape[0], dtype=bool)
        keep[missing] = False
        return X[keep].astype(np.int64)

    def _init_emission(self, X, lengths, random_state):
        if self._needs_init("e", "emissionprob_"):
            shape = (self.n_components, self.n_features)
            draw = random_state.rand(*shape) if hasattr(random_state, "rand") else random_state.random(shape)
            self.emissionprob_ = _normalize(draw, axis=1)

    def _check_emission(self):
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.n_features is None:
            self.n_features = self.emissionprob_.shape[1]
        if self.emissionprob_.shape != (self.n_components, self.n_features):
            raise ValueError(f"emissionprob_ must have shape({self.n_components}, {self.n_features})")
        if np.any(~np.isfinite(self.emissionprob_)) or np.any(self.emissionprob_ < 0):
            raise ValueError("emissionprob_ must hold finite probabilities >= 0")
        self._check_sum_1("emissionprob_")

    def _emission(self):
        return ProductEmission(ProductFamily([Column(0, "categorical", np.arange(self.n_features))]))

    def _emission_params(self):
        return _product_params(np.zeros((self.n_components, 1)), self.n_components, self.emissionprob_)

    def _emission_record(self):
        return {}, {"emissionprob": self.emissionprob_}

    def _emission_from_record(self, header, arrays):
        self.emissionprob_ = arrays["emissionprob"]

    def _set_emission_params(self, eparams):
        self.emissionprob_ = eparams.cat_probs

    def _emission_m_step(self, stats, eparams):
        if "e" not in self.params:
            return eparams
        probs = _normalize(np.maximum(self.emissionprob_prior - 1 + stats.counts, 0), axis=1)
        return replace(eparams, cat_probs=probs)

    _sample_dtype = np.int64

    def _sample_output(self, X, out=None):
        if out is None:
            return X.astype(np.int64)
        out = output_array(out, X.shape, np.int64)
        out[...] = X
        return out


# ---------------------------------------------------------------------------------------------- any family
@register
class HMM(_BaseHMM):
    """A hidden Markov model whose emissions are any family of ``engine.Mixture``: ``emission="gaussian"``
    (with ``covariance_type``), ``"bernoulli"``, ``"categorical"``, ``"poisson"``, ``"exponential"``,
    ``"student_t"`` (with ``covariance_type``; ``dof=None`` learns each state's degrees of freedom), or a dict
    {column | (columns…): family | ("gaussian", covariance_type)} for mixed-type rows (tables, DataFrames or
    arrays). ``missing="marginalize"`` leaves missing entries out of a step's emission (an all-missing step
    has emission probability 1); ``unknown="ignore"`` scores unseen categories as missing.

    Emission parameters after a fit: ``emission_params_`` (the family's parameters: for a product family
    ``ProductParams`` with ``loc``, ``var``, ``cat_probs`` per state; for Gaussians ``means_``/``covars_``).
    The emission M-step is the family's maximum-likelihood update (``reg_covar`` added to variances); the
    transitions take the same Dirichlet MAP update as hmmlearn's (``startprob_prior``, ``transmat_prior``).
    """

    _PARAM_NAMES = ("n_components", "emission", "covariance_type", "missing", "unknown", "reg_covar",
                    "startprob_prior", "transmat_prior", "algorithm", "random_state", "n_iter", "tol", "verbose",
                    "params", "init_params", "implementation", "dof")

    def __init__(self, n_components=1, *, emission="gaussian", covariance_type="diag", missing="error",
                 unknown="error", reg_covar=1e-6, startprob_prior=1.0, transmat_prior=1.0, algorithm="viterbi",
                 random_state=None, n_iter=100, tol=1e-2, verbose=False, params="ste", init_params="ste",
                 implementation="log", dof=None):
        self.n_components = n_components
        self.emission = emission
        self.dof = dof
        self.covariance_type = covariance_type
        self.missing = missing
        self.unknown = unknown
        self.reg_covar = reg_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation

    # ------------------------------------------------------------------ the family
    def _gaussian(self):
        return self.emission == "gaussian" and self.missing == "error"

    def _family_spec(self):
        from ..models.family_mixture import Mixture

        return Mixture(self.n_components, family=self.emission, covariance_type=self.covariance_type,
                       missing=self.missing, unknown=self.unknown, dof=self.dof)

    def _check_hyper(self):
        super()._check_hyper()
        if self.missing not in ("error", "marginalize"):
            raise ValueError(f"parameter 'missing' must be 'error' or 'marginalize', got {self.missing!r}")
        if self.unknown not in ("error", "ignore"):
            raise ValueError(f"parameter 'unknown' must be 'error' or 'ignore', got {self.unknown!r}")
        if self._gaussian() and self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {self.covariance_type!r}")
        if not isinstance(self.reg_covar, numbers.Real) or not self.reg_covar >= 0:
            raise ValueError(f"parameter 'reg_covar' must be a number >= 0, got {self.reg_covar!r}")

    def _get_n_fit_scalars_per_param(self):
        nc = self.n_components
        counts = {"s": nc - 1, "t": nc * (nc - 1)}
        if self._gaussian():
            nf = self.n_features
            counts["e"] = nc * nf + {"spherical": nc, "diag": nc * nf, "full": nc * nf * (nf + 1) // 2,
                                     "tied": nf * (nf + 1) // 2}[self.covariance_type]
        else:
            counts["e"] = self._family_obj.n_parameters(nc) - (nc - 1)  # the family counts mixture weights
        return counts

    def _prepare(self, X):
        if self._gaussian():
            return _float_data(self, X)
        fam = self._family_obj
        X = self._input(X)
        chunks = [c for _, c in fam._chunks(X)]
        data = np.ascontiguousarray(np.concatenate(chunks) if len(chunks) != 1 else chunks[0], dtype=np.float64)
        return data, None

    def _input(self, X):
        from ..families.columns import NamedArray, is_frame, is_table

        if is_table(X) or is_frame(X):
            return X
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        keys = getattr(self, "_fit_keys", None)
        if keys is not None and not all(isinstance(k, numbers.Integral) for k in keys):
            return NamedArray(X, keys)
        return X

    def _init_input(self, X):
        return X

    def _check_and_set_n_features(self, X):
        from ..families.columns import column_keys

        keys = column_keys(self._input(X) if not self._gaussian() else _as_2d_float(X))
        if getattr(self, "n_features", None) is not None and len(keys) != self.n_features:
            raise ValueError(f"Unexpected number of dimensions, got {len(keys)} but expected {self.n_features}")
        self.n_features = len(keys)

    def _begin_fit(self, X):
        if not self._gaussian() and ("emission_params_" not in self.__dict__ or "e" in self.init_params):
            from ..families.columns import column_keys

            X = self._input(X)
            self._fit_keys = column_keys(X)
            self._mixture_spec = self._family_spec()
            self._family_obj = self._mixture_spec._build_family(X)
        return X

    def fit(self, X, lengths=None, sample_weight=None):
        self._check_hyper()
        X = self._begin_fit(X)
        return super().fit(X, lengths, sample_weight)

    def _init(self, X, lengths=None):
        """Unlike hmmlearn's random Dirichlet draws (which often start EM in a poor optimum), an HMM starts
        from a mixture fit of its emission family (k-means seeded), uniform start probabilities and a
        transition matrix that stays in a state with probability 1/2: the usual sequence-agnostic start."""
        X = self._init_input(X)
        self._check_and_set_n_features(X)
        K = self.n_components
        if self._needs_init("s", "startprob_"):
            self.startprob_ = np.full(K, 1.0 / K)
        if self._needs_init("t", "transmat_"):
            self.transmat_ = 0.5 * np.eye(K) + 0.5 / K
        self._init_emission(X, lengths, _check_random_state(self.random_state))

    def _init_emission(self, X, lengths, random_state):
        if not self._needs_init("e", "emission_params_"):
            return
        key = _random.stream_key(random_state)
        if self._gaussian():
            from ..models.mixture import GaussianMixture

            data = _as_2d_float(X)
            nan = np.isnan(data).any(axis=1)
            gm = GaussianMixture(self.n_components, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                                 max_iter=20, random_state=int(key % np.uint64(2 ** 31)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a start, not a fit: 20 iterations are enough either way
                gm.fit(data[~nan])
            self.emission_params_ = GaussianEmissionParams(np.asarray(gm.means_, dtype=np.float64),
                                                           np.asarray(gm.covariances_, dtype=np.float64))
        else:
            fam = self._family_obj
            params = fam.initialize(self._input(X), np.empty(0), self.n_components, "kmeans", key, self.reg_covar)
            self.emission_params_ = replace(params, weights=np.full(self.n_components, 1.0 / self.n_components))

    def _check_emission(self):
        if not hasattr(self, "emission_params_"):
            raise ValueError("emission_params_ is not set (fit the model first)")
        if self._gaussian():
            p = self.emission_params_
            cov.cholesky_factors(p.covars, self.covariance_type, name="covars_")
            self.n_features = p.means.shape[1]
        else:
            self._family_obj.check_params(self.emission_params_)

    def _emission(self):
        if self._gaussian():
            return GaussianEmission(self.covariance_type)
        if getattr(self._family_obj, "name", "") == "student_t":
            return StudentTEmission(self._family_obj)
        return ProductEmission(self._family_obj)

    def _emission_params(self):
        return self.emission_params_

    def _set_emission_params(self, eparams):
        self.emission_params_ = eparams

    def _emission_m_step(self, stats, eparams):
        if "e" not in self.params:
            return eparams
        if self._gaussian():
            from ..estimation.em import m_step as gaussian_m_step

            seen = stats.nk > 0
            _, means, covariances = gaussian_m_step(stats, self.covariance_type, self.reg_covar)
            means = np.where(seen[:, None], means, eparams.means)
            if self.covariance_type != "tied":
                covariances = np.where(seen.reshape((-1,) + (1,) * (covariances.ndim - 1)), covariances,
                                       eparams.covars)
            return GaussianEmissionParams(means, covariances)
        new = self._family_obj.m_step(stats, self.reg_covar)
        return replace(new, weights=np.full(self.n_components, 1.0 / self.n_components))

    def _emission_record(self):
        p = self.emission_params_
        if self._gaussian():
            return {"emission": "gaussian"}, {"means": p.means, "covars": p.covars}
        mix = self._mixture_spec
        mix._family_obj = self._family_obj
        mix._fit_keys = self._fit_keys
        mix._install(self._family_obj, p)
        header, arrays = mix._model_record()
        return {"mixture": header}, {"emission_" + k: v for k, v in arrays.items()}

    def _emission_from_record(self, header, arrays):
        if "mixture" not in header:
            self.emission = "gaussian"
            self.emission_params_ = GaussianEmissionParams(arrays["means"], arrays["covars"])
            return
        from ..models.family_mixture import Mixture

        sub = {k[len("emission_"):]: v for k, v in arrays.items() if k.startswith("emission_")}
        mix = Mixture._from_model_record({"attributes": header["mixture"],
                                          "covariance_type": header["mixture"].get("covariance_type")}, sub)
        self.emission = mix.family
        self._mixture_spec = mix
        self._family_obj = mix._family_obj
        self._fit_keys = mix._fit_keys
        self.emission_params_ = mix._params

    # hmmlearn-style views of the emission parameters
    @property
    def means_(self):
        p = self.emission_params_
        return p.loc if hasattr(p, "loc") else p.means

    @property
    def covars_(self):
        """Gaussian: hmmlearn's covars_; product families: per-column variances; Student-t: the scale matrices."""
        p = self.emission_params_
        return p.covars if isinstance(p, GaussianEmissionParams) else (p.var if hasattr(p, "var") else p.covariances)

    @property
    def dofs_(self):
        """Student-t emissions: each state's degrees of freedom."""
        return self.emission_params_.dofs
