"""Counter-based sampling: reproducible for a seed at any thread count.

Random numbers come from SplitMix64 (Steele, Lea & Flood 2014; the generator behind Java's
SplittableRandom, which passes BigCrush) used as a counter-based generator: the u-th 64-bit word of the
stream keyed by ``key`` is mix(key + (u + 1) * GAMMA). A value therefore depends only on (key, u) and not on
which thread computes it or in what order, so parallel output is bit-identical at 1 or N threads.

Point i of a D-dimensional sample uses words [i * S, (i + 1) * S) with S = 1 + 2 * ceil(D / 2): one word
picks the mixture component, two words per pair of standard normals (Box-Muller with 53-bit uniforms, so
the tails are exact out to sqrt(-2 ln 2**-53) = 8.57 sigma).
"""
import math

import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, PARALLEL, SERIAL

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 6.283185307179586
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
def normal_pair(key, u):
    """Two independent standard normals from words u and u + 1 (Box-Muller)."""
    r = math.sqrt(-2.0 * math.log(uniform_open(key, u)))
    t = _TWO_PI * uniform_open(key, u + np.uint64(1))
    return r * math.cos(t), r * math.sin(t)


@njit(inline="always", **SERIAL)
def _fill_normals(key, base, z):
    D = z.shape[0]
    for j in range(0, D, 2):
        a, b = normal_pair(key, base + np.uint64(j))
        z[j] = a
        if j + 1 < D:
            z[j + 1] = b


@njit(**PARALLEL)
def normal_sample(key, offset, loc, scale, out):
    """out[i] = loc + scale * z where z is standard normal number offset + i of stream ``key``."""
    n = out.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            g = np.uint64(offset + i)
            a, b = normal_pair(key, (g >> np.uint64(1)) << np.uint64(1))
            out[i] = loc + scale * (a if (g & np.uint64(1)) == 0 else b)


@njit(**PARALLEL)
def mixture_sample(key, offset, cum_weights, means, cov_chol, out, labels):
    """Draw out.shape[0] points from a Gaussian mixture; point i is point ``offset + i`` of the stream.

    cum_weights: (K,) cumulative weights; means: (K, D); cov_chol: lower Cholesky factors of the
    covariances, (P, D, D) with P = K (full) or 1 (tied), or standard deviations (K, D) (diag/spherical).
    out: (n, D) float32/float64; labels: (n,) int64, i.i.d. component draws (not grouped by component).
    """
    n, D = out.shape
    K = means.shape[0]
    stride = np.uint64(1 + 2 * ((D + 1) // 2))
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        z = np.empty(D)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            base = np.uint64(offset + i) * stride
            u = uniform_open(key, base) - _U53  # [0, 1)
            k = 0
            while k < K - 1 and u >= cum_weights[k]:
                k += 1
            labels[i] = k
            _fill_normals(key, base + np.uint64(1), z)
            if cov_chol.ndim == 3:
                p = k if cov_chol.shape[0] == K else 0
                for j in range(D):
                    acc = means[k, j]
                    for l in range(j + 1):
                        acc += cov_chol[p, j, l] * z[l]
                    out[i, j] = acc
            else:
                for j in range(D):
                    out[i, j] = means[k, j] + cov_chol[k, j] * z[j]
