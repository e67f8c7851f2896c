"""Hidden Markov model recursions: scaled forward-backward reduced into Baum–Welch statistics, Viterbi,
and state-path sampling.

The emission model enters only through ``frame`` (m, K): the per-state emission log-densities of a span of
rows (an all-missing step holds 0 = log 1). The recursions are Rabiner's scaled ones, in probabilities:

    b_t(k)   = exp(log p(x_t | k) - M_t),       M_t = max_k log p(x_t | k)
    a_t      = (a_{t-1} A  or  pi) * b_t,      c_t = sum_k a_t(k),   a_t /= c_t
    log p(x_1..T) = sum_t (log c_t + M_t)
    beta_T = 1,   beta_{t-1} = A (b_t * beta_t) / c_t
    gamma_t  = a_t * beta_t                     (sums to 1)
    xi_{t-1,t}(i, j) = a_{t-1}(i) A(i, j) b_t(j) beta_t(j) / c_t

so nothing underflows whatever T (every vector is renormalised at every step), and the cost per step is
one exp per state plus O(K^2). A *segment* is a span of one sequence: it may start the sequence (then the
start distribution is used) or continue it from a carried forward vector ``alpha_in``, and it may end the
sequence (beta = 1) or hand its backward vector to the segment before (``beta_in``). A long sequence is run
segment by segment with forward checkpoints, so memory is one segment, never T x K.

On return from the backward pass ``frame`` holds the weighted posteriors w * gamma_t (the emission
statistics' responsibilities), and the start and transition counts have been added to the accumulators.
Accumulators are per *part* over a fixed partition of the sequences (a function of the lengths only), so
results are bit-identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL
from ._fastmath import fast_exp
from .sampling import uniform_open


@njit(**SERIAL)
def segment_forward(frame, alpha, scale, lo, hi, startprob, transmat, has_in, alpha_in):
    """Forward pass over rows lo..hi-1 of ``frame`` (log-densities, turned into shifted probabilities
    b_t in place); alpha[t] the scaled forward vectors, scale[t] = c_t. Returns the segment's
    log-likelihood, or -inf at the first step with c_t = 0 (no state path can emit it).

    Every inner loop runs over the K states without branches (it vectorises): the prediction
    a_{t-1} A as K axpy's over A's rows, the exps with the branch-free ``fast_exp``."""
    K = startprob.shape[0]
    ll = 0.0
    # the scales' product, folded into ll by one log when it gets small: a log per step (a libm call) was a
    # fifth of a K = 8 step. c_t <= 1 (b_t <= 1, a_{t-1} A sums to 1), so the product only falls; a c_t below
    # 1e-50 goes straight into ll so that the product cannot underflow
    product = 1.0
    pred = np.empty(K)
    for t in range(lo, hi):
        f = frame[t]
        mx = f[0]
        for k in range(1, K):
            mx = max(mx, f[k])
        if not mx > -np.inf:
            return -np.inf
        for k in range(K):
            f[k] = fast_exp(f[k] - mx)
        if t == lo and not has_in:
            for k in range(K):
                pred[k] = startprob[k]
        else:
            prev = alpha_in if t == lo else alpha[t - 1]
            a0 = prev[0]
            row = transmat[0]
            for j in range(K):
                pred[j] = a0 * row[j]
            for i in range(1, K):
                ai = prev[i]
                row = transmat[i]
                for j in range(K):
                    pred[j] += ai * row[j]
        c = 0.0
        a = alpha[t]
        for k in range(K):
            v = pred[k] * f[k]
            a[k] = v
            c += v
        if not c > 0.0:
            return -np.inf
        inv = 1.0 / c
        for k in range(K):
            a[k] *= inv
        scale[t] = c
        ll += mx
        if c < 1e-50:
            ll += np.log(c)
        else:
            product *= c
            if product < 1e-250:
                ll += np.log(product)
                product = 1.0
    return ll + np.log(product)


@njit(**SERIAL)
def segment_backward(frame, alpha, scale, lo, hi, transmat, has_in, alpha_in, beta_in, weight, start_acc,
                     trans_acc, beta_out):
    """Backward pass over a segment whose forward pass has run: frame[t] becomes weight * gamma_t, the
    transition counts of every step inside the segment (and of the step entering it, when ``has_in``) go to
    trans_acc, the start counts to start_acc when the segment starts its sequence; beta_out receives the
    backward vector of the step before ``lo`` (for the previous segment of a long sequence)."""
    K = transmat.shape[0]
    beta = np.empty(K)
    bb = np.empty(K)
    for k in range(K):
        beta[k] = beta_in[k]
    for t in range(hi - 1, lo - 1, -1):
        f = frame[t]
        a = alpha[t]
        inv_c = 1.0 / scale[t]
        g = 0.0
        for k in range(K):
            bb[k] = f[k] * beta[k] * inv_c  # b_t * beta_t / c_t
            g += a[k] * beta[k]
        # gamma_t (renormalised against rounding), weighted
        gw = weight / g if g > 0.0 else 0.0
        for k in range(K):
            f[k] = a[k] * beta[k] * gw
        if t > lo or has_in:
            prev = alpha[t - 1] if t > lo else alpha_in
            for i in range(K):
                ai = prev[i] * weight
                row = transmat[i]
                acc = trans_acc[i]
                s = 0.0
                for j in range(K):
                    v = row[j] * bb[j]
                    acc[j] += ai * v
                    s += v
                beta[i] = s
        else:
            for k in range(K):
                start_acc[k] += f[k]
            for i in range(K):
                s = 0.0
                row = transmat[i]
                for j in range(K):
                    s += row[j] * bb[j]
                beta[i] = s
    for k in range(K):
        beta_out[k] = beta[k]


@njit(**SERIAL)
def sequence_loglik(frame, lo, hi, startprob, transmat):
    """log p(x_lo..x_hi-1) of one whole sequence by the scaled forward recursion of ``segment_forward``, for
    scoring: the frame is only read and the forward vector lives in a K-vector (nothing is stored per step:
    the per-step stores of alpha, the scales and the exponentiated frame are memory traffic a score does not
    need). Returns -inf where no state path can emit the sequence.

    The step repeats ``segment_forward``'s on purpose: one inlined helper for both (measured) took the 1,000 x
    1,000, K = 8 score from 29 to 41 ms."""
    K = startprob.shape[0]
    ll = 0.0
    product = 1.0  # the scales' product, folded into ll by one log when small (see segment_forward)
    prev = np.empty(K)
    pred = np.empty(K)
    b = np.empty(K)
    for t in range(lo, hi):
        f = frame[t]
        mx = f[0]
        for k in range(1, K):
            mx = max(mx, f[k])
        if not mx > -np.inf:
            return -np.inf
        for k in range(K):
            b[k] = fast_exp(f[k] - mx)
        if t == lo:
            for k in range(K):
                pred[k] = startprob[k]
        else:
            a0 = prev[0]
            row = transmat[0]
            for j in range(K):
                pred[j] = a0 * row[j]
            for i in range(1, K):
                ai = prev[i]
                row = transmat[i]
                for j in range(K):
                    pred[j] += ai * row[j]
        c = 0.0
        for k in range(K):
            v = pred[k] * b[k]
            prev[k] = v
            c += v
        if not c > 0.0:
            return -np.inf
        inv = 1.0 / c
        for k in range(K):
            prev[k] *= inv
        ll += mx
        if c < 1e-50:
            ll += np.log(c)
        else:
            product *= c
            if product < 1e-250:
                ll += np.log(product)
                product = 1.0
    return ll + np.log(product)


@njit(**PARALLEL)
def loglik_sequences(frame, bounds, part_bounds, part_seqs, startprob, transmat):
    """Per-sequence log-likelihoods (S,) of whole sequences (rows bounds[s]..bounds[s+1]-1 of the log-density
    ``frame``; not modified), parts of the fixed partition in parallel."""
    S = bounds.shape[0] - 1
    P = part_bounds.shape[0] - 1
    loglik = np.zeros(S)
    for p in prange(P):
        for q in range(part_bounds[p], part_bounds[p + 1]):
            s = part_seqs[q]
            if bounds[s + 1] > bounds[s]:
                loglik[s] = sequence_loglik(frame, bounds[s], bounds[s + 1], startprob, transmat)
    return loglik


@njit(**PARALLEL)
def forward_backward_sequences(frame, alpha, scale, bounds, weights, part_bounds, part_seqs, startprob,
                               transmat, backward):
    """Whole sequences: sequence s occupies rows bounds[s]..bounds[s+1]-1 of ``frame``/``alpha``/``scale``.
    Parts p = 0..P-1 (a fixed, length-balanced partition: part_seqs[part_bounds[p]:part_bounds[p+1]]) run
    in parallel. With ``backward`` the frame rows become the weighted posteriors and the counts accumulate.

    Returns the per-sequence log-likelihoods (S,), start counts (P, K) and transition counts (P, K, K)."""
    S = bounds.shape[0] - 1
    K = startprob.shape[0]
    P = part_bounds.shape[0] - 1
    loglik = np.zeros(S)
    start = np.zeros((P, K))
    trans = np.zeros((P, K, K))
    ones = np.ones(K)
    for p in prange(P):
        beta_out = np.empty(K)
        for q in range(part_bounds[p], part_bounds[p + 1]):
            s = part_seqs[q]
            lo = bounds[s]
            hi = bounds[s + 1]
            if hi == lo:
                continue
            ll = segment_forward(frame, alpha, scale, lo, hi, startprob, transmat, False, ones)
            loglik[s] = ll
            if backward and ll > -np.inf:
                segment_backward(frame, alpha, scale, lo, hi, transmat, False, ones, ones, weights[s], start[p],
                                 trans[p], beta_out)
    return loglik, start, trans


@njit(**SERIAL)
def viterbi_forward(frame, lo, hi, log_start, log_trans, has_in, delta, back, back_row0):
    """Max-product forward pass over rows lo..hi-1 of the log-density ``frame``: delta (K,) holds the
    carried best log-probabilities on entry when ``has_in`` (a continued segment) and the last step's on
    return; back[t - back_row0] (uint16, K) the best predecessors (the first maximiser, as a scan over i
    with a strict comparison finds it). The inner loop runs over the K target states with selects, so it
    vectorises."""
    K = log_start.shape[0]
    best = np.empty(K)
    arg = np.empty(K, dtype=np.int64)
    for t in range(lo, hi):
        f = frame[t]
        if t == lo and not has_in:
            for k in range(K):
                delta[k] = log_start[k] + f[k]
            continue
        d0 = delta[0]
        row = log_trans[0]
        for j in range(K):
            best[j] = d0 + row[j]
            arg[j] = 0
        for i in range(1, K):
            di = delta[i]
            row = log_trans[i]
            for j in range(K):
                v = di + row[j]
                better = v > best[j]
                best[j] = v if better else best[j]
                arg[j] = i if better else arg[j]
        bt = back[t - back_row0]
        for j in range(K):
            delta[j] = best[j] + f[j]
            bt[j] = arg[j]


@njit(inline="always", **SERIAL)
def _best_state(row):
    """(max, argmax) of a step's best log-probabilities; ties to the lowest state."""
    best = row[0]
    arg = 0
    for k in range(1, row.shape[0]):
        if row[k] > best:
            best = row[k]
            arg = k
    return best, arg


@njit(**SERIAL)
def viterbi_backtrack(delta, back, lo, hi, back_row0, path):
    """The best final state from delta, then the path back through back[lo+1..hi-1] into path[lo:hi];
    returns the best log-probability."""
    best, arg = _best_state(delta)
    path[hi - 1] = arg
    for t in range(hi - 1, lo, -1):
        arg = back[t - back_row0, arg]
        path[t - 1] = arg
    return best


@njit(**SERIAL)
def _viterbi_whole(frame, delta, lo, hi, log_start, log_trans, log_trans_t, path):
    """Viterbi over one whole sequence (rows lo..hi-1) keeping every step's best log-probabilities in
    delta (rows lo..hi-1) instead of back-pointers: the forward pass is then a branch-free max (it
    vectorises), and the backtrack recomputes one argmax of K sums per step, with the same arithmetic, so the
    path is the one back-pointers would give (ties to the lowest state).

    A K-state step is bound by its dependent chain of maxima: the candidates of even and odd predecessors go
    to two accumulators (a chain of K/2 instead of K), without the (K, K) scratch of a tree; the backtrack
    reads a row of A^T and selects without branches (the argmax's branches mispredicted)."""
    K = log_start.shape[0]
    d = delta[lo]
    f = frame[lo]
    for k in range(K):
        d[k] = log_start[k] + f[k]
    b0 = np.empty(K)
    b1 = np.empty(K)
    for t in range(lo + 1, hi):
        prev = delta[t - 1]
        d = delta[t]
        f = frame[t]
        a = prev[0]
        row = log_trans[0]
        for j in range(K):
            b0[j] = a + row[j]
            b1[j] = -np.inf
        for i in range(1, K - 1, 2):
            a = prev[i]
            c = prev[i + 1]
            row = log_trans[i]
            row2 = log_trans[i + 1]
            for j in range(K):
                b1[j] = max(b1[j], a + row[j])
                b0[j] = max(b0[j], c + row2[j])
        if K % 2 == 0:
            a = prev[K - 1]
            row = log_trans[K - 1]
            for j in range(K):
                b1[j] = max(b1[j], a + row[j])
        for j in range(K):
            d[j] = max(b0[j], b1[j]) + f[j]
    best, arg = _best_state(delta[hi - 1])
    path[hi - 1] = arg
    for t in range(hi - 1, lo, -1):
        prev = delta[t - 1]
        col = log_trans_t[arg]
        bv = prev[0] + col[0]
        bi = 0
        for i in range(1, K):
            v = prev[i] + col[i]
            better = v > bv
            bv = v if better else bv
            bi = i if better else bi
        arg = bi
        path[t - 1] = arg
    return best


@njit(inline="always", **SERIAL)
def _max8(a0, a1, a2, a3, a4, a5, a6, a7):
    """The largest of eight values as a tree (depth 3: independent maxima overlap), not a chain of 7."""
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@njit(inline="always", **SERIAL)
def _forward_step8(p0, p1, p2, p3, p4, p5, p6, p7, f, d, trans8, Km):
    """One max-product step for up to 8 states (padded states -inf): the new best log-probabilities,
    stored into d (state 7 down to 0, so padded ones land on d[K - 1] before the real one)."""
    q0 = _max8(p0 + trans8[0, 0], p1 + trans8[1, 0], p2 + trans8[2, 0], p3 + trans8[3, 0],
               p4 + trans8[4, 0], p5 + trans8[5, 0], p6 + trans8[6, 0], p7 + trans8[7, 0]) + f[min(0, Km)]
    q1 = _max8(p0 + trans8[0, 1], p1 + trans8[1, 1], p2 + trans8[2, 1], p3 + trans8[3, 1],
               p4 + trans8[4, 1], p5 + trans8[5, 1], p6 + trans8[6, 1], p7 + trans8[7, 1]) + f[min(1, Km)]
    q2 = _max8(p0 + trans8[0, 2], p1 + trans8[1, 2], p2 + trans8[2, 2], p3 + trans8[3, 2],
               p4 + trans8[4, 2], p5 + trans8[5, 2], p6 + trans8[6, 2], p7 + trans8[7, 2]) + f[min(2, Km)]
    q3 = _max8(p0 + trans8[0, 3], p1 + trans8[1, 3], p2 + trans8[2, 3], p3 + trans8[3, 3],
               p4 + trans8[4, 3], p5 + trans8[5, 3], p6 + trans8[6, 3], p7 + trans8[7, 3]) + f[min(3, Km)]
    q4 = _max8(p0 + trans8[0, 4], p1 + trans8[1, 4], p2 + trans8[2, 4], p3 + trans8[3, 4],
               p4 + trans8[4, 4], p5 + trans8[5, 4], p6 + trans8[6, 4], p7 + trans8[7, 4]) + f[min(4, Km)]
    q5 = _max8(p0 + trans8[0, 5], p1 + trans8[1, 5], p2 + trans8[2, 5], p3 + trans8[3, 5],
               p4 + trans8[4, 5], p5 + trans8[5, 5], p6 + trans8[6, 5], p7 + trans8[7, 5]) + f[min(5, Km)]
    q6 = _max8(p0 + trans8[0, 6], p1 + trans8[1, 6], p2 + trans8[2, 6], p3 + trans8[3, 6],
               p4 + trans8[4, 6], p5 + trans8[5, 6], p6 + trans8[6, 6], p7 + trans8[7, 6]) + f[min(6, Km)]
    q7 = _max8(p0 + trans8[0, 7], p1 + trans8[1, 7], p2 + trans8[2, 7], p3 + trans8[3, 7],
               p4 + trans8[4, 7], p5 + trans8[5, 7], p6 + trans8[6, 7], p7 + trans8[7, 7]) + f[min(7, Km)]
    d[min(7, Km)] = q7
    d[min(6, Km)] = q6
    d[min(5, Km)] = q5
    d[min(4, Km)] = q4
    d[min(3, Km)] = q3
    d[min(2, Km)] = q2
    d[min(1, Km)] = q1
    d[min(0, Km)] = q0
    return q0, q1, q2, q3, q4, q5, q6, q7


@njit(inline="always", **SERIAL)
def _back_step8(prev, col, Km):
    """The best predecessor: argmax_i prev[i] + col[i] over up to 8 states as a tree of strict comparisons
    (ties to the lowest state, as a scan finds them)."""
    v0 = prev[min(0, Km)] + col[0]
    v1 = prev[min(1, Km)] + col[1]
    v2 = prev[min(2, Km)] + col[2]
    v3 = prev[min(3, Km)] + col[3]
    v4 = prev[min(4, Km)] + col[4]
    v5 = prev[min(5, Km)] + col[5]
    v6 = prev[min(6, Km)] + col[6]
    v7 = prev[min(7, Km)] + col[7]
    u01 = v1 > v0
    m01 = v1 if u01 else v0
    i01 = 1 if u01 else 0
    u23 = v3 > v2
    m23 = v3 if u23 else v2
    i23 = 3 if u23 else 2
    u45 = v5 > v4
    m45 = v5 if u45 else v4
    i45 = 5 if u45 else 4
    u67 = v7 > v6
    m67 = v7 if u67 else v6
    i67 = 7 if u67 else 6
    u03 = m23 > m01
    m03 = m23 if u03 else m01
    i03 = i23 if u03 else i01
    u47 = m67 > m45
    m47 = m67 if u47 else m45
    i47 = i67 if u47 else i45
    return i47 if m47 > m03 else i03


@njit(**SERIAL)
def _viterbi_part8(frame, delta, bounds, seqs, log_start, trans8, trans8_t, path, out):
    """``_viterbi_whole`` of the sequences ``seqs`` (in order) for up to 8 states, software-pipelined: the
    forward pass of one sequence runs in the same loop as the backtrack of the one before, so the
    backtrack's dependent chain (load, add, compare) overlaps the forward's independent arithmetic.
    Per sequence the arithmetic is ``_viterbi_whole``'s (max is exact; ties to the lowest state), so the
    paths and log-probabilities are the same. out[s]: sequence s's best log-probability."""
    K = log_start.shape[0]
    Km = K - 1
    Q = seqs.shape[0]
    b_lo = 0  # the pending backtrack: the previous sequence, from row b_lo, next step at row tb
    tb = 0
    arg = 0
    for q in range(Q + 1):
        f_lo = f_hi = 0
        tf = 0
        p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = -np.inf
        if q < Q:
            s = seqs[q]
            f_lo = bounds[s]
            f_hi = bounds[s + 1]
            if f_hi > f_lo:
                f = frame[f_lo]
                d = delta[f_lo]
                p0 = log_start[0] + f[0]
                p1 = log_start[1] + f[1] if 1 < K else -np.inf  # padded: never on a path
                p2 = log_start[2] + f[2] if 2 < K else -np.inf
                p3 = log_start[3] + f[3] if 3 < K else -np.inf
                p4 = log_start[4] + f[4] if 4 < K else -np.inf
                p5 = log_start[5] + f[5] if 5 < K else -np.inf
                p6 = log_start[6] + f[6] if 6 < K else -np.inf
                p7 = log_start[7] + f[7] if 7 < K else -np.inf
                for k in range(K):
                    d[k] = log_start[k] + f[k]
            tf = f_lo + 1
        # both passes side by side while both have steps, then whichever is left (one loop, so each step's
        # code is compiled once: the branches are taken the same way for long runs)
        while tf < f_hi or tb > b_lo:
            if tf < f_hi:
                p0, p1, p2, p3, p4, p5, p6, p7 = _forward_step8(p0, p1, p2, p3, p4, p5, p6, p7, frame[tf],
                                                                delta[tf], trans8, Km)
                tf += 1
            if tb > b_lo:
                arg = _back_step8(delta[tb - 1], trans8_t[arg], Km)
                path[tb - 1] = arg
                tb -= 1
        # this sequence's backtrack starts: its best final state
        if q < Q and f_hi > f_lo:
            best, arg = _best_state(delta[f_hi - 1])
            path[f_hi - 1] = arg
            out[seqs[q]] = best
            b_lo = f_lo
            tb = f_hi - 1
        else:
            b_lo = tb = 0


@njit(**PARALLEL)
def viterbi_sequences(frame, delta, bounds, part_bounds, part_seqs, log_start, log_trans, path):
    """The Viterbi path (into ``path``) and its log-probability (returned, per sequence) of every sequence
    (rows bounds[s]..bounds[s+1]-1 of the log-density ``frame``; delta: same-shaped scratch), parts in
    parallel."""
    S = bounds.shape[0] - 1
    P = part_bounds.shape[0] - 1
    K = log_start.shape[0]
    out = np.zeros(S)
    log_trans_t = np.ascontiguousarray(log_trans.T)
    trans8 = np.full((8, 8), -np.inf)  # up to 8 states: log A padded with -inf (see _viterbi_part8)
    if K <= 8:
        trans8[:K, :K] = log_trans
    trans8_t = np.ascontiguousarray(trans8.T)
    if K <= 8:
        # four parts per work item, so the pipelined kernel has sequences to overlap (paths do not depend on
        # the grouping: any is as deterministic)
        G = (P + 3) // 4
        for g in prange(G):
            q_lo = part_bounds[4 * g]
            q_hi = part_bounds[min(P, 4 * g + 4)]
            _viterbi_part8(frame, delta, bounds, part_seqs[q_lo:q_hi], log_start, trans8, trans8_t, path, out)
        return out
    for p in prange(P):
        for q in range(part_bounds[p], part_bounds[p + 1]):
            s = part_seqs[q]
            if bounds[s + 1] > bounds[s]:
                out[s] = _viterbi_whole(frame, delta, bounds[s], bounds[s + 1], log_start, log_trans, log_trans_t,
                                        path)
    return out


@njit(**PARALLEL)
def sample_states(key, bounds, cum_start, cum_trans, first_state, states):
    """State paths of sequences (rows bounds[s]..bounds[s+1]-1), sequences in parallel: step t of the whole
    output draws from word t of stream ``key`` (inverse CDF), so a path depends only on (key, row), never on
    the thread count. first_state[s] >= 0 fixes the first state of sequence s (hmmlearn's ``currstate``)."""
    S = bounds.shape[0] - 1
    K = cum_start.shape[0]
    for s in prange(S):
        lo = bounds[s]
        hi = bounds[s + 1]
        prev = -1
        for t in range(lo, hi):
            if t == lo and first_state[s] >= 0:
                prev = first_state[s]
                states[t] = prev
                continue
            u = uniform_open(key, np.uint64(t)) - 1e-300
            cdf = cum_start if t == lo else cum_trans[prev]
            k = 0
            while k < K - 1 and cdf[k] < u:
                k += 1
            states[t] = k
            prev = k


@njit(**SERIAL)
def transition_counts(codes, bounds, weights, n_states, counts, start):
    """Fully observed Markov chains: counts[i, j] += w_s * #(x_t = i, x_{t+1} = j) within each sequence,
    start[i] += w_s * [x_first = i]. Returns the first row with a code outside 0..n_states-1, or -1."""
    S = bounds.shape[0] - 1
    for s in range(S):
        lo = bounds[s]
        hi = bounds[s + 1]
        w = weights[s]
        for t in range(lo, hi):
            c = codes[t]
            if c < 0 or c >= n_states:
                return t
            if t == lo:
                start[c] += w
            else:
                counts[codes[t - 1], c] += w
    return -1


@njit(**SERIAL)
def chain_log_likelihood(codes, bounds, log_start, log_trans, out):
    """out[s] = log p(x of sequence s) of a fully observed Markov chain. Returns the first bad row or -1."""
    S = bounds.shape[0] - 1
    K = log_start.shape[0]
    for s in range(S):
        lo = bounds[s]
        hi = bounds[s + 1]
        acc = 0.0
        for t in range(lo, hi):
            c = codes[t]
            if c < 0 or c >= K:
                return t
            acc += log_start[c] if t == lo else log_trans[codes[t - 1], c]
        out[s] = acc
    return -1
