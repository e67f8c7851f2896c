"""Branch-free elementary functions that LLVM vectorises.

Numba lowers ``np.exp``/``math.exp`` to scalar libm calls (no SVML here), which caps a K-component
log-sum-exp at a few hundred million exps per second. These versions work on a contiguous block with no
branches in the loop body, so the loop is SIMD-vectorised: range reduction by ln 2, a Horner polynomial,
and the power of two assembled from integer bits.
"""
import numpy as np
from numba import njit

from ._config import SERIAL

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# below this, exp underflows to (sub)normal values that cannot change a sum of terms >= 1
_EXP_LO = -708.0
_EXP_HI = 709.0


@njit(inline="always", **SERIAL)
def exp_poly(r):
    """e**r for |r| <= ln(2)/2: degree-12 Taylor polynomial, relative error below 2e-16."""
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
    p = p * r + 1.0
    return p * r + 1.0


@njit(**SERIAL)
def exp_block(x, out, pow2, m):
    """out[:m] = exp(x[:m]) for float64 blocks; ``pow2`` is an int64 scratch of the same length.

    Inputs below -708 give 0 and above 709 give inf (so -inf -> 0); NaN is not expected (callers validate).
    """
    scale = pow2.view(np.float64)
    for i in range(m):
        xi = min(max(x[i], _EXP_LO), _EXP_HI)
        k = np.floor(xi * _LOG2E + 0.5)
        r = (xi - k * _LN2_HI) - k * _LN2_LO
        pow2[i] = (np.int64(k) + 1023) << 52
        out[i] = exp_poly(r)
    for i in range(m):
        v = out[i] * scale[i]
        v = 0.0 if x[i] < _EXP_LO else v
        out[i] = np.inf if x[i] > _EXP_HI else v
