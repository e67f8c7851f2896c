"""Emission kernels for hidden Markov models: the families' per-state log-densities of a span of rows, and
their moments weighted by given posteriors (the forward-backward's state posteriors instead of a mixture's
responsibilities).

Both reuse the families' block pieces unchanged — ``load_block``/``component_terms``/``_accumulate_block``
(Gaussian, every covariance layout) and ``load_product_block``/``block_terms``/``accumulate_moments``
(product families, mixed columns, the dense block) — so an HMM emission costs what the mixture's E-step
costs per row. The moments are per-part partial sums over a fixed partition of the rows (as in the
E-step kernels): bit-identical at any thread count.
"""
import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, PARALLEL, SERIAL
from ._partition import part_count, part_rows
from .em import _accumulate_block, new_statistics
from .gaussian import component_terms, first_bad_row, load_block
from .product import POISSON, accumulate_moments, block_terms, load_product_block
from .student_t import _t_terms


@njit(inline="always", **SERIAL)
def load_posteriors(post, start, m, resp, K):
    """resp[:K, :m] = post[start:start+m].T (the block's posteriors, in the E-step's (K, BLOCK) layout),
    resp[K, :m] their row sums (the rows' weights, for a tied scatter); returns nothing, adds nothing."""
    pb = post[start:start + m]
    for b in range(m):
        resp[K, b] = 0.0
    for k in range(K):
        for b in range(m):
            v = pb[b, k]
            resp[k, b] = v
            resp[K, b] += v


@njit(**PARALLEL)
def state_log_frame(X, prec_chol, shifted_means, log_norm, dofs, out):
    """out[i, k] = log p(X[i] | state k) for X (n, D) under Gaussian states (``dofs`` empty) or multivariate t
    states with degrees of freedom ``dofs`` (K,) (``student_t._t_terms``: log_norm is then the t constant);
    prec_chol/shifted_means/log_norm in the Gaussian kernels' layout with zero log-weights. Returns the first
    row holding NaN/inf, or -1."""
    n, D = X.shape
    K = shifted_means.shape[0]
    student = dofs.shape[0] > 0
    zeros = np.zeros(K)
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        y = np.empty((D, BLOCK))
        terms = np.empty((K, BLOCK))
        u = np.empty((K if student else 0, BLOCK))
        c_stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            r = load_block(X, start, m, xt)
            if r >= 0:
                bad[c] = r
                break
            # a t term needs the Mahalanobis distance alone (-delta/2: the Gaussian terms without constants)
            component_terms(xt, m, prec_chol, shifted_means, zeros if student else log_norm, terms, y)
            if student:
                _t_terms(terms, m, log_norm, dofs, D, u)
            ob = out[start:start + m]
            for b in range(m):
                for k in range(K):
                    ob[b, k] = terms[k, b]
    return first_bad_row(bad)


@njit(**PARALLEL)
def gaussian_posterior_moments(X, post, prec_chol, shift, tied):
    """Gaussian moments of X (n, D) weighted by post (n, K) (rows: weighted state posteriors): n_k (P, K),
    s1 (P, K, D) about shift (K, D), s2 (P, K or 1, D, D) lower triangle (dense: prec_chol.ndim == 3;
    tied: one scatter about shift[0] weighted by each row's total posterior) or (P, K, 1, D) diagonal."""
    n, D = X.shape
    K = shift.shape[0]
    n_parts, nk, s1, s2, _, _, _ = new_statistics(n, K, D, prec_chol, tied)
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        resp = np.empty((K + 1, BLOCK))
        d = np.empty((D, BLOCK))
        rd = np.empty((D, BLOCK))
        s2p = s2[p] if prec_chol.ndim == 3 else s2[p, :, 0, :]
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            load_block(X, start, m, xt)
            load_posteriors(post, start, m, resp, K)
            for k in range(K):
                nk[p, k] += resp[k, :m].sum()
            _accumulate_block(xt, m, resp, shift, s1[p], s2p, d, rd)
    return nk, s1, s2


@njit(**PARALLEL)
def product_log_frame(X, kinds, cat_sizes, cat_offsets, a, b_, c, cat_logp, log_w, marginalize, W, const, g_cols,
                      g_prec, g_shifted, g_lognorm, out):
    """out[i, k] = log p_k(X[i]) under product-family state k (arguments as ``product_log_density``, log_w
    zero). Returns the first row with a value outside its column's domain, or -1."""
    n, D = X.shape
    K = a.shape[0]
    Dg = g_cols.shape[0]
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
            ob = out[start:start + m]
            for b in range(m):
                for k in range(K):
                    ob[b, k] = terms[k, b] + base[b]
    return first_bad_row(bad)


@njit(**PARALLEL)
def product_posterior_moments(X, post, kinds, cat_sizes, cat_offsets, shift, marginalize, n_counts, linear, g_cols,
                              g_shift, g_tied):
    """Product-family moments of X (n, D) weighted by post (n, K), as ``product_statistics`` returns them
    (nk, nobs, s1, s2, counts, g_s1, g_s2: per part). ``linear``: no Gaussian, categorical or missing entry
    (the moments are then the register-tiled products of ``linear_moments``)."""
    n, D = X.shape
    K = shift.shape[0]
    Dg = g_cols.shape[0]
    n_parts = part_count(n)
    nk = np.zeros((n_parts, K))
    nobs = np.zeros((n_parts, K, D))
    s1 = np.zeros((n_parts, K, D))
    s2 = np.zeros((n_parts, K, D))
    counts = np.zeros((n_parts, K, max(n_counts, 1)))
    g_s1 = np.zeros((n_parts, K, Dg))
    g_s2 = np.zeros((n_parts, 1 if g_tied else K, Dg, Dg))
    for p in prange(n_parts):
        lo, hi = part_rows(n, p, n_parts)
        xt = np.empty((D, BLOCK))
        terms_all = np.empty((K + 1, BLOCK))
        xg = np.empty((Dg, BLOCK))
        dg = np.empty((Dg, BLOCK))
        rdg = np.empty((Dg, BLOCK))
        for start in range(lo, hi, BLOCK):
            m = min(BLOCK, hi - start)
            load_product_block(X, start, m, kinds, cat_sizes, marginalize, xt)
            load_posteriors(post, start, m, terms_all, K)
            for k in range(K):
                nk[p, k] += terms_all[k, :m].sum()
            accumulate_moments(xt, m, terms_all, kinds, cat_offsets, shift, marginalize, linear, g_cols, g_shift,
                               xg, dg, rdg, nobs[p], s1[p], s2[p], counts[p], g_s1[p], g_s2[p])
    return nk, nobs, s1, s2, counts, g_s1, g_s2
