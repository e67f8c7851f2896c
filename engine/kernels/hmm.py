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
from ._simd import max_plus_step8, vec8_add, vec8_fill, vec8_lane, vec8_load_at
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
def _transition_rows8(trans8):
    """The 8 rows of the padded (8, 8) log A as vector values (held in registers by the Viterbi loops)."""
    return (vec8_load_at(trans8, 0, 0, 8), vec8_load_at(trans8, 1, 0, 8), vec8_load_at(trans8, 2, 0, 8),
            vec8_load_at(trans8, 3, 0, 8), vec8_load_at(trans8, 4, 0, 8), vec8_load_at(trans8, 5, 0, 8),
            vec8_load_at(trans8, 6, 0, 8), vec8_load_at(trans8, 7, 0, 8))


@njit(**SERIAL)
def viterbi_forward8(frame, lo, hi, log_start, trans8, has_in, delta, back):
    """``viterbi_forward`` for up to 8 states with ``max_plus_step8``, over rows lo..hi-1 of ``frame``: uint8
    back-pointers in back[t] (8 per step, rows aligned with frame's); delta (K,) carried in (``has_in``) and
    out as there. log_start: (1, K); trans8: log A padded to (8, 8) with -inf."""
    K = log_start.shape[1]
    # the vector step reads frame rows of K and writes back rows of 8 without bounds checks
    if K > 8 or frame.shape[1] != K or back.shape[1] != 8 or back.shape[0] < hi or frame.shape[0] < hi or lo < 0:
        raise ValueError("viterbi_forward8: frame must be (rows, K <= 8) and back (rows, 8) covering lo..hi-1")
    if hi <= lo:
        return
    r0, r1, r2, r3, r4, r5, r6, r7 = _transition_rows8(trans8)
    t0 = lo
    if has_in:
        p = vec8_load_at(delta, 0, 0, K)
    else:
        p = vec8_add(vec8_load_at(log_start, 0, 0, K), vec8_load_at(frame, lo, 0, K))
        t0 = lo + 1
    for t in range(t0, hi):
        p = max_plus_step8(p, r0, r1, r2, r3, r4, r5, r6, r7, frame, t, K, back)
    for k in range(K):
        delta[k] = vec8_lane(p, k)


@njit(inline="always", **SERIAL)
def _best_lane(p, K):
    """(max, argmax) of lanes 0..K-1 of p; ties to the lowest state (as ``_best_state``)."""
    best = vec8_lane(p, 0)
    arg = 0
    for k in range(1, K):
        v = vec8_lane(p, k)
        if v > best:
            best = v
            arg = k
    return best, arg


@njit(inline="always", **SERIAL)
def _next_sequence(q, seqs, bounds, log_start, frame, path, out, p, f_lo, f_hi, minus_inf):
    """A lane of ``_viterbi_lanes8`` whose forward pass (of seqs[q - 2]) and backtrack (of the sequence
    before) are both done: the finished forward pass's best final state starts its backtrack, and seqs[q]
    (if any) starts its forward pass. Returns the lane's new (f_lo, f_hi, next forward row, backtrack low
    row, next backtrack row, backtrack state, best log-probabilities)."""
    K = log_start.shape[1]
    b_lo = tb = arg = 0
    if f_hi > f_lo:
        best, arg = _best_lane(p, K)
        path[f_hi - 1] = arg
        out[seqs[q - 2]] = best
        b_lo = f_lo
        tb = f_hi - 1
    n_lo = n_hi = 0
    n_p = minus_inf
    if q < seqs.shape[0]:
        s = seqs[q]
        n_lo = bounds[s]
        n_hi = bounds[s + 1]
        if n_hi > n_lo:
            n_p = vec8_add(vec8_load_at(log_start, 0, 0, K), vec8_load_at(frame, n_lo, 0, K))
    return n_lo, n_hi, n_lo + 1, b_lo, tb, arg, n_p


@njit(**SERIAL)
def _viterbi_lanes8(frame, back, bounds, seqs, log_start, trans8, path, out):
    """Viterbi over the sequences ``seqs`` for up to 8 states, with back-pointers (``back``, uint8 (m, 8)).

    A step is ``max_plus_step8``: the 8 best log-probabilities are one vector value and the 8 x 8 maxima
    are vector adds and a depth-3 tree, ~40 instructions instead of ~136 scalar ones. One step's chain
    (broadcast, add, three compare-selects, add) is latency-bound, so two *lanes* run side by side, each
    its own sequences (seqs[0], seqs[2], ... and seqs[1], seqs[3], ...), and each lane's backtrack of one
    sequence (a chain of uint8 loads) runs in the same loop as its forward pass of the next. The
    arithmetic per step is ``_viterbi_whole``'s (max is exact; ties to the lowest state), so paths and
    log-probabilities are the same as that kernel's and the NumPy twin's. out[s]: sequence s's best
    log-probability. log_start: (1, K); trans8: log A padded to (8, 8) with -inf."""
    Q = seqs.shape[0]
    r0, r1, r2, r3, r4, r5, r6, r7 = _transition_rows8(trans8)
    minus_inf = vec8_fill(-np.inf)
    K = log_start.shape[1]
    # lane a: forward over rows ta..a_hi-1 of one sequence, backtrack down rows tab..ab_lo+1 of the one before
    a_lo, a_hi, ta, ab_lo, tab, arg_a, pa = _next_sequence(0, seqs, bounds, log_start, frame, path, out,
                                                           minus_inf, 0, 0, minus_inf)
    b_lo, b_hi, tb, bb_lo, tbb, arg_b, pb = _next_sequence(1, seqs, bounds, log_start, frame, path, out,
                                                           minus_inf, 0, 0, minus_inf)
    qa = 2
    qb = 3
    while qa < Q + 2 or qb < Q + 2 or ta < a_hi or tab > ab_lo or tb < b_hi or tbb > bb_lo:
        while True:
            if ta < a_hi:
                pa = max_plus_step8(pa, r0, r1, r2, r3, r4, r5, r6, r7, frame, ta, K, back)
                ta += 1
            if tb < b_hi:
                pb = max_plus_step8(pb, r0, r1, r2, r3, r4, r5, r6, r7, frame, tb, K, back)
                tb += 1
            if tab > ab_lo:
                arg_a = back[tab, arg_a]
                path[tab - 1] = arg_a
                tab -= 1
            if tbb > bb_lo:
                arg_b = back[tbb, arg_b]
                path[tbb - 1] = arg_b
                tbb -= 1
            if (ta >= a_hi and tab <= ab_lo) or (tb >= b_hi and tbb <= bb_lo):
                break
        if ta >= a_hi and tab <= ab_lo and qa < Q + 2:
            a_lo, a_hi, ta, ab_lo, tab, arg_a, pa = _next_sequence(qa, seqs, bounds, log_start, frame, path, out,
                                                                   pa, a_lo, a_hi, minus_inf)
            qa += 2
        if tb >= b_hi and tbb <= bb_lo and qb < Q + 2:
            b_lo, b_hi, tb, bb_lo, tbb, arg_b, pb = _next_sequence(qb, seqs, bounds, log_start, frame, path, out,
                                                                   pb, b_lo, b_hi, minus_inf)
            qb += 2


@njit(**PARALLEL)
def viterbi_sequences8(frame, back, bounds, part_bounds, part_seqs, log_start, log_trans, path):
    """``viterbi_sequences`` for up to 8 states (``_viterbi_lanes8``); back: uint8 scratch (rows, 8)."""
    S = bounds.shape[0] - 1
    P = part_bounds.shape[0] - 1
    K = log_start.shape[0]
    # the vector step reads frame rows of K and writes back rows of 8 without bounds checks
    if K > 8 or frame.shape[1] != K or back.shape[1] != 8 or back.shape[0] < frame.shape[0] or bounds[S] > frame.shape[0]:
        raise ValueError("viterbi_sequences8: frame must be (rows, K <= 8) and back (rows, 8), rows >= bounds[-1]")
    out = np.zeros(S)
    trans8 = np.full((8, 8), -np.inf)  # log A padded with -inf: a padded state is never on a path
    trans8[:K, :K] = log_trans
    start2d = np.ascontiguousarray(log_start).reshape(1, K)
    # four parts per work item, so both lanes have sequences (paths do not depend on the grouping)
    G = (P + 3) // 4
    for g in prange(G):
        q_lo = part_bounds[4 * g]
        q_hi = part_bounds[min(P, 4 * g + 4)]
        _viterbi_lanes8(frame, back, bounds, part_seqs[q_lo:q_hi], start2d, trans8, path, out)
    return out


@njit(**PARALLEL)
def viterbi_sequences(frame, delta, bounds, part_bounds, part_seqs, log_start, log_trans, path):
    """The Viterbi path (into ``path``) and its log-probability (returned, per sequence) of every sequence
    (rows bounds[s]..bounds[s+1]-1 of the log-density ``frame``; delta: same-shaped scratch), parts in
    parallel. Up to 8 states, ``viterbi_sequences8`` is faster."""
    S = bounds.shape[0] - 1
    P = part_bounds.shape[0] - 1
    out = np.zeros(S)
    log_trans_t = np.ascontiguousarray(log_trans.T)
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
