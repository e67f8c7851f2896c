"""Log-density of the univariate Normal: a memory-bound streaming kernel."""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL
from .gaussian import first_bad_row

_HALF_LOG_2PI = 0.9189385332046727
#: points per parallel work item: each point's value is independent of the others, so the split only has to
#: amortise the scheduling of a work item (64 Ki points: 0.5 MiB read per item; 2,048 cost ~20% at 10M)
SPAN = 1 << 16


@njit(**PARALLEL)
def normal_log_density(x, loc, scale, out):
    """out[i] = log N(x[i] | loc, scale**2) for x of shape (n,), float32 or float64.

    Computed as (x/scale - loc/scale) so large |x| and large scales do not overflow where float64 can hold
    the answer. Returns the first index holding NaN/inf, or -1.
    """
    n = x.shape[0]
    inv = 1.0 / scale
    shift = loc * inv
    const = -_HALF_LOG_2PI - np.log(scale)
    n_chunks = (n + SPAN - 1) // SPAN
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        lo = c * SPAN
        hi = min(n, lo + SPAN)
        # views indexed from 0: with a global index, Numba's negative-index wraparound blocks vectorisation
        x_c = x[lo:hi]
        out_c = out[lo:hi]
        poison = 0.0
        for i in range(hi - lo):
            v = np.float64(x_c[i])
            z = v * inv - shift
            out_c[i] = const - 0.5 * z * z
            poison += v * 0.0
        if poison != poison:
            for i in range(hi - lo):
                if not np.isfinite(x_c[i]):
                    bad[c] = lo + i
                    break
    return first_bad_row(bad)
