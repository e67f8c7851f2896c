"""Mixtures of product families: every column independent given the component.

One generic kernel serves Bernoulli, categorical, Poisson, exponential and diagonal-Gaussian columns, and
any mix of them (latent-class / latent-profile models). Column j has a kind code (``kinds[j]``) and
component k's log-density is a sum of per-column terms, each from two parameters ``a[k, j]``, ``b[k, j]``
(and ``c[k, j]`` for Gaussians) laid out so that each term is one or two vector operations over a block:

    GAUSSIAN     c - 0.5 (x b - a)^2          a = mu/sigma, b = 1/sigma, c = -log sigma - log(2 pi)/2
    BERNOULLI    a if x == 1 else b           a = log p,   b = log(1 - p)     (p in {0, 1} stays exact)
    CATEGORICAL  cat_logp[k, offset_j + x]    x the category code
    POISSON      x a - b  (x > 0),  -b  (x = 0) a = log lambda, b = lambda;  -log x! goes to the point's
                                              base term (it is the same for every component)
    EXPONENTIAL  b - a x                      a = lambda,  b = log lambda

A missing entry (NaN) is left out of the point's likelihood and statistics when ``marginalize`` is set
(a select, so the loops stay branch-free); otherwise it is a domain error like any other bad value.

Points are processed in blocks of BLOCK transposed into a (D, BLOCK) scratch, with the K component terms in a
(K, BLOCK) scratch, as in the Gaussian kernels; no n x K array exists. The E-step folds each block's weighted
responsibilities into per-part accumulators over a fixed partition of the rows (a function of n only), so
the statistics are bit-identical at any thread count:

    nk[k]          sum_i w_i r_ik
    nobs[k, j]     sum_i w_i r_ik [x_ij observed]              (only when marginalising; else nk)
    s1[k, j]       sum_i w_i r_ik (x_ij - shift_kj)            (observed entries; shift = 0 but for Gaussians)
    s2[k, j]       sum_i w_i r_ik (x_ij - shift_kj)^2          (Gaussian columns)
    counts[k, c]   sum_i w_i r_ik [x_ij = category c of j]     (categorical columns, c in j's offset range)
    loglik         sum_i w_i log p(x_i)
"""
import math

import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, PARALLEL, SERIAL
from ._partition import part_count, part_rows
from .em import HARD, POSTERIOR, RANDOM, _hard_or_random_resp  # noqa: F401  (modes re-exported)
from .em import _accumulate_block
from .gaussian import component_terms, first_bad_row, logsumexp_block
from .sampling import box_muller, splitmix64, uniform_open

GAUSSIAN, BERNOULLI, CATEGORICAL, POISSON, EXPONENTIAL, DENSE = 0, 1, 2, 3, 4, 5
#: integers above this are not exactly representable as float64 counts/codes
_MAX_EXACT = 9007199254740992.0


@njit(inline="always", **SERIAL)
def _valid(kind, n_categories, v, marginalize):
    """Whether v is in column kind's domain (NaN counts as valid only when marginalising)."""
    if v != v:
        return marginalize and kind != DENSE  # a dense Gaussian block needs complete rows
    if kind == GAUSSIAN or kind == DENSE:
        return v - v == 0.0
    if kind == BERNOULLI:
        return v == 0.0 or v == 1.0
    if kind == CATEGORICAL:
        return v >= 0.0 and v < n_categories and v == np.floor(v)
    if kind == POISSON:
        return v >= 0.0 and v < _MAX_EXACT and v == np.floor(v)
    return v > 0.0 and v - v == 0.0  # EXPONENTIAL


@njit(inline="always", **SERIAL)
def _count_invalid(kind, C, x, m, marginalize):
    """How many of x[:m] are outside the kind's domain: one branch-free loop per kind (vectorises)."""
    n_bad = 0
    if kind == GAUSSIAN:
        for b in range(m):
            v = x[b]
            ok = (v - v == 0.0) or (marginalize and v != v)
            n_bad += 0 if ok else 1
    elif kind == BERNOULLI:
        for b in range(m):
            v = x[b]
            ok = (v == 0.0) or (v == 1.0) or (marginalize and v != v)
            n_bad += 0 if ok else 1
    else:
        for b in range(m):
            n_bad += 0 if _valid(kind, C, x[b], marginalize) else 1
    return n_bad


@njit(inline="always", **SERIAL)
def load_product_block(X, start, m, kinds, cat_sizes, marginalize, xt):
    """xt[:, :m] = X[start:start+m].T as float64; returns the first row (absolute) out of its columns'
    domains, or -1. The check is a count of violations per column (a vectorisable loop per kind); only a
    block with violations is rescanned for the row."""
    D = X.shape[1]
    Xb = X[start:start + m]  # index a view from 0 (see gaussian.load_block)
    for b in range(m):
        for j in range(D):
            xt[j, b] = np.float64(Xb[b, j])
    n_bad = 0
    for j in range(D):
        n_bad += _count_invalid(kinds[j], np.float64(cat_sizes[j]), xt[j], m, marginalize)
    if n_bad == 0:
        return -1
    for b in range(m):
        for j in range(D):
            if not _valid(kinds[j], np.float64(cat_sizes[j]), xt[j, b], marginalize):
                return start + b
    return -1


@njit(inline="always", **SERIAL)
def linear_terms(xt, m, W, const, terms):
    """terms[k, :m] = const[k] + sum_j W[k, j] x_j: the component terms when every column is linear in x
    (Bernoulli, Poisson, exponential with all parameters inside the domain, nothing missing): a small
    matrix product, four columns per pass so each running sum is loaded and stored once per four terms."""
    K, D = W.shape
    D4 = D - D % 4
    for k in range(K):
        tk = terms[k]
        c = const[k]
        for b in range(m):
            tk[b] = c
        for j0 in range(0, D4, 4):
            w0 = W[k, j0]
            w1 = W[k, j0 + 1]
            w2 = W[k, j0 + 2]
            w3 = W[k, j0 + 3]
            x0 = xt[j0]
            x1 = xt[j0 + 1]
            x2 = xt[j0 + 2]
            x3 = xt[j0 + 3]
            for b in range(m):
                tk[b] += (w0 * x0[b] + w1 * x1[b]) + (w2 * x2[b] + w3 * x3[b])
        for j in range(D4, D):
            wj = W[k, j]
            xj = xt[j]
            for b in range(m):
                tk[b] += wj * xj[b]


@njit(inline="always", **SERIAL)
def linear_moments(xt, m, resp, s1):
    """s1[k, j] += sum_b resp[k, b] x_j[b], four components per pass (each x row loaded once per four)."""
    K = resp.shape[0]
    D = xt.shape[0]
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
            a0 = a1 = a2 = a3 = 0.0
            for b in range(m):
                xb = x[b]
                a0 += r0[b] * xb
                a1 += r1[b] * xb
                a2 += r2[b] * xb
                a3 += r3[b] * xb
            s1[k0, j] += a0
            if k0 + 1 < K:
                s1[k1, j] += a1
            if k0 + 2 < K:
                s1[k2, j] += a2
            if k0 + 3 < K:
                s1[k3, j] += a3


@njit(inline="always", **SERIAL)
def _poisson_base(xt, m, kinds, base):
    for j in range(xt.shape[0]):
        if kinds[j] == POISSON:
            x = xt[j]
            for b in range(m):
                v = x[b]
                base[b] -= math.lgamma(v + 1.0)


@njit(**SERIAL)
def product_terms(xt, m, kinds, cat_offsets, a, b_, c, cat_logp, log_w, terms, base):
    """terms[k, :m] = log w_k + log p_k(x_b) without the base measure; base[:m] = sum of per-point terms
    common to every component (-log x! of Poisson columns). Missing (NaN) entries contribute 0."""
    D = xt.shape[0]
    K = a.shape[0]
    for b in range(m):
        base[b] = 0.0
    for j in range(D):
        if kinds[j] == POISSON:
            x = xt[j]
            for b in range(m):
                v = x[b]
                base[b] -= math.lgamma(v + 1.0) if v == v else 0.0
    for k in range(K):
        tk = terms[k]
        lw = log_w[k]
        for b in range(m):
            tk[b] = lw
        for j in range(D):
            kind = kinds[j]
            x = xt[j]
            A = a[k, j]
            B = b_[k, j]
            if kind == GAUSSIAN:
                Cc = c[k, j]
                for b in range(m):
                    v = x[b]
                    d = v * B - A
                    tk[b] += (Cc - 0.5 * d * d) if v == v else 0.0
            elif kind == BERNOULLI:
                for b in range(m):
                    v = x[b]
                    tk[b] += A if v > 0.5 else (B if v < 0.5 else 0.0)
            elif kind == CATEGORICAL:
                row = cat_logp[k, cat_offsets[j]:]
                for b in range(m):
                    v = x[b]
                    if v == v:
                        tk[b] += row[np.int64(v)]
            elif kind == POISSON:
                for b in range(m):
                    v = x[b]
                    t = (v * A if v > 0.0 else 0.0) - B
                    tk[b] += t if v == v else 0.0
            elif kind == EXPONENTIAL:
                for b in range(m):
                    v = x[b]
                    tk[b] += (B - A * v) if v == v else 0.0
            # DENSE columns: their joint term comes from dense_terms


@njit(inline="always", **SERIAL)
def dense_terms(xt, m, g_cols, g_prec, g_shifted, g_lognorm, xg, y, terms2, terms):
    """terms[k, :m] += log N(x_g | component k) for the dense (full/tied) Gaussian block of columns g_cols:
    the block's rows are gathered into xg and go through the Gaussian kernels' ``component_terms`` (the same
    precision-Cholesky layouts), so the block costs what a Gaussian mixture over those columns costs."""
    K = terms.shape[0]
    for a in range(g_cols.shape[0]):
        src = xt[g_cols[a]]
        dst = xg[a]
        for b in range(m):
            dst[b] = src[b]
    component_terms(xg, m, g_prec, g_shifted, g_lognorm, terms2, y)
    for k in range(K):
        tk = terms[k]
        t2 = terms2[k]
        for b in range(m):
            tk[b] += t2[b]


@njit(inline="always", **SERIAL)
def block_terms(xt, m, kinds, cat_offsets, a, b_, c, cat_logp, log_w, W, const, linear, has_poisson,
                g_cols, g_prec, g_shifted, g_lognorm, xg, yg, terms2, terms, base):
    """A block's component terms and per-point base terms, for the log-density and the E-step alike: the
    linear fast path, or the per-kind terms plus the dense Gaussian block."""
    if linear:
        linear_terms(xt, m, W, const, terms)
        for b in range(m):
            base[b] = 0.0
        if has_poisson:
            _poisson_base(xt, m, kinds, base)
    else:
        product_terms(xt, m, kinds, cat_offsets, a, b_, c, cat_logp, log_w, terms, base)
        if g_cols.shape[0] > 0:
            dense_terms(xt, m, g_cols, g_prec, g_shifted, g_lognorm, xg, yg, terms2, terms)


@njit(**PARALLEL)
def product_log_density(X, kinds, cat_sizes, cat_offsets, a, b_, c, cat_logp, log_w, marginalize, W, const,
                        g_cols, g_prec, g_shifted, g_lognorm, out, resp):
    """out[i] = log sum_k w_k prod_j p_kj(X[i, j]); resp (n, K) responsibilities if it has n rows (pass an
    empty (0, K) array to skip). Returns the first row with a value outside its column's domain, or -1.

    W (K, D), const (K,): the linear form of the terms (see ``linear_terms``) when every column allows it,
    else a (0, D) W: the general per-kind path. g_cols (Dg,), g_prec (P, Dg, Dg), g_shifted (K, Dg),
    g_lognorm (K,): the dense Gaussian block (Dg = 0: none), in the Gaussian kernels' layout."""
    n, D = X.shape
    K = a.shape[0]
    Dg = g_cols.shape[0]
    want_resp = resp.shape[0] > 0
    linear = W.shape[0] > 0
    has_poisson = False
    for j in range(D):
        has_poisson = has_poisson or kinds[j] == POISSON
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for ch in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        terms = np.empty((K, BLOCK))
        base = np.empty(BLOCK)
        mx = np.empty(BLOCK)
        acc = np.empty(BLOCK)
        xg = np.empty((Dg, BLOCK))
        yg = np.empty((Dg, BLOCK))
        terms2 = np.empty((K, BLOCK))
        stop = min(n, (ch + 1) * CHUNK)
        for start in range(ch * CHUNK, stop, BLOCK):
            m = min(BLOCK, stop - start)
            r = load_product_block(X, start, m, kinds, cat_sizes, marginalize, xt)
            if r >= 0:
                bad[ch] = r
                break
            block_terms(xt, m, kinds, cat_offsets, a, b_, c, cat_logp, log_w, W, const, linear, has_poisson,
                        g_cols, g_prec, g_shifted, g_lognorm, xg, yg, terms2, terms, base)
            logsumexp_block(terms, m, mx, acc, want_resp)
            out_b = out[start:start + m]
            for b in range(m):
                out_b[b] = acc[b] + base[b]
            if want_resp:
                resp_b = resp[start:start + m]
                for k in range(K):
                    for b in range(m):
                        resp_b[b, k] = terms[k, b] * mx[b]
    return first_bad_row(bad)


@njit(inline="always", **SERIAL)
def accumulate_moments(xt, m, terms_all, kinds, cat_offsets, shift, marginalize, linear, g_cols, g_shift, xg, dg,
                       rdg, nobs, s1, s2, counts, g_s1, g_s2):
    """Fold one block's weighted responsibilities terms_all[:K, :m] (row K: the weights, for the dense block's
    tied scatter) into the moment accumulators of one part (shapes in the module docstring). The E-step
    (responsibilities from the terms) and an HMM (posteriors from forward-backward) share it."""
    K = terms_all.shape[0] - 1
    D = xt.shape[0]
    terms = terms_all[:K]
    if linear:
        linear_moments(xt, m, terms, s1)
        return
    if g_cols.shape[0] > 0:
        for a in range(g_cols.shape[0]):
            src = xt[g_cols[a]]
            dst = xg[a]
            for b in range(m):
                dst[b] = src[b]
        _accumulate_block(xg, m, terms_all, g_shift, g_s1, g_s2, dg, rdg)
    for k in range(K):
        rk = terms[k]
        for j in range(D):
            kind = kinds[j]
            x = xt[j]
            if kind == DENSE:
                continue
            if kind == CATEGORICAL:
                row = counts[k, cat_offsets[j]:]
                for b in range(m):
                    v = x[b]
                    if v == v:
                        row[np.int64(v)] += rk[b]
                if marginalize:
                    o = 0.0
                    for b in range(m):
                        o += rk[b] if x[b] == x[b] else 0.0
                    nobs[k, j] += o
                continue
            sh = shift[k, j]
            a1 = 0.0
            a2 = 0.0
            o = 0.0
            if kind == GAUSSIAN:
                for b in range(m):
                    v = x[b]
                    obs = v == v
                    d = (v - sh) if obs else 0.0
                    rd = rk[b] * d
                    a1 += rd
                    a2 += rd * d
                    o += rk[b] if obs else 0.0
                s2[k, j] += a2
            else:
                for b in range(m):
                    v = x[b]
                    obs = v == v
                    a1 += rk[b] * v if obs else 0.0
                    o += rk[b] if obs else 0.0
            s1[k, j] += a1
            if marginalize:
                nobs[k, j] += o


@njit(**PARALLEL)
def product_statistics(X, sample_weight, kinds, cat_sizes, cat_offsets, a, b_, c, cat_logp, log_w, shift,
                       marginalize, n_counts, mode, key, row0, W, const, g_cols, g_prec, g_shifted, g_lognorm,
                       g_shift, g_tied):
    """E-step statistics (see the module docstring) as per-part partial sums over a fixed partition of
    the rows: nk (P, K), nobs (P, K, D) (zeros unless marginalising), s1 (P, K, D), s2 (P, K, D),
    counts (P, K, n_counts), loglik (P,), weight (P,), and the first bad row or -1.

    mode: POSTERIOR (EM), HARD (one-hot argmax of the terms) or RANDOM (random responsibilities keyed by
    ``key``, row i drawing as row row0 + i of the whole data). W, const, g_*: as ``product_log_density``;
    g_shift (K, Dg): the dense block's centres, g_tied: its scatter is shared. Also returns the dense block's
    moments g_s1 (P, K, Dg) and g_s2 (P, K or 1, Dg, Dg) (lower triangle), as the Gaussian E-step does."""
    n, D = X.shape
    K = a.shape[0]
    Dg = g_cols.shape[0]
    g_s1 = np.zeros((part_count(n), K, Dg))
    g_s2 = np.zeros((g_s1.shape[0], 1 if g_tied else K, Dg, Dg))
    weighted = sample_weight.shape[0] > 0
    linear = W.shape[0] > 0
    has_poisson = False
    for j in range(D):
        has_poisson = has_poisson or kinds[j] == POISSON
    n_parts = part_count(n)
    nk = np.zeros((n_parts, K))
    nobs = np.zeros((n_parts, K, D))
    s1 = np.zeros((n_parts, K, D))
    s2 = np.zeros((n_parts, K, D))
    counts = np.zeros((n_parts, K, max(n_counts, 1)))
    ll = np.zeros(n_parts)
    wt = np.zeros(n_parts)
    bad = np.full(n_parts, -1, dtype=np.int64)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        terms_all = np.empty((K + 1, BLOCK))  # row K: the sample weights (the dense block's tied scatter)
        terms = terms_all[:K]
        base = np.empty(BLOCK)
        mx = np.empty(BLOCK)
        lse = np.empty(BLOCK)
        wb = np.empty(BLOCK)
        xg = np.empty((Dg, BLOCK))
        yg = np.empty((Dg, BLOCK))
        terms2 = np.empty((K, BLOCK))
        dg = np.empty((Dg, BLOCK))
        rdg = np.empty((Dg, BLOCK))
        g_s2p = g_s2[p]
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            r = load_product_block(X, start, m, kinds, cat_sizes, marginalize, xt)
            if r >= 0:
                bad[p] = r
                break
            block_terms(xt, m, kinds, cat_offsets, a, b_, c, cat_logp, log_w, W, const, linear, has_poisson,
                        g_cols, g_prec, g_shifted, g_lognorm, xg, yg, terms2, terms, base)
            logsumexp_block(terms, m, mx, lse, mode == POSTERIOR)
            # weights first, then a reduction loop that only reads: a loop that also stored wb carried a
            # runtime overlap check against the (empty) unweighted sample_weight, and where the heap placed the
            # two close together it took the scalar path, summing in another order (a last-bit difference
            # between threads, whose allocations come from different arenas)
            w_src = sample_weight[start:start + m] if weighted else sample_weight
            for b in range(m):
                wb[b] = w_src[b] if weighted else 1.0
            acc_ll = 0.0
            acc_w = 0.0
            for b in range(m):
                acc_ll += wb[b] * (lse[b] + base[b])
                acc_w += wb[b]
            ll[p] += acc_ll
            wt[p] += acc_w
            if mode != POSTERIOR:
                _hard_or_random_resp(terms, m, mode, key, row0 + start)
            for b in range(m):
                mx[b] = wb[b] * (mx[b] if mode == POSTERIOR else 1.0)
            for k in range(K):
                rk = terms[k]
                acc = 0.0
                for b in range(m):
                    v = rk[b] * mx[b]
                    rk[b] = v
                    acc += v
                nk[p, k] += acc
            for b in range(m):
                terms_all[K, b] = wb[b]
            accumulate_moments(xt, m, terms_all, kinds, cat_offsets, shift, marginalize, linear, g_cols, g_shift,
                               xg, dg, rdg, nobs[p], s1[p], s2[p], counts[p], g_s1[p], g_s2p)
    return nk, nobs, s1, s2, counts, ll, wt, first_bad_row(bad), g_s1, g_s2


@njit(inline="always", **SERIAL)
def _poisson_draw(lam, key, word):
    """A Poisson(lam) variate from the counter-based stream: inversion by sequential search for lam < 30;
    otherwise Hormann's PTRS transformed rejection (1993), drawing from a sub-stream keyed by ``word`` (so
    the number of words one point consumes cannot shift another point's numbers)."""
    if lam <= 0.0:
        return 0.0
    if lam < 30.0:
        u = uniform_open(key, word)
        k = 0.0
        p = math.exp(-lam)
        cdf = p
        while u > cdf and k < 1e6:
            k += 1.0
            p *= lam / k
            cdf += p
            if p == 0.0 and cdf < u:  # rounding left the cdf short of u: the far tail, stop
                break
        return k
    sub = splitmix64(key, word)
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    bb = 0.931 + 2.53 * slam
    aa = -0.059 + 0.02483 * bb
    inv_alpha = 1.1239 + 1.1328 / (bb - 3.4)
    vr = 0.9277 - 3.6224 / (bb - 2)
    t = np.uint64(0)
    while True:
        U = uniform_open(sub, t) - 0.5
        V = uniform_open(sub, t + np.uint64(1))
        t += np.uint64(2)
        us = 0.5 - abs(U)
        k = np.floor((2 * aa / us + bb) * U + lam + 0.43)
        if us >= 0.07 and V <= vr:
            return k
        if k < 0 or (us < 0.013 and V > us):
            continue
        if math.log(V) + math.log(inv_alpha) - math.log(aa / (us * us) + bb) <= -lam + k * loglam - math.lgamma(k + 1):
            return k


@njit(**PARALLEL)
def product_sample(key, offset, cum_weights, kinds, cat_offsets, cat_sizes, loc, scale, cat_cum, g_cols, g_means,
                   g_chol, out, labels):
    """Draw points offset .. offset + n - 1 of stream ``key`` into out (n, D), labels (n,).

    Point g uses words [g S, (g + 1) S), S = 1 + 2 D: one for the component, two per column (a Box-Muller
    pair for Gaussian columns, of which the first normal is used; a uniform otherwise). Per column,
    loc/scale hold: Gaussian mean/std; Bernoulli p/-; Poisson lambda/-; exponential 1/lambda/-.
    cat_cum[k, offset_j + c] is the cumulative probability of categories 0..c of column j. The dense block
    (columns g_cols): x_g = g_means[k] + L z, L = g_chol[k] (or g_chol[0] when tied) lower triangular, z the
    block columns' own normals.
    """
    n, D = out.shape
    K = cum_weights.shape[0]
    Dg = g_cols.shape[0]
    S = np.uint64(1 + 2 * D)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for ch in prange(n_chunks):
        z = np.empty(Dg)
        for i in range(ch * CHUNK, min(n, (ch + 1) * CHUNK)):
            w0 = np.uint64(offset + i) * S
            u = uniform_open(key, w0)
            k = 0
            while k < K - 1 and u > cum_weights[k]:
                k += 1
            labels[i] = k
            for j in range(D):
                w = w0 + np.uint64(1 + 2 * j)
                kind = kinds[j]
                if kind == GAUSSIAN or kind == DENSE:
                    zz, _ = box_muller(key, w)
                    out[i, j] = loc[k, j] + scale[k, j] * zz if kind == GAUSSIAN else zz
                elif kind == BERNOULLI:
                    out[i, j] = 1.0 if uniform_open(key, w) <= loc[k, j] else 0.0
                elif kind == CATEGORICAL:
                    v = uniform_open(key, w)
                    off = cat_offsets[j]
                    C = cat_sizes[j]
                    c = 0
                    while c < C - 1 and v > cat_cum[k, off + c]:
                        c += 1
                    out[i, j] = c
                elif kind == POISSON:
                    out[i, j] = _poisson_draw(loc[k, j], key, w)
                else:
                    out[i, j] = -math.log(uniform_open(key, w)) * loc[k, j]
            if Dg > 0:
                L = g_chol[k if g_chol.shape[0] == K else 0]
                for a_ in range(Dg):
                    z[a_] = out[i, g_cols[a_]]
                for a_ in range(Dg):
                    acc = g_means[k, a_]
                    for b_ in range(a_ + 1):
                        acc += L[a_, b_] * z[b_]
                    out[i, g_cols[a_]] = acc
