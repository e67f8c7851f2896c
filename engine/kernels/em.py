"""The fused E-step: one parallel pass computing the EM sufficient statistics of a data set.

For each point the K component terms and their log-sum-exp are formed in a (K, BLOCK) scratch (as in
``gaussian.mixture_log_density``); the responsibilities r_ik = exp(term_ik - lse_i) exist only for the
block, weighted by the sample weight, and are folded at once into thread-local accumulators:

    n_k  = sum_i w_i r_ik
    s1_k = sum_i w_i r_ik (x_i - c_k)
    s2_k = sum_i w_i r_ik (x_i - c_k)(x_i - c_k)^T      full:  (K, D, D)
         = sum_i w_i (x_i - c)(x_i - c)^T              tied:  (1, D, D)  (sum_k r_ik = 1)
         = sum_i w_i r_ik (x_i - c_k)**2               diag/spherical: (K, D)
    loglik = sum_i w_i lse_i

The shifts c_k are the current model's means (tied: one common shift), so the covariance update
s2/n - d d^T with d = s1/n is a small correction, without the cancellation of raw second moments. Memory
beyond the data is O(chunks * K * D^2), fixed per call; no n x K array exists.
"""
import numpy as np
from numba import njit, prange

from ._config import BLOCK, PARALLEL, SERIAL
from ._partition import part_count, part_rows
from ._simd import (DIAG_PART8, MOMENTS_PER_PART8, N_MOMENTS8, WIDE, vec8_add, vec8_fill, vec8_lane,
                    vec8_load_at, vec8_moments8_add, vec8_moments8_flush, vec8_moments8_zero, vec8_mul,
                    vec8_nonfinite, vec8_recip_or_zero, vec8_store_at, vec8_store_columns8)
from .gaussian import (_logsumexp_lanes, component_terms, first_bad_row, first_nonfinite_row, load_block,
                       logsumexp_block, rows8_terms)
from .sampling import uniform_open

#: rows per block of the D = 8 E-step (``_statistics_rows8``): its moment sums are flushed once per block and
#: component, and 256 rows measured 12% faster at K = 16 than 128 (512: slower, the scratch leaves L1/L2)
ROWS8_BLOCK = 256

#: how responsibilities are formed from the component terms
POSTERIOR, HARD, RANDOM = 0, 1, 2


@njit(inline="always", **SERIAL)
def _add_lower_products(rd, d, m, out):
    """out[i, j] += sum_b rd[i, b] * d[j, b] for j <= i (the lower triangle of a (D, D) scatter).

    4 x 4 tiles of (i, j): 16 running sums per pass over the block from 4 + 4 row loads, instead of two
    loads per product; the last D % 4 rows go one pair at a time.
    """
    D = d.shape[0]
    D4 = D - D % 4
    for i0 in range(0, D4, 4):
        r0 = rd[i0]
        r1 = rd[i0 + 1]
        r2 = rd[i0 + 2]
        r3 = rd[i0 + 3]
        for j0 in range(0, i0 + 1, 4):
            e0 = d[j0]
            e1 = d[j0 + 1]
            e2 = d[j0 + 2]
            e3 = d[j0 + 3]
            a00 = a01 = a02 = a03 = 0.0
            a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = 0.0
            a30 = a31 = a32 = a33 = 0.0
            for b in range(m):
                p0 = r0[b]
                p1 = r1[b]
                p2 = r2[b]
                p3 = r3[b]
                q0 = e0[b]
                q1 = e1[b]
                q2 = e2[b]
                q3 = e3[b]
                a00 += p0 * q0
                a01 += p0 * q1
                a02 += p0 * q2
                a03 += p0 * q3
                a10 += p1 * q0
                a11 += p1 * q1
                a12 += p1 * q2
                a13 += p1 * q3
                a20 += p2 * q0
                a21 += p2 * q1
                a22 += p2 * q2
                a23 += p2 * q3
                a30 += p3 * q0
                a31 += p3 * q1
                a32 += p3 * q2
                a33 += p3 * q3
            # on the diagonal tile only j <= i is kept (the upper part is never read)
            off_diagonal = j0 < i0
            out[i0, j0] += a00
            out[i0 + 1, j0] += a10
            out[i0 + 1, j0 + 1] += a11
            out[i0 + 2, j0] += a20
            out[i0 + 2, j0 + 1] += a21
            out[i0 + 2, j0 + 2] += a22
            out[i0 + 3, j0] += a30
            out[i0 + 3, j0 + 1] += a31
            out[i0 + 3, j0 + 2] += a32
            out[i0 + 3, j0 + 3] += a33
            if off_diagonal:
                out[i0, j0 + 1] += a01
                out[i0, j0 + 2] += a02
                out[i0, j0 + 3] += a03
                out[i0 + 1, j0 + 2] += a12
                out[i0 + 1, j0 + 3] += a13
                out[i0 + 2, j0 + 3] += a23
    for i in range(D4, D):
        ri = rd[i]
        for j in range(i + 1):
            dj = d[j]
            acc = 0.0
            for b in range(m):
                acc += ri[b] * dj[b]
            out[i, j] += acc


@njit(**SERIAL)
def _accumulate_block(xt, m, resp, shift, s1, s2, d, rd):
    """Fold one block into s1 (K, D) and s2 (layout by ndim/shape) given resp (K, BLOCK) (weighted)."""
    D = xt.shape[0]
    K = shift.shape[0]
    if s2.ndim == 2:
        # diagonal: both moments in one pass over the block, nothing stored; four components per pass, so
        # each coordinate row is loaded once per four (a missing fourth repeats the last, its sums dropped)
        for k0 in range(0, K, 4):
            k1 = min(k0 + 1, K - 1)
            k2 = min(k0 + 2, K - 1)
            k3 = min(k0 + 3, K - 1)
            r0 = resp[k0]
            r1 = resp[k1]
            r2 = resp[k2]
            r3 = resp[k3]
            for j in range(D):
                x = xt[j]
                c0 = shift[k0, j]
                c1 = shift[k1, j]
                c2 = shift[k2, j]
                c3 = shift[k3, j]
                a10 = a11 = a12 = a13 = 0.0
                a20 = a21 = a22 = a23 = 0.0
                for b in range(m):
                    xb = x[b]
                    v0 = xb - c0
                    v1 = xb - c1
                    v2 = xb - c2
                    v3 = xb - c3
                    rv0 = r0[b] * v0
                    rv1 = r1[b] * v1
                    rv2 = r2[b] * v2
                    rv3 = r3[b] * v3
                    a10 += rv0
                    a11 += rv1
                    a12 += rv2
                    a13 += rv3
                    a20 += rv0 * v0
                    a21 += rv1 * v1
                    a22 += rv2 * v2
                    a23 += rv3 * v3
                s1[k0, j] += a10
                s2[k0, j] += a20
                if k0 + 1 < K:
                    s1[k1, j] += a11
                    s2[k1, j] += a21
                if k0 + 2 < K:
                    s1[k2, j] += a12
                    s2[k2, j] += a22
                if k0 + 3 < K:
                    s1[k3, j] += a13
                    s2[k3, j] += a23
        return
    for k in range(K):
        for j in range(D):
            c = shift[k, j]
            acc = 0.0
            for b in range(m):
                v = xt[j, b] - c
                d[j, b] = v
                rd[j, b] = resp[k, b] * v
                acc += rd[j, b]
            s1[k, j] += acc
        if s2.shape[0] == K:
            _add_lower_products(rd, d, m, s2[k])
    if s2.shape[0] != K:
        # tied: responsibilities sum to 1, so the shared scatter needs only the sample weights (row K of resp)
        for j in range(D):
            c = shift[0, j]
            for b in range(m):
                d[j, b] = xt[j, b] - c
                rd[j, b] = resp[K, b] * d[j, b]
        _add_lower_products(rd, d, m, s2[0])


@njit(**SERIAL)
def _hard_or_random_resp(terms, m, mode, key, first_point):
    """Replace terms[:K, :m] by one-hot argmax (HARD: k-means assignment) or random normalised weights
    (RANDOM: point i's weights from words i*K .. i*K+K-1 of stream ``key``)."""
    K = terms.shape[0]
    for b in range(m):
        if mode == HARD:
            best = 0
            for k in range(1, K):
                if terms[k, b] > terms[best, b]:
                    best = k
            for k in range(K):
                terms[k, b] = 1.0 if k == best else 0.0
        else:
            tot = 0.0
            base = np.uint64(first_point + b) * np.uint64(K)
            for k in range(K):
                terms[k, b] = uniform_open(key, base + np.uint64(k))
                tot += terms[k, b]
            for k in range(K):
                terms[k, b] /= tot


@njit(**SERIAL)  # not inlined: ``prec_chol.ndim`` is pruned at compile time only on a function's own args
def _statistics_rows8(X, lo, hi, sample_weight, prec_chol, shifted_means, log_norm, shift, nk, s1, s2, terms, xt,
                      lanes):
    """The E-step of rows [lo, hi) ((hi - lo) a multiple of 8) for D = 8 full or diagonal covariances,
    straight from X's rows: nk (K,), s1 (K, 8) and s2's lower triangles (K, 8, 8), or its diagonals (K, 1, 8),
    gain the rows' sums; returns (log-likelihood, weight, first row holding NaN/inf or -1).

    Per block of up to ROWS8_BLOCK points: each group of 8 is transposed in registers (``vec8_rows8``) and
    kept coordinate-major in xt (8, ROWS8_BLOCK); its K quadratic forms (two groups per pass,
    ``rows8_terms``) and log-sum-exp run as in the scoring path, and terms (K, ROWS8_BLOCK) ends up holding
    the weighted responsibilities. Then, component by component, the
    block's moment sums (r, r d, r d d^T with d = x - shift[k]) run over the groups with the 45 sums held as
    vectors (lanes = points), added per block to lanes (K * 45, 8), which is reduced over its lanes at the
    end: the same sums as ``_accumulate_block``, in another (fixed) order. Diagonal factors: 17 sums
    (r, r d_j, r d_j**2) in one part."""
    K = shifted_means.shape[0]
    weighted = sample_weight.shape[0] > 0
    lanes[:] = 0.0
    poison = vec8_fill(0.0)
    ll = vec8_fill(0.0)
    wt = vec8_fill(0.0)
    for start in range(lo, hi, ROWS8_BLOCK):
        m = min(ROWS8_BLOCK, hi - start)
        for g0 in range(0, m, 16):
            pair = g0 + 16 <= m  # unpaired: m % 16 == 8, so m <= ROWS8_BLOCK - 8 and the repeat's columns fit
            xs, xs_b, top, top_b = rows8_terms(X, start + g0, 16 if pair else 8, prec_chol, shifted_means, log_norm,
                                               terms, g0)
            for half in range(2 if pair else 1):
                g = g0 + 8 * half
                xs_g = xs_b if half else xs
                poison = vec8_nonfinite(poison, xs_g)
                vec8_store_columns8(xt, g, xs_g)
                lse, total = _logsumexp_lanes(terms, g, 8, top_b if half else top, True)  # the exps stay in terms
                w = vec8_load_at(sample_weight, 0, start + g, 8) if weighted else vec8_fill(1.0)
                ll = vec8_add(ll, vec8_mul(w, lse))
                wt = vec8_add(wt, w)
                scale = vec8_mul(w, vec8_recip_or_zero(total))
                for k in range(K):
                    vec8_store_at(terms, k, g, 8, vec8_mul(vec8_load_at(terms, k, g, 8), scale))
        for k in range(K):
            if prec_chol.ndim == 2:
                # diagonal: the 17 sums r, r d_j, r d_j**2 in one pass
                sums = vec8_moments8_zero(DIAG_PART8)
                for g in range(0, m, 8):
                    sums = vec8_moments8_add(sums, vec8_load_at(terms, k, g, 8), xt, g, shift[k], DIAG_PART8)
                vec8_moments8_flush(sums, lanes, k * N_MOMENTS8)
                continue
            # the 45 sums in three parts of 15, each a pass over the block's groups with its sums in registers
            sums = vec8_moments8_zero(0)
            for g in range(0, m, 8):
                sums = vec8_moments8_add(sums, vec8_load_at(terms, k, g, 8), xt, g, shift[k], 0)
            vec8_moments8_flush(sums, lanes, k * N_MOMENTS8)
            sums = vec8_moments8_zero(1)
            for g in range(0, m, 8):
                sums = vec8_moments8_add(sums, vec8_load_at(terms, k, g, 8), xt, g, shift[k], 1)
            vec8_moments8_flush(sums, lanes, k * N_MOMENTS8 + MOMENTS_PER_PART8)
            sums = vec8_moments8_zero(2)
            for g in range(0, m, 8):
                sums = vec8_moments8_add(sums, vec8_load_at(terms, k, g, 8), xt, g, shift[k], 2)
            vec8_moments8_flush(sums, lanes, k * N_MOMENTS8 + 2 * MOMENTS_PER_PART8)
    for k in range(K):
        row = k * N_MOMENTS8
        nk[k] += _lane_sum(lanes, row)
        for j in range(8):
            s1[k, j] += _lane_sum(lanes, row + 1 + j)
        if prec_chol.ndim == 2:  # s2 (K, 1, 8): the diagonal sums
            for j in range(8):
                s2[k, 0, j] += _lane_sum(lanes, row + 9 + j)
            continue
        q = row + 9
        for i in range(8):
            for j in range(i + 1):
                s2[k, i, j] += _lane_sum(lanes, q)
                q += 1
    ll_sum = 0.0
    wt_sum = 0.0
    bad = False
    for i in range(8):
        ll_sum += vec8_lane(ll, i)
        wt_sum += vec8_lane(wt, i)
        v = vec8_lane(poison, i)
        bad |= v != v
    return ll_sum, wt_sum, first_nonfinite_row(X, lo, hi) if bad else -1


@njit(inline="always", **SERIAL)
def _lane_sum(lanes, row):
    acc = 0.0
    for i in range(8):
        acc += lanes[row, i]
    return acc


@njit(**SERIAL)  # not inlined: inlined into the kernel it compiled 0.5 s longer
def new_statistics(n, K, D, prec_chol, tied):
    """(number of parts, a function of n only; then zeroed per-part nk, s1, s2, loglik, weight and first bad
    row) in ``em_statistics``' layouts; also the HMM's Gaussian moments."""
    n_parts = part_count(n)
    nk = np.zeros((n_parts, K))
    s1 = np.zeros((n_parts, K, D))
    if prec_chol.ndim == 3:
        s2 = np.zeros((n_parts, 1 if tied else K, D, D))
    else:
        s2 = np.zeros((n_parts, K, 1, D))
    return n_parts, nk, s1, s2, np.zeros(n_parts), np.zeros(n_parts), np.full(n_parts, -1, dtype=np.int64)


@njit(inline="always", **SERIAL)
def _statistics_blocks(X, lo, hi, sample_weight, prec_chol, shifted_means, log_norm, shift, mode, key, row0, p, nk,
                       s1, s2p, ll, wt, bad, xt, y, terms, mx, lse, d, rd):
    """Rows [lo, hi) of part p through the block path: BLOCK points at a time into xt, their terms,
    log-sum-exp and (weighted) responsibilities in terms (K + 1, BLOCK), folded into the part's sums."""
    K = shifted_means.shape[0]
    weighted = sample_weight.shape[0] > 0
    for start in range(lo, hi, BLOCK):
        m = min(BLOCK, hi - start)
        r = load_block(X, start, m, xt)
        if r >= 0:
            bad[p] = r
            break
        tk = terms[:K]
        component_terms(xt, m, prec_chol, shifted_means, log_norm, tk, y)
        logsumexp_block(tk, m, mx, lse, mode == POSTERIOR)
        w_b = sample_weight[start:start + m] if weighted else sample_weight
        for b in range(m):
            terms[K, b] = w_b[b] if weighted else 1.0
        acc_ll = 0.0
        acc_w = 0.0
        for b in range(m):
            acc_ll += terms[K, b] * lse[b]
            acc_w += terms[K, b]
        ll[p] += acc_ll
        wt[p] += acc_w
        if mode != POSTERIOR:
            _hard_or_random_resp(tk, m, mode, key, row0 + start)
        # weighted responsibilities, in place (mx holds the posterior normaliser, see logsumexp_block)
        for b in range(m):
            mx[b] = terms[K, b] * (mx[b] if mode == POSTERIOR else 1.0)
        for k in range(K):
            acc = 0.0
            for b in range(m):
                v = tk[k, b] * mx[b]
                tk[k, b] = v
                acc += v
            nk[p, k] += acc
        _accumulate_block(xt, m, terms, shift, s1[p], s2p, d, rd)


@njit(**PARALLEL)
def em_statistics(X, sample_weight, prec_chol, shifted_means, log_norm, shift, tied, mode, key, row0):
    """EM sufficient statistics of X (n, D) under the mixture given in kernel layout.

    sample_weight: (n,) or (0,) for unit weights; shift: (K, D) centres c_k; tied: whether s2 is the
    shared (1, D, D) scatter. mode: POSTERIOR (EM), HARD (one-hot on the largest term: with identity
    precisions this is a Lloyd/k-means step) or RANDOM (random responsibilities keyed by ``key``; the
    initialisation "random"; row i of X draws as row row0 + i of the whole data, so a caller that passes
    X in pieces gets the same draws). The log-likelihood is always that of the mixture.

    Returns per-part partial sums over a fixed partition of the rows (at most MAX_PARTS parts, a function
    of n only): n_k (P, K), s1 (P, K, D), s2 (P, K, D, D) dense / (P, 1, D, D) tied / (P, K, 1, D)
    diagonal (lower triangle only for dense), loglik (P,), weight (P,), and the first non-finite row or -1.
    The caller reduces the parts in a fixed order, so results do not depend on the thread count.
    """
    n, D = X.shape
    K = shifted_means.shape[0]
    n_parts, nk, s1, s2, ll, wt, bad = new_statistics(n, K, D, prec_chol, tied)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        s2p = s2[p] if prec_chol.ndim == 3 else s2[p, :, 0, :]
        _statistics_blocks(X, lo, hi, sample_weight, prec_chol, shifted_means, log_norm, shift, mode, key, row0, p,
                           nk, s1, s2p, ll, wt, bad, np.empty((D, BLOCK)), np.empty((D, BLOCK)),
                           np.empty((K + 1, BLOCK)), np.empty(BLOCK), np.empty(BLOCK), np.empty((D, BLOCK)),
                           np.empty((D, BLOCK)))
    return nk, s1, s2, ll, wt, first_bad_row(bad)


def statistics_parts(X, sample_weight, prec_chol, shifted_means, log_norm, shift, tied, mode, key, row0):
    """``em_statistics``' per-part outputs from the kernel that serves the call: ``em_statistics_rows8`` for
    D = 8 full or diagonal (not tied) covariances in EM proper with contiguous rows on a CPU target with
    512-bit vectors, else ``em_statistics``."""
    K = shifted_means.shape[0]
    if (WIDE and X.shape[1] == 8 and prec_chol.shape[0] == K and not tied and mode == POSTERIOR
            and X.strides[1] == X.itemsize):
        return em_statistics_rows8(X, sample_weight, prec_chol, shifted_means, log_norm, shift)
    return em_statistics(X, sample_weight, prec_chol, shifted_means, log_norm, shift, tied, mode, key, row0)


@njit(**PARALLEL)
def em_statistics_rows8(X, sample_weight, prec_chol, shifted_means, log_norm, shift):
    """``em_statistics`` (POSTERIOR, untied) for D = 8 full or diagonal covariances, where
    ``statistics_parts`` picks it: the same outputs over the same parts. Each part's rows in groups of 8 go
    straight from X (``_statistics_rows8``), its last (hi - lo) % 8 rows through the block path. A kernel of
    its own, so fits of other shapes do not compile it."""
    n, D = X.shape
    K = shifted_means.shape[0]
    n_parts, nk, s1, s2, ll, wt, bad = new_statistics(n, K, D, prec_chol, False)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, ROWS8_BLOCK))
        terms = np.empty((K + 1, ROWS8_BLOCK))
        grouped = lo + (hi - lo) // 8 * 8
        ll_g, wt_g, r = _statistics_rows8(X, lo, grouped, sample_weight, prec_chol, shifted_means, log_norm, shift,
                                          nk[p], s1[p], s2[p], terms[:K], xt, np.empty((K * N_MOMENTS8, 8)))
        ll[p] += ll_g
        wt[p] += wt_g
        if r >= 0:
            bad[p] = r
            continue
        s2p = s2[p] if prec_chol.ndim == 3 else s2[p, :, 0, :]
        _statistics_blocks(X, grouped, hi, sample_weight, prec_chol, shifted_means, log_norm, shift, POSTERIOR,
                           np.uint64(0), 0, p, nk, s1, s2p, ll, wt, bad, xt, np.empty((D, BLOCK)), terms,
                           np.empty(BLOCK), np.empty(BLOCK), np.empty((D, BLOCK)), np.empty((D, BLOCK)))
    return nk, s1, s2, ll, wt, first_bad_row(bad)
