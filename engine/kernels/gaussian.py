"""Log-density of Gaussian mixtures (and so of single multivariate normals, K = 1).

One generic kernel serves all four covariance types through the precision-Cholesky parametrisation
(scikit-learn's ``precisions_cholesky_``): component k's log-density at x is

    log_norm[k] - 0.5 * || x @ U_k - shifted_means[k] ||^2,   shifted_means[k] = mean_k @ U_k,

with log_norm[k] = log w_k + log det U_k - D/2 log(2 pi). The factor U comes in two layouts:

* dense, shape (P, D, D) upper triangular, P = K ("full") or P = 1 ("tied": x @ U is computed once per
  point and shared by every component);
* diagonal, shape (K, D) ("diag"; "spherical" is passed as a (K, D) broadcast of its K scales).

Points are processed in blocks of ``BLOCK``: the block is transposed into a (D, BLOCK) float64 scratch so
every inner loop runs over contiguous points and vectorises; the K component terms of the block live in a
(K, BLOCK) thread-local scratch, never in an n x K array. The log-sum-exp uses the vectorised exp.
"""
import numpy as np
from numba import njit, prange

from ._blocklinalg import upper_triangular_map
from ._config import BLOCK, CHUNK, PARALLEL, SERIAL
from ._simd import (WIDE, vec8_add, vec8_columns8, vec8_exp_diff, vec8_fill, vec8_finite_or_zero, vec8_lane,
                    vec8_load_at, vec8_log_plus, vec8_max, vec8_nonfinite, vec8_quad_term8, vec8_quad_terms8x2,
                    vec8_recip_or_zero, vec8_rows8, vec8_store_at)
from .transforms import apply_block


@njit(inline="always", **SERIAL)
def load_block(X, start, m, xt):
    """xt[:, :m] = X[start:start+m].T as float64; returns the first non-finite row in the block or -1."""
    D = X.shape[1]
    # index a view from 0: with start + b, Numba's negative-index wraparound keeps LLVM from vectorising
    Xb = X[start:start + m]
    poison = 0.0
    # one coordinate at a time: strided reads of the block (in L1 after the first row) and contiguous
    # writes vectorise; point by point, the D writes per point scatter over D rows (measured 2.3x slower)
    for j in range(D):
        row = xt[j]
        for b in range(m):
            v = np.float64(Xb[b, j])
            row[b] = v
            poison += v * 0.0  # NaN iff some v is NaN or +-inf; branch-free so the copy vectorises
    if poison == poison:
        return -1
    return first_nonfinite_row(X, start, start + m)


@njit(inline="always", **SERIAL)
def first_nonfinite_row(X, lo, hi):
    """The first row in lo..hi-1 of X holding NaN or +-inf, or -1 (the slow path once a branch-free
    check has seen one)."""
    for b in range(lo, hi):
        for j in range(X.shape[1]):
            if not np.isfinite(X[b, j]):
                return b
    return -1


@njit(inline="always", **SERIAL)
def _sum_sq4(out, m, first, x0, x1, x2, x3, s0, s1, s2, s3, c0, c1, c2, c3):
    """out[:m] (= if first, else +=) sum_t (x_t * s_t - c_t)**2 over four rows: one load and store of the
    running sum per four terms (rows past the end come with s = c = 0)."""
    if first:
        for b in range(m):
            d0 = x0[b] * s0 - c0
            d1 = x1[b] * s1 - c1
            d2 = x2[b] * s2 - c2
            d3 = x3[b] * s3 - c3
            out[b] = (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
    else:
        for b in range(m):
            d0 = x0[b] * s0 - c0
            d1 = x1[b] * s1 - c1
            d2 = x2[b] * s2 - c2
            d3 = x3[b] * s3 - c3
            out[b] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)


@njit(**SERIAL)  # not inlined: ``prec_chol.ndim`` is pruned at compile time only on a function's own args
def component_terms(xt, m, prec_chol, shifted_means, log_norm, terms, y):
    """terms[k, :m] = log(w_k N(x_b | component k)) for the m points held in xt (D, BLOCK).

    Inner loops run over the block's points and take four coordinates per pass, so each component's
    running sum is loaded and stored once per four terms.
    """
    D = xt.shape[0]
    K = shifted_means.shape[0]
    dense = prec_chol.ndim == 3
    if dense:
        P = prec_chol.shape[0]
    else:
        P = K
    if WIDE and dense and P == K and D == 8 and xt.shape[1] >= m + (-m) % 8 and terms.shape[1] >= m:
        # eight coordinates: the 8 points of a vector in registers, each component's quadratic form a chain
        # of 44 FMAs on 8-lane vectors (no y scratch); the padding columns of xt past m are computed and
        # never stored. Only with AVX-512: the 8 live vectors need 8 of its 32 registers, and split in two
        # on AVX2 they take all 16 (measured slower than the tiled loops there)
        for b0 in range(0, m, 8):
            n = min(8, m - b0)
            xs = vec8_columns8(xt, b0)
            for k in range(K):
                vec8_store_at(terms, k, b0, n, vec8_quad_term8(xs, prec_chol[k], shifted_means[k], log_norm[k]))
        return
    for p in range(P):
        if dense:
            # y = x @ U_p (U_p upper triangular: y_j = sum_{i <= j} x_i U[i, j])
            upper_triangular_map(prec_chol[p], shifted_means[0], False, xt, y, 0, m)  # no bias (the row: D long)
            k_lo, k_hi = (p, p + 1) if P == K else (0, K)
            src = y
        else:
            k_lo, k_hi = p, p + 1
            src = xt
        for k in range(k_lo, k_hi):
            tk = terms[k]
            for j0 in range(0, D, 4):
                # scales: U's diagonal for diag/spherical, 1 for the already-transformed y of full/tied
                s0 = 1.0 if dense else prec_chol[k, j0]
                s1 = 0.0 if j0 + 1 >= D else (1.0 if dense else prec_chol[k, j0 + 1])
                s2 = 0.0 if j0 + 2 >= D else (1.0 if dense else prec_chol[k, j0 + 2])
                s3 = 0.0 if j0 + 3 >= D else (1.0 if dense else prec_chol[k, j0 + 3])
                c0 = shifted_means[k, j0]
                c1 = shifted_means[k, j0 + 1] if j0 + 1 < D else 0.0
                c2 = shifted_means[k, j0 + 2] if j0 + 2 < D else 0.0
                c3 = shifted_means[k, j0 + 3] if j0 + 3 < D else 0.0
                _sum_sq4(tk, m, j0 == 0, src[j0], src[min(j0 + 1, D - 1)], src[min(j0 + 2, D - 1)],
                         src[min(j0 + 3, D - 1)], s0, s1, s2, s3, c0, c1, c2, c3)
            lk = log_norm[k]
            for b in range(m):
                tk[b] = lk - 0.5 * tk[b]


@njit(inline="always", **SERIAL)
def logsumexp_block(terms, m, mx, acc, keep_exp):
    """acc[:m] = log sum_k exp(terms[k, :m]) (-inf where every term is -inf); mx: scratch.

    With ``keep_exp`` the exps are kept for the responsibilities, which then cost a multiply instead of
    a second exp: terms[k, b] becomes exp(terms[k, b] - max_b) and mx[b] the normaliser, so that
    p(k | x_b) = terms[k, b] * mx[b] (0 for a point whose every term is -inf).

    Eight points at a time as one vector value (``_simd``): the max over components, the K exps (the
    ``_fastmath`` exp, lane-wise) and the log of their sum stay in registers; only the exps that are kept
    go back to memory.
    """
    K = terms.shape[0]
    for b0 in range(0, m, 8):
        n = min(8, m - b0)
        top = vec8_load_at(terms, 0, b0, n)
        for k in range(1, K):
            top = vec8_max(vec8_load_at(terms, k, b0, n), top)
        lse, total = _logsumexp_lanes(terms, b0, n, top, keep_exp)
        vec8_store_at(acc, 0, b0, n, lse)
        if keep_exp:
            vec8_store_at(mx, 0, b0, n, vec8_recip_or_zero(total))


@njit(inline="always", **SERIAL)
def _logsumexp_lanes(terms, b0, n, top, keep_exp):
    """(log sum_k exp(terms[k, b0:b0+8]), sum_k exp(terms[k, b0:b0+8] - shift)) as vector values, given
    ``top``, the max over k; with ``keep_exp`` the exps replace the terms. n: the valid lanes."""
    # a point whose every term is -inf: shift by 0 (not -inf, which would give -inf - -inf = nan)
    shift = vec8_finite_or_zero(top)
    total = vec8_fill(0.0)
    for k in range(terms.shape[0]):
        e = vec8_exp_diff(vec8_load_at(terms, k, b0, n), shift)
        if keep_exp:
            vec8_store_at(terms, k, b0, n, e)
        total = vec8_add(total, e)
    return vec8_log_plus(shift, total), total


@njit(inline="always", **SERIAL)
def first_bad_row(bad):
    """The first entry >= 0 of the per-part first-bad-row array (parts are in row order), or -1."""
    for p in range(bad.shape[0]):
        if bad[p] >= 0:
            return bad[p]
    return -1


@njit(inline="always", **SERIAL)
def _score_block(xt, m, prec_chol, shifted_means, log_norm, terms, y, mx, acc, ld, out, resp, start, want_resp):
    """out[start:start+m] = the log-density of the block held in xt (D, BLOCK) plus ld[:m]; the
    responsibilities into resp's rows too when ``want_resp``."""
    K = shifted_means.shape[0]
    component_terms(xt, m, prec_chol, shifted_means, log_norm, terms, y)
    out_b = out[start:start + m]
    if K == 1 and not want_resp:
        for b in range(m):
            out_b[b] = terms[0, b] + ld[b]
        return
    logsumexp_block(terms, m, mx, acc, want_resp)
    for b in range(m):
        out_b[b] = acc[b] + ld[b]
    if want_resp:
        resp_b = resp[start:start + m]
        for k in range(K):
            for b in range(m):
                resp_b[b, k] = terms[k, b] * mx[b]


@njit(inline="always", **SERIAL)
def rows8_terms(X, row, n_rows, prec_chol, shifted_means, log_norm, terms, col):
    """The K quadratic-form terms of the points X[row:row + min(n_rows, 16)] into terms[:, col:col + 16] for
    D <= 8 full (prec_chol (K, 8, 8)) or diagonal (K, 8) factors (zero-padded past D). Up to 8 points are
    one group, computed twice into both halves (one code path for both, which compiles faster, at the
    price of a chunk's last odd group); lanes past n_rows hold the terms of x = 0 (nothing is read for
    them). Returns (xs, xs_b, top, top_b): the two groups as coordinate vectors (``vec8_rows8``) and the
    per-lane max of their terms. A pair shares each factor entry's load between its groups' FMAs: one
    group alone pays a load per FMA, and the two load ports bound it."""
    K = shifted_means.shape[0]
    xs = vec8_rows8(X, row, n_rows)
    xs_b = vec8_rows8(X, row + 8, n_rows - 8) if n_rows > 8 else xs
    top = vec8_fill(-np.inf)
    top_b = top
    for k in range(K):
        t, t_b = vec8_quad_terms8x2(xs, xs_b, prec_chol[k], shifted_means[k], log_norm[k])
        vec8_store_at(terms, k, col, 8, t)
        vec8_store_at(terms, k, col + 8, 8, t_b)
        top = vec8_max(t, top)  # the max comes with the terms here, not from a second pass
        top_b = vec8_max(t_b, top_b)
    return xs, xs_b, top, top_b


@njit(**SERIAL)
def _log_density_rows8(X, lo, hi, prec_chol, shifted_means, log_norm, terms, lse8, out, resp, want_resp):
    """out[lo:hi] = log p(X[lo:hi]) for D <= 8 full or diagonal covariances straight from X's rows, and with
    ``want_resp`` the responsibilities into resp[lo:hi]: each pair of groups of 8 points is transposed in
    registers (``rows8_terms``: no block scratch, no second pass; the last group may be short, its missing
    rows not read), then its K quadratic forms and the log-sum-exp, as ``component_terms`` +
    ``logsumexp_block`` do (``_logsumexp_lanes``; the exps kept for the responsibilities, p(k | x) =
    exp(term_k - max) / sum, as the block path forms them). Every row takes the same lane arithmetic
    wherever it falls, so its values do not depend on how X was split into calls or chunks, nor on whether
    the responsibilities were asked for. terms: (K, 16) and lse8: (32,) scratch. Returns the first row
    holding NaN/inf, or -1."""
    K = shifted_means.shape[0]
    poison = vec8_fill(0.0)
    for b0 in range(lo, hi, 16):
        n_rows = min(16, hi - b0)
        xs, xs_b, top, top_b = rows8_terms(X, b0, n_rows, prec_chol, shifted_means, log_norm, terms, 0)
        poison = vec8_nonfinite(poison, xs)
        lse, total = _logsumexp_lanes(terms, 0, 8, top, want_resp)
        vec8_store_at(lse8, 0, 0, 8, lse)
        vec8_store_at(lse8, 0, 16, 8, vec8_recip_or_zero(total))
        if n_rows > 8:
            poison = vec8_nonfinite(poison, xs_b)
            lse, total = _logsumexp_lanes(terms, 8, 8, top_b, want_resp)
            vec8_store_at(lse8, 0, 8, 8, lse)
            vec8_store_at(lse8, 0, 24, 8, vec8_recip_or_zero(total))
        out_b = out[b0:b0 + n_rows]
        for i in range(n_rows):
            out_b[i] = lse8[i]
        if want_resp:
            resp_b = resp[b0:b0 + n_rows]
            for i in range(n_rows):
                scale = lse8[16 + i]
                for k in range(K):
                    resp_b[i, k] = terms[k, i] * scale
    bad = False
    for i in range(8):
        v = vec8_lane(poison, i)
        bad |= v != v
    return first_nonfinite_row(X, lo, hi) if bad else -1


@njit(**SERIAL)  # not inlined: ``prec_chol.ndim`` is pruned at compile time only on a function's own args
def _padded8(prec_chol, shifted_means):
    """(factors, shifted means) of D < 8 dimensions zero-padded to 8, for the rows-in-registers path: the
    padding coordinates (read as 0 by ``vec8_rows8``) then add (0 * 0 - 0)**2 = 0 to every form."""
    K, D = shifted_means.shape
    P = prec_chol.shape[0]
    # plain loops: slice assignments here added 4 s to the kernel's cold compile
    c8 = np.zeros((K, 8))
    for k in range(K):
        for j in range(D):
            c8[k, j] = shifted_means[k, j]
    if prec_chol.ndim == 3:
        U8 = np.zeros((P, 8, 8))
        for p in range(P):
            for i in range(D):
                for j in range(D):
                    U8[p, i, j] = prec_chol[p, i, j]
    else:
        U8 = np.zeros((P, 8))
        for p in range(P):
            for j in range(D):
                U8[p, j] = prec_chol[p, j]
    return U8, c8


@njit(**PARALLEL)
def mixture_log_density(X, prec_chol, shifted_means, log_norm, out, resp):
    """out[i] = log sum_k w_k N(X[i] | mean_k, cov_k), and, if resp has n rows, the responsibilities
    resp[i, k] = p(component k | X[i]) (an output the caller asked for; pass an empty (0, K) array to skip).

    X: (n, D) float32/float64; prec_chol: (P, D, D) or (K, D); shifted_means: (K, D); log_norm: (K,);
    out: (n,). Returns the first row of X holding NaN/inf, or -1 (then the outputs are complete).
    """
    n, D = X.shape
    K = shifted_means.shape[0]
    want_resp = resp.shape[0] > 0
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    # D = 8 full or diagonal covariances (not tied) on AVX-512, responsibilities too: groups of 8 rows
    # straight from X (see _log_density_rows8; a chunk's last n % 8 rows too, as a short group); every
    # other case takes the block path below. Diagonal scoring measured 14.2-17.4 -> 8.1-8.3 ms this way
    # (1M x 8, K = 16, in-process A/Bs in both orders: the block path's transpose, terms scratch and
    # second max pass cost more than its quadratic forms). D = 3-7 with K > 1 too, the factors and means
    # zero-padded to 8 (1M points, K = 16: D = 5 full 22.7-24.3 -> 11.8 ms, diag 12.7-14.6 -> 7.3; D = 3
    # full 15.3-16.6 -> 11.7-12.1). Not D <= 2 (padded to 8, full forms cost more than the block path's:
    # D = 1, K = 16 10.2-10.5 -> 11.7-11.9 ms) nor K = 1 (the block path skips the log-sum-exp: D = 1 0.53 ->
    # 1.79 ms)
    rows8 = (WIDE and (D == 8 or (3 <= D < 8 and K > 1)) and prec_chol.shape[0] == K
             and X.strides[1] == X.itemsize)
    U8, c8 = prec_chol, shifted_means
    if rows8 and D < 8:
        U8, c8 = _padded8(prec_chol, shifted_means)
    for c in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K, BLOCK))
        mx = np.empty(BLOCK)
        acc = np.empty(BLOCK)
        no_jacobian = np.zeros(BLOCK)
        c_start = c * CHUNK
        c_stop = min(n, (c + 1) * CHUNK)
        if rows8:
            r = _log_density_rows8(X, c_start, c_stop, U8, c8, log_norm, np.empty((K, 16)), np.empty(32), out, resp,
                                   want_resp)
            if r >= 0:
                bad[c] = r
            continue
        for start in range(c_start, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            r = load_block(X, start, m, xt)
            if r >= 0:
                bad[c] = r
                break
            _score_block(xt, m, prec_chol, shifted_means, log_norm, terms, y, mx, acc, no_jacobian, out, resp,
                         start, want_resp)
    return first_bad_row(bad)


@njit(**PARALLEL)
def transformed_mixture_log_density(X, prec_chol, shifted_means, log_norm, out, resp, codes, tparams,
                                    zero_density):
    """``mixture_log_density`` of a mixture that models T(x), for x: out[i] = log p_Y(T(X[i])) +
    log|det J_T(X[i])|, T applied to each block as it is loaded (no extra pass). codes (D, L), tparams
    (D, L, 2): the column-wise program (``kernels.transforms``). Returns the first row of X holding NaN/inf
    or a value outside T's domain, or -1. (A kernel of its own: the untransformed one does not compile
    the transforms' code, which doubled its cold compile time.)"""
    n, D = X.shape
    K = shifted_means.shape[0]
    want_resp = resp.shape[0] > 0
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K, BLOCK))
        mx = np.empty(BLOCK)
        acc = np.empty(BLOCK)
        ld = np.empty(BLOCK)
        ok = np.empty(BLOCK)
        c_stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            r = load_block(X, start, m, xt)
            if r < 0:
                r = apply_block(X, start, xt, m, codes, tparams, ld, ok, zero_density)
                r = r if r < 0 else start + r
            if r >= 0:
                bad[c] = r
                break
            _score_block(xt, m, prec_chol, shifted_means, log_norm, terms, y, mx, acc, ld, out, resp, start,
                         want_resp)
    return first_bad_row(bad)
