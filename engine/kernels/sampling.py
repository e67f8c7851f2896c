"""Counter-based sampling: reproducible for a seed at any thread count.

Random numbers come from SplitMix64 (Steele, Lea & Flood 2014; the generator behind Java's
SplittableRandom, which passes BigCrush) used as a counter-based generator: the u-th 64-bit word of the
stream keyed by ``key`` is mix(key + (u + 1) * GAMMA). A value therefore depends only on (key, u) and not on
which thread computes it or in what order, so parallel output is bit-identical at 1 or N threads.

Point i of a D-dimensional sample uses words [i * S, (i + 1) * S) with S = 1 + 2 * ceil(D / 2): one word
picks the mixture component, two words per pair of standard normals (Box-Muller with 53-bit uniforms, so
the tails are exact out to sqrt(-2 ln 2**-53) = 8.57 sigma).
"""
import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, PARALLEL, SERIAL
from ._fastmath import log_block, sincos_turns_block

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(inline="always", **SERIAL)
def splitmix64(key, u):
    """The u-th output word of the SplitMix64 stream starting at state ``key`` (uint64 arithmetic)."""
    z = key + (u + np.uint64(1)) * GAMMA
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always", **SERIAL)
def uniform_open(key, u):
    """A uniform float64 in (0, 1] with 53 random bits."""
    return (np.float64(splitmix64(key, u) >> np.uint64(11)) + 1.0) * _U53


@njit(inline="always", **SERIAL)
def normal_pairs_block(key, first_word, stride, m, za, zb, scratch, bits):
    """za[:m], zb[:m] = Box-Muller pairs from words (first_word + b*stride, +1), b < m.

    Vectorised: uniforms, log, sqrt and sin/cos all run over the block. ``scratch`` is (2, BLOCK)
    float64 and ``bits`` an int64 scratch of BLOCK.
    """
    u1 = scratch[0]
    u2 = scratch[1]
    for b in range(m):
        w = first_word + np.uint64(b) * stride
        u1[b] = uniform_open(key, w)
        u2[b] = uniform_open(key, w + np.uint64(1))
    log_block(u1, u1, bits, m)
    for b in range(m):
        u1[b] = np.sqrt(-2.0 * u1[b])
    sincos_turns_block(u2, za, zb, m)
    for b in range(m):
        za[b] *= u1[b]
        zb[b] *= u1[b]


@njit(**PARALLEL)
def normal_sample(key, offset, loc, scale, out):
    """out[i] = loc + scale * z, z the standard normal number ``offset + i`` of stream ``key``.

    Normal number g is the (g % 2)-th member of the Box-Muller pair built from words 2 (g // 2) and
    2 (g // 2) + 1. ``offset`` must be even (streams are continued in whole pairs).
    """
    n = out.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        za = np.empty(BLOCK // 2)
        zb = np.empty(BLOCK // 2)
        scratch = np.empty((2, BLOCK // 2))
        bits = np.empty(BLOCK // 2, dtype=np.int64)
        c_stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            n_pairs = (m + 1) // 2
            normal_pairs_block(key, np.uint64(offset + start), np.uint64(2), n_pairs, za, zb, scratch, bits)
            for p in range(m // 2):
                out[start + 2 * p] = loc + scale * za[p]
                out[start + 2 * p + 1] = loc + scale * zb[p]
            if m % 2:
                out[start + m - 1] = loc + scale * za[n_pairs - 1]


@njit(**PARALLEL)
def mixture_sample(key, offset, cum_weights, means, cov_chol_t, out, labels):
    """Draw out.shape[0] points from a Gaussian mixture; point i is point ``offset + i`` of the stream.

    cum_weights: (K,) cumulative weights; means: (K, D); cov_chol_t: the *transposed* lower Cholesky
    factors of the covariances, L^T with shape (P, D, D), P = K (full) or 1 (tied), or standard deviations
    (K, D) (diag/spherical). out: (n, D) float32/float64; labels: (n,) int64, i.i.d. component draws (not
    grouped by component). x = mean_k + L_k z is formed as sum_l z_l (L^T)[l, :], so each point's update
    runs along contiguous rows (vectorised over the D coordinates, no gathers).
    """
    n, D = out.shape
    K = means.shape[0]
    n_pairs = (D + 1) // 2
    stride = np.uint64(1 + 2 * n_pairs)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        z = np.empty((BLOCK, 2 * n_pairs))
        za = np.empty(BLOCK)
        zb = np.empty(BLOCK)
        x = np.empty(D)
        u = np.empty(BLOCK)
        comp = np.empty(BLOCK, dtype=np.int64)
        scratch = np.empty((2, BLOCK))
        bits = np.empty(BLOCK, dtype=np.int64)
        c_stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            base = np.uint64(offset + start) * stride
            # component: the number of cumulative weights <= u, u uniform in [0, 1) (branch-free)
            for b in range(m):
                u[b] = uniform_open(key, base + np.uint64(b) * stride) - _U53
                comp[b] = 0
            for k in range(K - 1):
                ck = cum_weights[k]
                for b in range(m):
                    comp[b] += u[b] >= ck
            for j in range(n_pairs):
                normal_pairs_block(key, base + np.uint64(1 + 2 * j), stride, m, za, zb, scratch, bits)
                for b in range(m):
                    z[b, 2 * j] = za[b]
                    z[b, 2 * j + 1] = zb[b]
            for b in range(m):
                k = comp[b]
                labels[start + b] = k
                if cov_chol_t.ndim == 3:
                    p = k if cov_chol_t.shape[0] == K else 0
                    for j in range(D):
                        x[j] = means[k, j]
                    for l in range(D):
                        zl = z[b, l]
                        # the full row (its first l entries are zeros): a fixed-length loop vectorises
                        for j in range(D):
                            x[j] += cov_chol_t[p, l, j] * zl
                    for j in range(D):
                        out[start + b, j] = x[j]
                else:
                    for j in range(D):
                        out[start + b, j] = means[k, j] + cov_chol_t[k, j] * z[b, j]
