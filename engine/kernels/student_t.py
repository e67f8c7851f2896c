"""Multivariate Student-t mixtures: log-density and the fused E-step (McLachlan & Peel 2000, ch. 7).

Component k has location mu_k, scale matrix S_k (precision Cholesky U_k, S_k^-1 = U_k U_k^T, in the Gaussian
kernels' layouts: full, tied, diag, spherical) and degrees of freedom nu_k:

    log t_k(x) = c_k - (nu_k + D)/2 log(1 + delta/nu_k),  delta = ||x U_k - mu_k U_k||^2,
    c_k = log w_k + lgamma((nu_k + D)/2) - lgamma(nu_k/2) - D/2 log(nu_k pi) + log det U_k.

The Mahalanobis distances come from the Gaussian ``component_terms`` (with log_norm = 0 its terms are
-delta/2), so the t kernels share the Gaussian block machinery and its layouts. The E-step's extra weights
u_ik = (nu_k + D)/(nu_k + delta_ik) scale the moments; the statistics are

    nk[k] = sum w r,  su[k] = sum w r u,  sl[k] = sum w r (log u - u)   (for the nu update)
    s1[k] = sum w r u (x - shift_k),  s2 = sum w r u (x - shift)(x - shift)^T  (layouts as the Gaussian E-step)
"""
import math

import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, PARALLEL, SERIAL
from ._fastmath import fast_log
from ._partition import part_count, part_rows
from .em import POSTERIOR, _accumulate_block, _hard_or_random_resp
from .gaussian import component_terms, first_bad_row, load_block, logsumexp_block
from .sampling import splitmix64, uniform_open


@njit(inline="always", **SERIAL)
def _log1p(x):
    """log(1 + x) for x >= 0 to full relative precision: below 1e-3 by its series to x^6 (truncation below
    1e-19 relative); above, fast_log(1 + x). At large dofs delta/nu ~ 1e-11, where log(1 + x) alone keeps
    only five digits. (Goldberg's log(u) x/(u - 1) trick does not survive fastmath's reassociation.)
    Branch-free, so the loop still vectorises."""
    series = x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * (0.2 - x / 6.0)))))
    return series if x < 1e-3 else fast_log(1.0 + x)


@njit(inline="always", **SERIAL)
def _t_terms(terms, m, log_c, dofs, D, u):
    """terms[k, :m] (holding -delta/2) -> log w_k t_k(x); u[k, :m] = (nu + D)/(nu + delta)."""
    K = log_c.shape[0]
    for k in range(K):
        nu = dofs[k]
        half = 0.5 * (nu + D)
        inv_nu = 1.0 / nu
        c = log_c[k]
        tk = terms[k]
        uk = u[k]
        for b in range(m):
            delta = -2.0 * tk[b]
            tk[b] = c - half * _log1p(delta * inv_nu)
            uk[b] = (nu + D) / (nu + delta)


@njit(inline="always", **SERIAL)
def _fold_t_weights(r, scale, m, u, nk, su, sl, terms):
    """With rv = r[k, b] * scale[b] (a row's weighted responsibility or state posterior): nk[k] += sum rv,
    su[k] += sum rv u, sl[k] += sum rv (log u - u), and terms[k, :m] = rv u, terms[K, :m] their sum over k (the
    weights the t moments, and a tied scatter, are taken with). ``r`` may be ``terms[:K]`` itself."""
    K = u.shape[0]
    for b in range(m):
        terms[K, b] = 0.0
    for k in range(K):
        a_n = 0.0
        a_u = 0.0
        a_l = 0.0
        rk = r[k]
        uk = u[k]
        tk = terms[k]
        for b in range(m):
            rv = rk[b] * scale[b]
            ub = uk[b]
            a_n += rv
            a_l += rv * (fast_log(ub) - ub)
            ru = rv * ub
            a_u += ru
            tk[b] = ru
            terms[K, b] += ru
        nk[k] += a_n
        su[k] += a_u
        sl[k] += a_l


@njit(**PARALLEL)
def t_mixture_log_density(X, prec_chol, shifted_means, log_c, dofs, out, resp):
    """out[i] = log sum_k w_k t_k(X[i]); resp (n, K) if it has n rows. Returns the first non-finite row or -1."""
    n, D = X.shape
    K = shifted_means.shape[0]
    want_resp = resp.shape[0] > 0
    zeros = np.zeros(K)
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K, BLOCK))
        u = np.empty((K, BLOCK))
        mx = np.empty(BLOCK)
        acc = np.empty(BLOCK)
        stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, stop, BLOCK):
            m = min(BLOCK, stop - start)
            r = load_block(X, start, m, xt)
            if r >= 0:
                bad[c] = r
                break
            component_terms(xt, m, prec_chol, shifted_means, zeros, terms, y)
            _t_terms(terms, m, log_c, dofs, D, u)
            logsumexp_block(terms, m, mx, acc, want_resp)
            out_b = out[start:start + m]
            for b in range(m):
                out_b[b] = acc[b]
            if want_resp:
                resp_b = resp[start:start + m]
                for k in range(K):
                    for b in range(m):
                        resp_b[b, k] = terms[k, b] * mx[b]
    return first_bad_row(bad)


@njit(**PARALLEL)
def t_statistics(X, sample_weight, prec_chol, shifted_means, log_c, dofs, shift, tied, mode, key, row0):
    """E-step statistics as per-part partial sums over a fixed partition of the rows (see the module
    docstring): nk (P, K), su (P, K), sl (P, K), s1 (P, K, D), s2 (layouts of ``em.em_statistics``), loglik
    (P,), weight (P,), first bad row. mode: POSTERIOR, HARD or RANDOM (as ``em_statistics``)."""
    n, D = X.shape
    K = shifted_means.shape[0]
    weighted = sample_weight.shape[0] > 0
    zeros = np.zeros(K)
    n_parts = part_count(n)
    nk = np.zeros((n_parts, K))
    su = np.zeros((n_parts, K))
    sl = np.zeros((n_parts, K))
    s1 = np.zeros((n_parts, K, D))
    if prec_chol.ndim == 3:
        s2 = np.zeros((n_parts, 1 if tied else K, D, D))
    else:
        s2 = np.zeros((n_parts, K, 1, D))
    ll = np.zeros(n_parts)
    wt = np.zeros(n_parts)
    bad = np.full(n_parts, -1, dtype=np.int64)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K + 1, BLOCK))  # row K: sum_k r u (the tied scatter's weights)
        u = np.empty((K, BLOCK))
        mx = np.empty(BLOCK)
        lse = np.empty(BLOCK)
        wb = np.empty(BLOCK)
        d = np.empty((D, BLOCK))
        rd = np.empty((D, BLOCK))
        s2p = s2[p] if prec_chol.ndim == 3 else s2[p, :, 0, :]
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            r = load_block(X, start, m, xt)
            if r >= 0:
                bad[p] = r
                break
            tk = terms[:K]
            component_terms(xt, m, prec_chol, shifted_means, zeros, tk, y)
            _t_terms(tk, m, log_c, dofs, D, u)
            logsumexp_block(tk, m, mx, lse, mode == POSTERIOR)
            # weights first, then a read-only reduction (see kernels/product.py: one summation order always)
            w_src = sample_weight[start:start + m] if weighted else sample_weight
            for b in range(m):
                wb[b] = w_src[b] if weighted else 1.0
            acc_ll = 0.0
            acc_w = 0.0
            for b in range(m):
                acc_ll += wb[b] * lse[b]
                acc_w += wb[b]
            ll[p] += acc_ll
            wt[p] += acc_w
            if mode != POSTERIOR:
                _hard_or_random_resp(tk, m, mode, key, row0 + start)
            for b in range(m):
                mx[b] = wb[b] * (mx[b] if mode == POSTERIOR else 1.0)
            _fold_t_weights(tk, mx, m, u, nk[p], su[p], sl[p], terms)
            _accumulate_block(xt, m, terms, shift, s1[p], s2p, d, rd)
    return nk, su, sl, s1, s2, ll, wt, first_bad_row(bad)


@njit(inline="always", **SERIAL)
def _normal(key, w):
    """One standard normal from words w, w + 1 (Box-Muller, first member)."""
    r = math.sqrt(-2.0 * math.log(uniform_open(key, w)))
    return r * math.cos(2.0 * math.pi * uniform_open(key, w + np.uint64(1)))


@njit(inline="always", **SERIAL)
def gamma_draw(shape, key):
    """A Gamma(shape, 1) variate from the counter-based stream ``key`` (Marsaglia & Tsang 2000; shape < 1
    by Gamma(shape + 1) * U^(1/shape)); words are consumed from 0 on, so a caller gives every draw its own key."""
    boost = 1.0
    a = shape
    w = np.uint64(0)
    if a < 1.0:
        boost = uniform_open(key, w) ** (1.0 / a)
        w += np.uint64(1)
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(key, w)
        w += np.uint64(2)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        uu = uniform_open(key, w)
        w += np.uint64(1)
        if math.log(uu) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v * boost


_GAMMA_STREAM = np.uint64(0x5DEECE66D2545F49)


@njit(**PARALLEL)
def t_scale_factors(key, offset, labels, dofs, out):
    """out[i] = 1 / sqrt(g_i / nu) with g_i ~ chi^2_nu (nu = dofs[labels[i]]): the factor that turns point i's
    Gaussian deviation into a Student-t one. Draw i uses its own sub-stream (key, offset + i), so the values
    do not depend on the thread count or on how a sample is cut into batches."""
    n = labels.shape[0]
    sub_key = key ^ _GAMMA_STREAM
    for i in prange(n):
        nu = dofs[labels[i]]
        g = 2.0 * gamma_draw(0.5 * nu, splitmix64(sub_key, np.uint64(offset + i)))
        out[i] = 1.0 / math.sqrt(g / nu)


# ------------------------------------------------------------------------------ hidden Markov model emissions
# (the per-state t log-densities are ``emissions.state_log_frame`` with dofs)
@njit(**PARALLEL)
def t_posterior_moments(X, post, prec_chol, shifted_means, log_c, dofs, shift, tied):
    """The t statistics of X (n, D) with the state posteriors post (n, K) in place of the mixture's
    responsibilities: nk, su, sl (P, K), s1 (P, K, D), s2 (layouts of ``t_statistics``), per part of a fixed
    partition (bit-identical at any thread count)."""
    n, D = X.shape
    K = shifted_means.shape[0]
    zeros = np.zeros(K)
    n_parts = part_count(n)
    nk = np.zeros((n_parts, K))
    su = np.zeros((n_parts, K))
    sl = np.zeros((n_parts, K))
    s1 = np.zeros((n_parts, K, D))
    if prec_chol.ndim == 3:
        s2 = np.zeros((n_parts, 1 if tied else K, D, D))
    else:
        s2 = np.zeros((n_parts, K, 1, D))
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K + 1, BLOCK))  # rows < K: r u per state; row K: sum_k r u (the tied scatter's weights)
        u = np.empty((K, BLOCK))
        ones = np.ones(BLOCK)
        d = np.empty((D, BLOCK))
        rd = np.empty((D, BLOCK))
        s2p = s2[p] if prec_chol.ndim == 3 else s2[p, :, 0, :]
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            load_block(X, start, m, xt)
            tk = terms[:K]
            component_terms(xt, m, prec_chol, shifted_means, zeros, tk, y)
            _t_terms(tk, m, log_c, dofs, D, u)
            # the u are all that is needed of the terms: their rows take the block's posteriors
            pb = post[start:start + m]
            for k in range(K):
                for b in range(m):
                    tk[k, b] = pb[b, k]
            _fold_t_weights(tk, ones, m, u, nk[p], su[p], sl[p], terms)
            _accumulate_block(xt, m, terms, shift, s1[p], s2p, d, rd)
    return nk, su, sl, s1, s2
