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

from . import _simd
from ._blocklinalg import upper_triangular_map
from ._config import CHUNK, PARALLEL, SERIAL
from ._fastmath import fast_log, sincos_turns

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
def box_muller(key, w):
    """The standard normal pair (r cos 2 pi t, r sin 2 pi t), r = sqrt(-2 log u), from words w (for u) and
    w + 1 (for t) of stream ``key``. Scalar and branch-free: a loop over it vectorises as one fused pass."""
    r = np.sqrt(-2.0 * fast_log(uniform_open(key, w)))
    c, s = sincos_turns(uniform_open(key, w + np.uint64(1)))
    return r * c, r * s


_PAIR_WORDS = np.uint64(2)
_STEP_WORDS = np.uint64(2 * _simd.LANES)  # normal_sample: the 16 words of one step's 8 pairs


@njit(**PARALLEL)
def normal_sample(key, offset, loc, scale, out):
    """out[i] = loc + scale * z, z the standard normal number ``offset + i`` of stream ``key``.

    Normal number g is the (g % 2)-th member of the Box-Muller pair built from words 2 (g // 2) and
    2 (g // 2) + 1. ``offset`` must be even (streams are continued in whole pairs).
    """
    n = out.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        c_stop = min(n, (c + 1) * CHUNK)
        # 16 normals (8 pairs, lane-wise) per step, 4 steps in lockstep; chunks start at multiples of 64, so
        # a normal's words never depend on the chunking (steps past c_stop store nothing)
        for start in range(c * CHUNK, c_stop, 8 * _simd.LANES):
            z = _simd.vec8_box_muller_steps(key, np.uint64(offset + start), _STEP_WORDS, _PAIR_WORDS, 4)
            if c_stop - start >= 8 * _simd.LANES:
                # a whole step: a constant count, so the stores' masks fold away
                for i in range(4):
                    s = start + 2 * _simd.LANES * i
                    _simd.vec8_store_pairs(out, s, 2 * _simd.LANES, loc, scale, z[2 * i], z[2 * i + 1])
            else:
                for i in range(4):
                    s = start + 2 * _simd.LANES * i
                    _simd.vec8_store_pairs(out, s, c_stop - s, loc, scale, z[2 * i], z[2 * i + 1])


def mixture_sample(key, offset, cum_weights, means, cov_chol_t, out, labels):
    """Draw out.shape[0] points from a Gaussian mixture; point i is point ``offset + i`` of the stream.

    cum_weights: (K,) cumulative weights; means: (K, D); cov_chol_t: the *transposed* lower Cholesky
    factors L^T (P, D, D), P = K (full) or 1 (tied; entries below the diagonal are never used), or standard
    deviations (K, D) (diag/spherical). out: (n, D) float32/float64; labels: (n,) int64, i.i.d. component
    draws; x = mean_k + L_k z.

    D <= 8 goes point by point in 8-lane vectors (``_mixture_sample_rows8``), any other D through the tiled
    kernel (``mixture_sample_tiled``). The choice depends on D alone (an output whose rows are not
    contiguous is filled through a contiguous one), so a stream's points are the same whatever the output
    or the offset it is drawn at.
    """
    n, D = out.shape
    key = np.uint64(key)
    cum_weights = np.ascontiguousarray(cum_weights, dtype=np.float64)
    if D > _simd.LANES:
        mixture_sample_tiled(key, offset, cum_weights, np.ascontiguousarray(means, dtype=np.float64),
                             np.ascontiguousarray(cov_chol_t, dtype=np.float64), out, labels)
        return
    K = means.shape[0]
    # parameters padded to 8 lanes with zeros (and the factors' lower triangles zeroed), so every row is
    # one aligned vector load and the padding lanes add nothing
    means8 = np.zeros((K, _simd.LANES))
    means8[:, :D] = means
    if cov_chol_t.ndim == 3:
        # one factor per component (tied: the shared one repeated, 512 bytes each)
        factors8 = np.zeros((K, _simd.LANES, _simd.LANES))
        factors8[:, :D, :D] = np.triu(cov_chol_t)
        factors8 = factors8.reshape(-1, _simd.LANES)
    else:
        factors8 = np.zeros((K, _simd.LANES))
        factors8[:, :D] = cov_chol_t
    direct = out.dtype in (np.float64, np.float32) and out.flags.c_contiguous
    X = out if direct else np.empty(out.shape)
    L = labels if labels.flags.c_contiguous else np.empty(n, dtype=np.int64)
    thresholds = np.full(15, np.inf)  # the first K - 1 cumulative weights, for K <= 16
    thresholds[:min(K - 1, 15)] = cum_weights[:min(K - 1, 15)]
    _mixture_sample_rows8(key, offset, cum_weights, thresholds, means8, factors8, cov_chol_t.ndim == 3, X, L)
    if X is not out:
        out[...] = X
    if L is not labels:
        labels[...] = L


@njit(inline="always", **SERIAL)
def _store_normals(zt, normals):
    """zt[l, :] = normals[l]: row l, coordinate l of the group's 8 points."""
    for l in range(len(normals)):
        _simd.vec8_store_at(zt, l, 0, _simd.LANES, normals[l])


@njit(**PARALLEL)
def _mixture_sample_rows8(key, offset, cum_weights, thresholds, means8, factors8, dense, out, labels):
    """``mixture_sample`` for D <= 8, eight points at a time.

    means8: (K, 8) and factors8: (K * 8, 8) (row 8 k + l: row l of L_k^T) or (K, 8) standard deviations,
    zero-padded; dense: factors8 holds factors; thresholds: (15,) the first K - 1 cumulative weights padded
    with +inf. The group's component uniforms and Box-Muller pairs are 8-lane vectors (lane b = point b,
    ``_simd.vec8_uniform``/``vec8_box_muller_steps``), the components the number of cumulative weights <= u (a
    4-level search over thresholds for K <= 16, a count above); ``_simd.vec8_mixture_points8`` then maps
    each point (x = mean_k + L_k z, or mean_k + s_k z) and stores its row. Every point runs the same vector
    code (a chunk's last points as masked lanes), so a point's numbers depend only on (key, its index)."""
    n, D = out.shape
    K = means8.shape[0]
    n_pairs = (D + 1) // 2
    stride = np.uint64(1 + 2 * n_pairs)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        # row l: coordinate l of the group's points (rows >= 2 n_pairs stay 0)
        zt = np.zeros((_simd.LANES, _simd.LANES))
        lo = c * CHUNK
        m = min(CHUNK, n - lo)
        for g in range(0, m, _simd.LANES):
            gm = min(_simd.LANES, m - g)
            base = np.uint64(offset + lo + g) * stride
            # component: the number of cumulative weights <= u, u uniform in [0, 1)
            u = _simd.vec8_sub_scalar(_simd.vec8_uniform(key, base, stride), _U53)
            if K <= 16:
                count = _simd.vec8_count_at_most16(u, thresholds)
            else:
                count = _simd.vec8_fill(0.0)
                for k in range(K - 1):
                    count = _simd.vec8_add(count, _simd.vec8_at_least(u, cum_weights[k]))
            _simd.vec8_store_at(labels, 0, lo + g, gm, count)
            # the point's Box-Muller pairs in lockstep, 4 (D = 5-8), 2 (D = 3, 4) or 1 at a time: for D = 5, 6
            # the fourth pair's words are the next point's, and its normals meet only the zero padding
            if n_pairs > 2:
                _store_normals(zt, _simd.vec8_box_muller_steps(key, base + np.uint64(1), _PAIR_WORDS, stride, 4))
            elif n_pairs == 2:
                _store_normals(zt, _simd.vec8_box_muller_steps(key, base + np.uint64(1), _PAIR_WORDS, stride, 2))
            else:
                _store_normals(zt, _simd.vec8_box_muller_steps(key, base + np.uint64(1), _PAIR_WORDS, stride, 1))
            _simd.vec8_mixture_points8(zt, count, means8, factors8, dense, out, lo + g, gm)


@njit(**PARALLEL)
def mixture_sample_tiled(key, offset, cum_weights, means, cov_chol_t, out, labels):
    """``mixture_sample`` for any D and any output strides.

    cum_weights: (K,) cumulative weights; means: (K, D); cov_chol_t: the *transposed* lower Cholesky
    factors of the covariances, L^T with shape (P, D, D), P = K (full) or 1 (tied), or standard deviations
    (K, D) (diag/spherical). out: (n, D) float32/float64; labels: (n,) int64, i.i.d. component draws (not
    grouped by component); x = mean_k + L_k z.

    Full/tied: each chunk's points are counting-sorted by component and their normals generated in that
    order (a point's words depend only on its index, so the order changes nothing), so the transform runs
    as vector loops over each component's run of points with that component's factor held as scalars; the
    rows are then written back in point order. Diag/spherical need no sort.
    """
    n, D = out.shape
    K = means.shape[0]
    n_pairs = (D + 1) // 2
    stride = np.uint64(1 + 2 * n_pairs)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        zt = np.empty((2 * n_pairs, CHUNK))  # row l: coordinate l of the sorted points
        # row j: coordinate j of the sorted points' samples; rows padded by a cache line so the D reads of a
        # point do not all fall in one L1 set (rows 16 KiB apart would)
        yt = np.empty((D, CHUNK + 8))
        u = np.empty(CHUNK)
        comp = np.empty(CHUNK, dtype=np.int64)
        order = np.empty(CHUNK, dtype=np.int64)  # sorted position -> point of the chunk
        rank = np.empty(CHUNK, dtype=np.int64)  # its inverse
        first = np.zeros(K + 1, dtype=np.int64)  # component k's run: [first[k], first[k + 1])
        fill = np.empty(K, dtype=np.int64)
        lo = c * CHUNK
        m = min(CHUNK, n - lo)
        base = np.uint64(offset + lo) * stride
        # component: the number of cumulative weights <= u, u uniform in [0, 1) (branch-free)
        for b in range(m):
            u[b] = uniform_open(key, base + np.uint64(b) * stride) - _U53
            comp[b] = 0
        for k in range(K - 1):
            ck = cum_weights[k]
            for b in range(m):
                comp[b] += u[b] >= ck
        if cov_chol_t.ndim == 2:
            # diagonal: coordinates transform independently, so no sort; normals in point order, and the
            # write-back reads the sample rows sequentially
            for j in range(n_pairs):
                w0 = base + np.uint64(1 + 2 * j)
                za = zt[2 * j]
                zb = zt[2 * j + 1]
                for b in range(m):
                    za[b], zb[b] = box_muller(key, w0 + np.uint64(b) * stride)
            out_c = out[lo:lo + m]
            labels_c = labels[lo:lo + m]
            D8 = D - D % 8
            for b in range(m):
                k = comp[b]
                row = out_c[b]
                mk = means[k]
                sk = cov_chol_t[k]
                for j0 in range(0, D8, 8):
                    for t in range(8):  # a fixed trip count, which LLVM unrolls (D is a runtime value)
                        row[j0 + t] = mk[j0 + t] + sk[j0 + t] * zt[j0 + t, b]
                for j in range(D8, D):
                    row[j] = mk[j] + sk[j] * zt[j, b]
                labels_c[b] = k
            continue
        # full/tied: counting sort by component
        for b in range(m):
            first[comp[b] + 1] += 1
        for k in range(K):
            first[k + 1] += first[k]
            fill[k] = first[k]
        for b in range(m):
            k = comp[b]
            order[fill[k]] = b
            rank[b] = fill[k]
            fill[k] += 1
        # standard normals of the sorted points
        for j in range(n_pairs):
            w0 = base + np.uint64(1 + 2 * j)
            za = zt[2 * j]
            zb = zt[2 * j + 1]
            for i in range(m):
                za[i], zb[i] = box_muller(key, w0 + np.uint64(order[i]) * stride)
        # the affine map, one component's run at a time (scalars of its factor broadcast over the run)
        for k in range(K):
            r0 = first[k]
            r = first[k + 1] - r0
            if r == 0:
                continue
            p = k if cov_chol_t.shape[0] == K else 0
            # x_j = mu_j + sum_{l <= j} L[j, l] z_l, with L^T upper triangular
            upper_triangular_map(cov_chol_t[p], means[k], True, zt, yt, r0, r)
        # rows back in point order: writing out sequentially (reading yt scattered) is the faster way round
        out_c = out[lo:lo + m]
        labels_c = labels[lo:lo + m]
        D8 = D - D % 8
        for b in range(m):
            i = rank[b]
            row = out_c[b]
            # eight coordinates at a time with a fixed trip count, which LLVM unrolls (D is a runtime value)
            for j0 in range(0, D8, 8):
                for t in range(8):
                    row[j0 + t] = yt[j0 + t, i]
            for j in range(D8, D):
                row[j] = yt[j, i]
            labels_c[b] = comp[b]
