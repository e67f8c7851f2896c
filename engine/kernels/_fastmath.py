"""Branch-free elementary functions that LLVM vectorises.

Numba lowers ``np.exp``/``math.exp`` to scalar libm calls (no SVML here), which caps a K-component
log-sum-exp at a few hundred million exps per second. These versions work on a contiguous block with no
branches in the loop body, so the loop is SIMD-vectorised: range reduction by ln 2, a Horner polynomial,
and the power of two assembled from integer bits.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._config import SERIAL


@intrinsic
def int64_bits_as_float64(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (an LLVM bitcast: free, and it vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def float64_bits_as_int64(typingctx, x):
    """Reinterpret a float64's bits as an int64 (the inverse bitcast)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# below this, exp underflows to (sub)normal values that cannot change a sum of terms >= 1
_EXP_LO = -708.0
_EXP_HI = 709.0
_INF_BITS = np.int64(0x7FF0000000000000)


@njit(inline="always", **SERIAL)
def exp_poly(r):
    """e**r for |r| <= ln(2)/2: degree-12 Taylor polynomial (truncation error below 1e-17)."""
    return exp_series_quotient(r) * r + 1.0


@njit(inline="always", **SERIAL)
def exp_series_quotient(r):
    """(e**r - 1) / r by its Taylor polynomial (degree 11): ``exp_poly`` adds the leading 1, expm1 does not
    (so small r keep every digit)."""
    p = 2.08767569878680989792e-09
    p = p * r + 2.50521083854417187751e-08
    p = p * r + 2.75573192239858906526e-07
    p = p * r + 2.75573192239858906526e-06
    p = p * r + 2.48015873015873015873e-05
    p = p * r + 1.98412698412698412698e-04
    p = p * r + 1.38888888888888888889e-03
    p = p * r + 8.33333333333333333333e-03
    p = p * r + 4.16666666666666666667e-02
    p = p * r + 1.66666666666666666667e-01
    p = p * r + 0.5
    return p * r + 1.0


@njit(inline="always", **SERIAL)
def fast_exp(x):
    """e**x, branch-free so loops calling it vectorise: range reduction by ln 2, the polynomial, and 2**k
    assembled from its exponent bits. Relative error below 5e-16 on [-708, 709]; below -708 gives 0 (the
    subnormal range is flushed) and above 709 gives inf (so it is not for (709, 709.78], where exp is
    still finite: the log-sum-exp only calls it on arguments <= 0). NaN is not expected (callers validate)."""
    xc = min(max(x, _EXP_LO), _EXP_HI)
    k = np.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    bits = (np.int64(k) + 1023) << 52
    bits = np.int64(0) if x < _EXP_LO else bits
    bits = _INF_BITS if x > _EXP_HI else bits
    return exp_poly(r) * int64_bits_as_float64(bits)


_SQRT2 = 1.4142135623730951
_LN2 = 0.6931471805599453
_MANT_MASK = np.int64(0x000FFFFFFFFFFFFF)
_EXP_ONE = np.int64(0x3FF0000000000000)


@njit(inline="always", **SERIAL)
def fast_log(x):
    """log(x) for a positive normal float64, branch-free (so loops calling it vectorise).

    x = 2**e * f with f in [sqrt(1/2), sqrt(2)); log f = 2 atanh(s), s = (f - 1)/(f + 1), |s| < 0.172,
    by its odd series to s**21 (relative error below 1e-16).
    """
    b = float64_bits_as_int64(x)
    f = int64_bits_as_float64((b & _MANT_MASK) | _EXP_ONE)  # mantissa as a float in [1, 2)
    e = np.float64((b >> 52) - 1023)
    big = f > _SQRT2
    f = f * 0.5 if big else f
    e = e + 1.0 if big else e
    return e * _LN2 + atanh_log_series((f - 1.0) / (f + 1.0))


@njit(inline="always", **SERIAL)
def atanh_log_series(s):
    """log((1 + s)/(1 - s)) = 2 atanh(s) for |s| < 0.172: the odd series to s**21 (relative error below 1e-16)."""
    s2 = s * s
    p = 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return 2.0 * s * p


@njit(**SERIAL)
def log_block(x, out, m):
    """out[:m] = log(x[:m]) for positive normal float64 x (a vectorised loop over ``fast_log``)."""
    for i in range(m):
        out[i] = fast_log(x[i])


_TWO_PI = 6.283185307179586
# cos and sin of j sixteenths of a turn, j = 0..15, correctly rounded (exact 0 and +-1 at the quarters)
_C1, _S1, _H = 0.9238795325112867, 0.3826834323650898, 0.7071067811865476  # cos, sin pi/8; sqrt(2)/2
TURN16_COS = np.array([1.0, _C1, _H, _S1, 0.0, -_S1, -_H, -_C1, -1.0, -_C1, -_H, -_S1, 0.0, _S1, _H, _C1])
TURN16_SIN = np.array([0.0, _S1, _H, _C1, 1.0, _C1, _H, _S1, 0.0, -_S1, -_H, -_C1, -1.0, -_C1, -_H, -_S1])
#: sin a = a + a**3 S(a**2), cos a = 1 + a**2 C(a**2): the Taylor coefficients of S and C, highest first (signs
#: included, so Horner's steps are plain multiply-adds); the next terms are below 1e-19 and 7e-18 at |a| = pi/16
SIN_TAYLOR = (-1.0 / 39916800.0, 1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0)
COS_TAYLOR = (-1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0, -0.5)


@njit(inline="always", **SERIAL)
def sincos_turns(t):
    """(cos(2 pi t), sin(2 pi t)) for t in [0, 1], branch-free.

    t is split exactly into j sixteenths of a turn, j = rint(16 t), and f = t - j/16 in [-1/32, 1/32];
    a = 2 pi f in [-pi/16, pi/16] goes through Taylor polynomials to degree 11/10 (truncation below 1e-17),
    and the angle sum with the tabulated cos and sin of j/16 turn gives the result (error ~1 ulp of 1).
    Against a quadrant reduction and degree-17/16 polynomials this saves the quadrant's sign logic and
    6 multiply-adds (``_simd._sincos_turns``: about 23 vector operations instead of 45).
    """
    j = np.rint(t * 16.0)
    a = (t - j * 0.0625) * _TWO_PI
    a2 = a * a
    ps = SIN_TAYLOR[0]
    ps = ps * a2 + SIN_TAYLOR[1]
    ps = ps * a2 + SIN_TAYLOR[2]
    ps = ps * a2 + SIN_TAYLOR[3]
    ps = ps * a2 + SIN_TAYLOR[4]
    sa = a + (a * a2) * ps
    pc = COS_TAYLOR[0]
    pc = pc * a2 + COS_TAYLOR[1]
    pc = pc * a2 + COS_TAYLOR[2]
    pc = pc * a2 + COS_TAYLOR[3]
    pc = pc * a2 + COS_TAYLOR[4]
    ca = 1.0 + a2 * pc
    i = np.int64(j) & 15
    c16 = TURN16_COS[i]
    s16 = TURN16_SIN[i]
    return c16 * ca - s16 * sa, s16 * ca + c16 * sa


@njit(**SERIAL)
def sincos_turns_block(t, c, s, m):
    """c[:m], s[:m] = cos(2 pi t[:m]), sin(2 pi t[:m]) (a vectorised loop over ``sincos_turns``)."""
    for i in range(m):
        c[i], s[i] = sincos_turns(t[i])
