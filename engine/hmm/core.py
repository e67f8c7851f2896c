"""The HMM seam: Baum–Welch statistics, scores, posteriors and Viterbi paths of many sequences, for any
emission (``engine.hmm.emissions``), in bounded memory.

Rows are processed in *chunks*: a group of whole sequences (at most ``max_rows`` rows together) or one
*segment* of a sequence longer than that. For a chunk the emission writes the per-state log-densities
(rows x K) into a reused buffer, the forward-backward kernel turns them into weighted state posteriors in
place (sequences in parallel, parts balanced by length) and the emission folds them into its statistics.
A long sequence runs forward segment by segment, keeping only each segment's entering forward vector (a
checkpoint of K numbers), then backward from the last segment, recomputing each segment's emissions and
forward vectors from its checkpoint: memory is one segment, and the emissions cost two passes instead of
one. Statistics (``HMMStats``) add across chunks, batches, files and Dask partitions.
"""
import heapq
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..kernels import hmm as hk
# at most MAX_PARTS parts per chunk (a function of the lengths only, so results do not depend on threads)
from ..kernels._partition import MAX_PARTS

#: rows x states of one chunk's buffers (frame and forward vectors): 2**18 float64 = 2 MiB each (cache-sized)
CHUNK_CELLS = 1 << 18


@dataclass(frozen=True)
class HMMParams:
    startprob: np.ndarray  # (K,)
    transmat: np.ndarray  # (K, K)
    emission: object  # the emission's parameters


@dataclass(frozen=True)
class HMMStats:
    """Additive Baum–Welch statistics: expected start counts (K,), expected transition counts (K, K), the
    emission's statistics under the state posteriors, the total weighted log-likelihood and the total
    sequence weight and row count."""

    start: np.ndarray
    trans: np.ndarray
    emission: object
    log_likelihood: float
    weight: float
    n_rows: int

    def __add__(self, other):
        if not isinstance(other, HMMStats):
            return NotImplemented
        return HMMStats(self.start + other.start, self.trans + other.trans, self.emission + other.emission,
                        self.log_likelihood + other.log_likelihood, self.weight + other.weight,
                        self.n_rows + other.n_rows)

    @property
    def mean_log_likelihood(self):
        return self.log_likelihood / self.weight if self.weight > 0 else -np.inf


class Sequences(NamedTuple):
    """bounds (S + 1,) int64 row offsets; weights (S,) float64 per-sequence weights."""

    bounds: np.ndarray
    weights: np.ndarray

    @property
    def lengths(self):
        return np.diff(self.bounds)


def sequences(n_rows, lengths=None, sample_weight=None):
    """Validate hmmlearn's ``lengths`` (None: one sequence) and per-sequence ``sample_weight``."""
    if lengths is None:
        lengths = np.array([n_rows], dtype=np.int64)
    else:
        raw = np.asarray(lengths)
        if raw.ndim == 0:
            raw = raw.reshape(1)
        if raw.ndim != 1 or raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(raw == np.round(raw))):
            raise ValueError(f"lengths must be a 1-D sequence of non-negative integers, got {lengths!r}")
        lengths = raw.astype(np.int64)
        if np.any(lengths < 0):
            raise ValueError(f"lengths must be non-negative; entry {int(np.argmax(lengths < 0))} is "
                             f"{lengths[lengths < 0][0]}")
        if lengths.sum() != n_rows:
            raise ValueError(f"lengths sum to {int(lengths.sum())} but X has {n_rows} rows")
    bounds = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    if sample_weight is None:
        w = np.ones(lengths.size)
    else:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if w.shape != (lengths.size,):
            raise ValueError(f"sample_weight has {w.size} entries; it needs one per sequence ({lengths.size})")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ValueError(f"sample_weight must be finite and >= 0; sequence {bad[0]} has {w[bad[0]]}")
    return Sequences(bounds, np.ascontiguousarray(w))


class Chunk(NamedTuple):
    row_lo: int
    row_hi: int
    seq_lo: int  # whole sequences seq_lo..seq_hi-1; or, for a long sequence, seq_lo and seq_hi = -1
    seq_hi: int
    local_bounds: np.ndarray
    part_bounds: np.ndarray
    part_seqs: np.ndarray


def _parts(lengths):
    """A length-balanced partition of sequences into at most MAX_PARTS parts (longest first, each to the
    least-loaded part; ties to the lowest part): deterministic, independent of the thread count."""
    S = lengths.size
    P = max(1, min(MAX_PARTS, S))
    order = np.argsort(-lengths, kind="stable")
    if S <= MAX_PARTS and (lengths > 0).all():
        # one sequence per part, longest first: what the greedy below gives (each pop finds an empty part)
        return np.arange(S + 1, dtype=np.int64), order.astype(np.int64)
    heap = [(0, p) for p in range(P)]
    members = [[] for _ in range(P)]
    for s in order:
        load, p = heapq.heappop(heap)
        members[p].append(int(s))
        heapq.heappush(heap, (load + int(lengths[s]), p))
    part_bounds = np.zeros(P + 1, dtype=np.int64)
    np.cumsum([len(m) for m in members], out=part_bounds[1:])
    part_seqs = np.array([s for m in members for s in sorted(m)], dtype=np.int64)
    return part_bounds, part_seqs


def plan(seqs, n_states, max_rows=None):
    """The chunks of a sequence set (see the module docstring)."""
    if max_rows is None:
        max_rows = max(1024, CHUNK_CELLS // max(n_states, 1))
    bounds = seqs.bounds
    chunks = []
    S = bounds.size - 1
    s = 0
    while s < S:
        length = bounds[s + 1] - bounds[s]
        if length > max_rows:
            for lo in range(int(bounds[s]), int(bounds[s + 1]), max_rows):
                chunks.append(Chunk(lo, min(lo + max_rows, int(bounds[s + 1])), s, -1, None, None, None))
            s += 1
            continue
        e = s
        while e < S and bounds[e + 1] - bounds[s] <= max_rows:
            e += 1
        local = np.ascontiguousarray(bounds[s:e + 1] - bounds[s])
        pb, ps = _parts(np.diff(local))
        chunks.append(Chunk(int(bounds[s]), int(bounds[e]), s, e, local, pb, ps))
        s = e
    return chunks, max_rows


def _long_runs(chunks):
    """Group a plan's segments by sequence: yields ('whole', chunk) or ('long', seq, [segments])."""
    i = 0
    while i < len(chunks):
        c = chunks[i]
        if c.seq_hi >= 0:
            yield "whole", c
            i += 1
            continue
        j = i
        while j < len(chunks) and chunks[j].seq_hi < 0 and chunks[j].seq_lo == c.seq_lo:
            j += 1
        yield "long", c.seq_lo, chunks[i:j]
        i = j


class Work:
    """The reusable buffers of one pass (frame, forward vectors, scales) for chunks of up to max_rows. An
    estimator keeps one between calls (``Work.reuse``): a batch job scoring many batches touches fresh pages
    once, not at every call (allocating and faulting 2 x 16 MiB costs more than the forward pass itself)."""

    def __init__(self, max_rows, K, n_rows):
        rows = min(max_rows, max(n_rows, 1))
        self.rows = rows
        self.K = K
        self.frame = np.empty((rows, K))
        self.alpha = np.empty((rows, K))
        self.scale = np.empty(rows)
        self._back8 = None

    def back8(self, m):
        """uint8 (m, 8) back-pointer scratch of the up-to-8-state Viterbi kernel (allocated on first use)."""
        if self._back8 is None:
            self._back8 = np.empty((self.rows, 8), dtype=np.uint8)
        return self._back8[:m]

    @staticmethod
    def reuse(previous, max_rows, K, n_rows):
        rows = min(max_rows, max(n_rows, 1))
        if previous is not None and previous.K == K and previous.rows >= rows:
            return previous
        return Work(max_rows, K, n_rows)


def _frame(emission, eparams, data, lo, hi, work, missing):
    m = hi - lo
    frame = work.frame[:m]
    emission.log_frame(eparams, data, lo, hi, frame)
    if missing is not None:
        idx = missing[(missing >= lo) & (missing < hi)] - lo
        if idx.size:
            frame[idx] = 0.0  # an unobserved step: emission probability 1 in every state
        return frame, idx
    return frame, None


def _zero_sequence_error(seqs, s, params_where=""):
    return ValueError(f"sequence {s} (rows {int(seqs.bounds[s])}..{int(seqs.bounds[s + 1]) - 1}) has zero "
                      f"probability under the model{params_where}: no state path can emit it (a zero in "
                      "startprob_/transmat_ or an emission of probability 0)")


def _long_forward(emission, params, data, segs, work, missing, pi, A):
    """The forward pass of one long sequence, segment by segment: (log-likelihood, the forward vector entering
    each segment: the checkpoints). Stops at -inf (no path)."""
    K = pi.shape[0]
    checkpoints = []
    alpha_in = np.ones(K)
    ll = 0.0
    for i, c in enumerate(segs):
        frame, _ = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
        m = c.row_hi - c.row_lo
        checkpoints.append(alpha_in)
        ll += hk.segment_forward(frame, work.alpha, work.scale, 0, m, pi, A, i > 0, alpha_in)
        if not ll > -np.inf:
            break
        alpha_in = work.alpha[m - 1].copy()
    return ll, checkpoints


def _long_backward(emission, params, data, segs, work, missing, pi, A, checkpoints, weight, start, trans, each):
    """The backward pass of one long sequence from its last segment: each segment's emissions and forward
    vectors are recomputed from its checkpoint; each(chunk, frame, missing rows) receives its weighted
    posteriors."""
    K = pi.shape[0]
    beta = np.ones(K)
    beta_out = np.empty(K)
    for i in range(len(segs) - 1, -1, -1):
        c = segs[i]
        frame, miss = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
        m = c.row_hi - c.row_lo
        hk.segment_forward(frame, work.alpha, work.scale, 0, m, pi, A, i > 0, checkpoints[i])
        hk.segment_backward(frame, work.alpha, work.scale, 0, m, A, i > 0, checkpoints[i], beta, weight, start, trans,
                            beta_out)
        beta = beta_out.copy()
        each(c, frame, miss)


def statistics(emission, params, data, seqs, chunks, max_rows, missing=None, work=None):
    """Baum–Welch statistics (HMMStats) of every sequence under ``params``."""
    K = params.startprob.shape[0]
    work = Work.reuse(work, max_rows, K, int(seqs.bounds[-1]))
    start = np.zeros(K)
    trans = np.zeros((K, K))
    est = None
    ll_total = 0.0
    pi = np.ascontiguousarray(params.startprob, dtype=np.float64)
    A = np.ascontiguousarray(params.transmat, dtype=np.float64)

    def add(e):
        nonlocal est
        est = e if est is None else est + e

    for run in _long_runs(chunks):
        if run[0] == "whole":
            c = run[1]
            frame, miss = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
            m = c.row_hi - c.row_lo
            ll, st, tr = hk.forward_backward_sequences(frame, work.alpha[:m], work.scale[:m], c.local_bounds,
                                                        seqs.weights[c.seq_lo:c.seq_hi], c.part_bounds,
                                                        c.part_seqs, pi, A, True)
            if not np.all(ll > -np.inf):
                raise _zero_sequence_error(seqs, c.seq_lo + int(np.argmin(ll > -np.inf)))
            ll_total += float(seqs.weights[c.seq_lo:c.seq_hi] @ ll)
            start += st.sum(axis=0)
            trans += tr.sum(axis=0)
            if miss is not None and miss.size:
                frame[miss] = 0.0
            add(emission.statistics(params.emission, data, c.row_lo, c.row_hi, frame))
            continue
        _, s, segs = run
        w = float(seqs.weights[s])
        ll, checkpoints = _long_forward(emission, params, data, segs, work, missing, pi, A)
        if not ll > -np.inf:
            raise _zero_sequence_error(seqs, s)
        ll_total += w * ll

        def fold(c, frame, miss):
            if miss is not None and miss.size:
                frame[miss] = 0.0
            add(emission.statistics(params.emission, data, c.row_lo, c.row_hi, frame))

        _long_backward(emission, params, data, segs, work, missing, pi, A, checkpoints, w, start, trans, fold)
    if est is None:
        est = emission.statistics(params.emission, data, 0, 0, np.empty((0, K)))
    return HMMStats(start, trans, est, ll_total, float(seqs.weights.sum()), int(seqs.bounds[-1]))


def score(emission, params, data, seqs, chunks, max_rows, missing=None, posteriors=None, work=None, out=None):
    """Per-sequence log-likelihoods (S,) (into ``out`` when given); with ``posteriors`` (n, K) given, the state
    posteriors too."""
    K = params.startprob.shape[0]
    work = Work.reuse(work, max_rows, K, int(seqs.bounds[-1]))
    if out is None:
        out = np.zeros(seqs.bounds.size - 1)
    else:
        out[:] = 0.0
    pi = np.ascontiguousarray(params.startprob, dtype=np.float64)
    A = np.ascontiguousarray(params.transmat, dtype=np.float64)
    want = posteriors is not None
    scratch_start = np.zeros(K)
    scratch_trans = np.zeros((K, K))
    for run in _long_runs(chunks):
        if run[0] == "whole":
            c = run[1]
            frame, _ = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
            m = c.row_hi - c.row_lo
            if want:
                ones = np.ones(c.seq_hi - c.seq_lo)
                ll, _, _ = hk.forward_backward_sequences(frame, work.alpha[:m], work.scale[:m], c.local_bounds, ones,
                                                          c.part_bounds, c.part_seqs, pi, A, True)
            else:
                ll = hk.loglik_sequences(frame, c.local_bounds, c.part_bounds, c.part_seqs, pi, A)
            out[c.seq_lo:c.seq_hi] = ll
            if want:
                posteriors[c.row_lo:c.row_hi] = frame
                bad = np.flatnonzero(~(ll > -np.inf))
                for b in bad:  # no path: no posterior (NaN), not a made-up one
                    posteriors[c.row_lo + c.local_bounds[b]:c.row_lo + c.local_bounds[b + 1]] = np.nan
            continue
        _, s, segs = run
        ll, checkpoints = _long_forward(emission, params, data, segs, work, missing, pi, A)
        out[s] = ll
        if not want:
            continue
        if not ll > -np.inf:
            posteriors[segs[0].row_lo:segs[-1].row_hi] = np.nan
            continue

        def keep(c, frame, miss):
            posteriors[c.row_lo:c.row_hi] = frame

        _long_backward(emission, params, data, segs, work, missing, pi, A, checkpoints, 1.0, scratch_start,
                       scratch_trans, keep)
    return out


def viterbi(emission, params, data, seqs, chunks, max_rows, missing=None, work=None):
    """(per-sequence best-path log-probabilities (S,), the state paths (n,) int64)."""
    K = params.startprob.shape[0]
    if K > np.iinfo(np.uint16).max:
        raise ValueError(f"Viterbi decoding supports up to {np.iinfo(np.uint16).max} states, got {K}")
    n = int(seqs.bounds[-1])
    work = Work.reuse(work, max_rows, K, n)
    path = np.zeros(n, dtype=np.int64)
    out = np.zeros(seqs.bounds.size - 1)
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.asarray(params.startprob, dtype=np.float64))
        log_A = np.ascontiguousarray(np.log(np.asarray(params.transmat, dtype=np.float64)))
    for run in _long_runs(chunks):
        if run[0] == "whole":
            c = run[1]
            frame, _ = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
            m = c.row_hi - c.row_lo
            if K <= 8:
                out[c.seq_lo:c.seq_hi] = hk.viterbi_sequences8(frame, work.back8(m), c.local_bounds, c.part_bounds,
                                                               c.part_seqs, log_pi, log_A, path[c.row_lo:c.row_hi])
            else:
                out[c.seq_lo:c.seq_hi] = hk.viterbi_sequences(frame, work.alpha[:m], c.local_bounds, c.part_bounds,
                                                              c.part_seqs, log_pi, log_A, path[c.row_lo:c.row_hi])
            continue
        # a long sequence: back-pointers for all of it (up to 8 states uint8, 8 bytes per step; else uint16,
        # 2 K bytes per step), frames per segment
        _, s, segs = run
        lo_all = segs[0].row_lo
        rows = segs[-1].row_hi - lo_all
        back = np.empty((rows, 8), dtype=np.uint8) if K <= 8 else np.empty((rows, K), dtype=np.uint16)
        delta = np.empty(K)
        if K <= 8:
            trans8 = np.full((8, 8), -np.inf)
            trans8[:K, :K] = log_A
            start2d = np.ascontiguousarray(log_pi).reshape(1, K)
        for i, c in enumerate(segs):
            frame, _ = _frame(emission, params.emission, data, c.row_lo, c.row_hi, work, missing)
            m = c.row_hi - c.row_lo
            back_c = back[c.row_lo - lo_all:c.row_hi - lo_all]
            if K <= 8:
                hk.viterbi_forward8(frame, 0, m, start2d, trans8, i > 0, delta, back_c)
            else:
                hk.viterbi_forward(frame, 0, m, log_pi, log_A, i > 0, delta, back_c, 0)
        out[s] = hk.viterbi_backtrack(delta, back, 0, rows, 0, path[lo_all:segs[-1].row_hi])
    return out, path
