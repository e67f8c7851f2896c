"""Small dense linear algebra on blocks of points stored coordinate-major ((D, N): row l = coordinate l).

Used by the mixture kernels (x @ U with U the upper-triangular precision Cholesky factor) and the sampler
(mean + L z with L^T upper triangular), so both share one register-tiled loop nest.
"""
from numba import njit

from ._config import SERIAL


@njit(inline="always", **SERIAL)
def upper_triangular_map(A, bias, use_bias, src, dst, c0, r):
    """dst[j, c0:c0+r] = bias[j] (if use_bias) + sum_{l <= j} A[l, j] * src[l, c0:c0+r] for all j < D.

    A: (D, D) upper triangular (entries below the diagonal are never read); src, dst: (D, >= c0 + r),
    distinct arrays. Output rows go four at a time against four input rows per pass (a 4 x 4 tile: 16
    FMAs per 4 loads of src and 4 loads/stores of dst, vectorised over the r points); the last D % 4 rows
    take one row per pass.
    """
    D = A.shape[0]
    D4 = D - D % 4
    for j0 in range(0, D4, 4):
        y0 = dst[j0, c0:c0 + r]
        y1 = dst[j0 + 1, c0:c0 + r]
        y2 = dst[j0 + 2, c0:c0 + r]
        y3 = dst[j0 + 3, c0:c0 + r]
        for l0 in range(0, j0 + 1, 4):
            x0 = src[l0, c0:c0 + r]
            x1 = src[l0 + 1, c0:c0 + r]
            x2 = src[l0 + 2, c0:c0 + r]
            x3 = src[l0 + 3, c0:c0 + r]
            diag = l0 == j0  # the tile on the diagonal: A[l0 + s, j0 + t] = 0 for s > t
            a00 = A[l0, j0]
            a10 = 0.0 if diag else A[l0 + 1, j0]
            a20 = 0.0 if diag else A[l0 + 2, j0]
            a30 = 0.0 if diag else A[l0 + 3, j0]
            a01 = A[l0, j0 + 1]
            a11 = A[l0 + 1, j0 + 1]
            a21 = 0.0 if diag else A[l0 + 2, j0 + 1]
            a31 = 0.0 if diag else A[l0 + 3, j0 + 1]
            a02 = A[l0, j0 + 2]
            a12 = A[l0 + 1, j0 + 2]
            a22 = A[l0 + 2, j0 + 2]
            a32 = 0.0 if diag else A[l0 + 3, j0 + 2]
            a03 = A[l0, j0 + 3]
            a13 = A[l0 + 1, j0 + 3]
            a23 = A[l0 + 2, j0 + 3]
            a33 = A[l0 + 3, j0 + 3]
            if l0 == 0:
                b0 = bias[j0] if use_bias else 0.0
                b1 = bias[j0 + 1] if use_bias else 0.0
                b2 = bias[j0 + 2] if use_bias else 0.0
                b3 = bias[j0 + 3] if use_bias else 0.0
                for i in range(r):
                    v0 = x0[i]
                    v1 = x1[i]
                    v2 = x2[i]
                    v3 = x3[i]
                    y0[i] = b0 + a00 * v0 + a10 * v1 + a20 * v2 + a30 * v3
                    y1[i] = b1 + a01 * v0 + a11 * v1 + a21 * v2 + a31 * v3
                    y2[i] = b2 + a02 * v0 + a12 * v1 + a22 * v2 + a32 * v3
                    y3[i] = b3 + a03 * v0 + a13 * v1 + a23 * v2 + a33 * v3
            else:
                for i in range(r):
                    v0 = x0[i]
                    v1 = x1[i]
                    v2 = x2[i]
                    v3 = x3[i]
                    y0[i] += a00 * v0 + a10 * v1 + a20 * v2 + a30 * v3
                    y1[i] += a01 * v0 + a11 * v1 + a21 * v2 + a31 * v3
                    y2[i] += a02 * v0 + a12 * v1 + a22 * v2 + a32 * v3
                    y3[i] += a03 * v0 + a13 * v1 + a23 * v2 + a33 * v3
    for j in range(D4, D):
        yj = dst[j, c0:c0 + r]
        for l0 in range(0, j + 1, 4):
            # four input rows per pass; rows past j get a zero coefficient (and re-read row j)
            a0 = A[l0, j]
            a1 = A[l0 + 1, j] if l0 + 1 <= j else 0.0
            a2 = A[l0 + 2, j] if l0 + 2 <= j else 0.0
            a3 = A[l0 + 3, j] if l0 + 3 <= j else 0.0
            x0 = src[l0, c0:c0 + r]
            x1 = src[min(l0 + 1, j), c0:c0 + r]
            x2 = src[min(l0 + 2, j), c0:c0 + r]
            x3 = src[min(l0 + 3, j), c0:c0 + r]
            if l0 == 0:
                b = bias[j] if use_bias else 0.0
                for i in range(r):
                    yj[i] = b + a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i]
            else:
                for i in range(r):
                    yj[i] += a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i]
