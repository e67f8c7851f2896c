"""Fully observed Markov chains: the seed's Markov assumption without the hidden layer.

``MarkovChain`` learns the start distribution and the first-order transition matrix of sequences of
categorical states by maximum likelihood (counts, with optional Dirichlet pseudo-counts), scores
sequences and samples them with the counter-based generator (same seed, same sequences at any thread count).
"""
import numbers

import numpy as np

from .. import _random
from .._registry import register
from .._sklearn_compat import EstimatorParams, NotFittedError
from .._validation import output_array
from ..kernels import hmm as hk
from . import core


@register
class MarkovChain(EstimatorParams):
    """First-order Markov chain over categorical states.

    fit(X, lengths=None, sample_weight=None): X (n,) or (n, 1) state labels (any sortable values: ints,
    strings); lengths: the sequences' lengths (None: one sequence); sample_weight: one weight per sequence.
    Attributes: ``states_`` (the labels, sorted), ``startprob_`` (K,), ``transmat_`` (K, K), ``n_features_in_``.
    ``startprob_prior``/``transmat_prior`` are Dirichlet parameters (1.0: plain maximum likelihood; 2.0 adds one
    pseudo-count to every entry). A state never left in the data gets a uniform row (and a row of zeros
    would make sampling from it impossible); its rows are listed in ``unseen_rows_``.
    """

    _PARAM_NAMES = ("states", "startprob_prior", "transmat_prior", "random_state")

    def __init__(self, states=None, *, startprob_prior=1.0, transmat_prior=1.0, random_state=None):
        self.states = states
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.random_state = random_state

    def _labels(self, X):
        X = np.asarray(X)
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(f"X must be (n,) or (n, 1) state labels, got shape {X.shape}")
        return X

    def _codes(self, X):
        X = self._labels(X)
        codes = np.searchsorted(self.states_, X)
        codes = np.clip(codes, 0, len(self.states_) - 1)
        bad = np.flatnonzero(self.states_[codes] != X)
        if bad.size:
            raise ValueError(f"X row {int(bad[0])}: state {X[bad[0]]!r} is not one of the chain's states "
                             f"{self.states_.tolist()}")
        return np.ascontiguousarray(codes, dtype=np.int64)

    def fit(self, X, lengths=None, sample_weight=None):
        labels = self._labels(X)
        if labels.size == 0:
            raise ValueError("X has 0 rows; a Markov chain needs at least one state")
        if self.states is not None:
            self.states_ = np.sort(np.asarray(self.states))
        else:
            self.states_ = np.unique(labels)
        codes = self._codes(labels)
        seqs = core.sequences(codes.size, lengths, sample_weight)
        K = self.states_.size
        counts = np.zeros((K, K))
        start = np.zeros(K)
        hk.transition_counts(codes, seqs.bounds, seqs.weights, K, counts, start)
        self.start_counts_ = start
        self.transition_counts_ = counts
        sp = np.maximum(self.startprob_prior - 1 + start, 0)
        self.startprob_ = sp / sp.sum() if sp.sum() > 0 else np.full(K, 1.0 / K)
        tm = np.maximum(self.transmat_prior - 1 + counts, 0)
        rows = tm.sum(axis=1)
        self.unseen_rows_ = np.flatnonzero(rows == 0)
        tm[rows == 0] = 1.0 / K
        self.transmat_ = tm / tm.sum(axis=1, keepdims=True)
        self.n_features_in_ = 1
        return self

    def _check_fitted(self):
        if not hasattr(self, "transmat_"):
            raise NotFittedError("This MarkovChain instance is not fitted yet: call fit")

    def score_sequences(self, X, lengths=None, *, out=None):
        """Per-sequence log-likelihoods (S,); ``out``: a caller-owned (S,) float64 array to write them into."""
        self._check_fitted()
        codes = self._codes(X)
        seqs = core.sequences(codes.size, lengths)
        out = output_array(out, (seqs.bounds.size - 1,), np.float64, inputs=(X,))
        out[:] = 0.0
        with np.errstate(divide="ignore"):
            hk.chain_log_likelihood(codes, seqs.bounds, np.log(self.startprob_),
                                    np.ascontiguousarray(np.log(self.transmat_)), out)
        return out

    def score(self, X, lengths=None):
        """Total log-likelihood of the sequences."""
        return float(self.score_sequences(X, lengths).sum())

    def sample(self, n_samples=1, random_state=None, lengths=None, *, out=None):
        """State labels (n,) of one sequence of n_samples (or of sequences of ``lengths``); ``out``: a
        caller-owned (n,) array of the labels' dtype (``states_.dtype``) to write them into."""
        self._check_fitted()
        if lengths is None:
            if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
                raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
            lengths = [n_samples]
        seqs = core.sequences(int(np.sum(lengths)), lengths)
        key = _random.stream_key(self.random_state if random_state is None else random_state)
        cs = np.cumsum(self.startprob_)
        cs[-1] = 1.0
        ct = np.cumsum(self.transmat_, axis=1)
        ct[:, -1] = 1.0
        n = int(seqs.bounds[-1])
        if out is not None:
            out = output_array(out, (n,), self.states_.dtype)
        states = np.empty(n, dtype=np.int64)
        hk.sample_states(np.uint64(key), seqs.bounds, cs, np.ascontiguousarray(ct),
                         np.full(seqs.bounds.size - 1, -1, dtype=np.int64), states)
        if out is None:
            return self.states_[states]
        return np.take(self.states_, states, out=out)

    @property
    def n_parameters(self):
        K = self.states_.size
        return (K - 1) + K * (K - 1)

    def bic(self, X, lengths=None):
        return -2 * self.score(X, lengths) + self.n_parameters * np.log(self._labels(X).size)

    def aic(self, X, lengths=None):
        return -2 * self.score(X, lengths) + 2 * self.n_parameters

    def save(self, path):
        from ..io.model_file import save

        self._check_fitted()
        save(self, path)

    def _model_record(self):
        if self.states_.dtype.kind not in "iufb":
            states = np.asarray([str(s) for s in self.states_])
            kind = "str"
        else:
            states, kind = self.states_, self.states_.dtype.str
        header = {"states_kind": kind, "params": {"startprob_prior": float(self.startprob_prior),
                                                  "transmat_prior": float(self.transmat_prior)}}
        arrays = {"startprob": self.startprob_, "transmat": self.transmat_}
        if kind == "str":
            header["states"] = states.tolist()
        else:
            arrays["states"] = np.asarray(states)
        return header, arrays

    @classmethod
    def _from_model_record(cls, header, arrays):
        attrs = header.get("attributes") or {}
        m = cls(**attrs.get("params", {}))
        if attrs["states_kind"] == "str":
            m.states_ = np.asarray(attrs["states"], dtype=object)
        else:
            m.states_ = np.asarray(arrays["states"]).astype(np.dtype(attrs["states_kind"]))
        m.startprob_ = np.asarray(arrays["startprob"], dtype=np.float64)
        m.transmat_ = np.asarray(arrays["transmat"], dtype=np.float64)
        K = m.states_.size
        if m.startprob_.shape != (K,) or m.transmat_.shape != (K, K):
            raise ValueError("MarkovChain record: startprob/transmat shapes do not match the states")
        m.unseen_rows_ = np.zeros(0, dtype=np.int64)
        m.n_features_in_ = 1
        return m
