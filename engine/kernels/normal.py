"""Log-density of the univariate Normal: a memory-bound streaming kernel."""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL, SERIAL
from ._simd import (lanes_to_line, stream_fence, vec8_fill, vec8_fma, vec8_lane, vec8_load_any, vec8_mul,
                    vec8_store_at, vec8_stream_at)
from .gaussian import first_bad_row

_HALF_LOG_2PI = 0.9189385332046727
#: points per parallel work item: each point's value is independent of the others, so the split only has to
#: amortise the scheduling of a work item (64 Ki points: 0.5 MiB read per item; 2,048 cost ~20% at 10M)
SPAN = 1 << 16


#: caller-owned outputs of at least this many bytes are written with non-temporal stores (whole lines straight
#: to memory: an output far larger than the cache is not read in before it is overwritten, a third less
#: traffic); smaller ones stay in the cache for whatever reads them next. A new output is never streamed: its
#: pages are zeroed through the cache as they fault in, so ordinary stores then hit (streamed, 10M float64
#: went 9.7 -> 11.9 ms)
STREAM_BYTES = 1 << 24


@njit(inline="always", **SERIAL)
def _log_density_run(x, out, lo, hi, scale_v, shift_v, half_v, const_v, poison):
    """out[lo:hi] with ordinary stores, 8 lanes at a time (the last group masked: the full ones have
    constant masks, which compile to plain loads and stores); returns poison plus x * 0 (NaN lanes where x
    held NaN/inf)."""
    i = lo
    while i + 8 <= hi:
        values, poison = _log_density_lanes(x, i, 8, scale_v, shift_v, half_v, const_v, poison)
        vec8_store_at(out, 0, i, 8, values)
        i += 8
    if i < hi:
        values, poison = _log_density_lanes(x, i, hi - i, scale_v, shift_v, half_v, const_v, poison)
        vec8_store_at(out, 0, i, hi - i, values)
    return poison


@njit(inline="always", **SERIAL)
def _log_density_lanes(x, i, m, scale_v, shift_v, half_v, const_v, poison):
    """(log N(x[i + b]) in lanes b < m, poison plus x * 0): the one arithmetic every element takes, streamed
    or not, so a value's bits do not depend on how it is stored."""
    xv = vec8_load_any(x, i, m)
    z = vec8_fma(xv, scale_v, shift_v)
    return vec8_fma(vec8_mul(z, half_v), z, const_v), vec8_fma(xv, vec8_fill(0.0), poison)


@njit(**PARALLEL)
def normal_log_density(x, loc, scale, out, reused=False):
    """out[i] = log N(x[i] | loc, scale**2) for x of shape (n,), float32 or float64 (any stride); out: (n,)
    C-contiguous, float32 or float64; ``reused``: out is a caller's buffer (already paged in), which is
    streamed when it holds ``STREAM_BYTES`` or more.

    Computed as (x/scale - loc/scale) so large |x| and large scales do not overflow where float64 can hold
    the answer, 8 values per vector step with the same fused arithmetic for every element (a value's bits
    do not depend on where it falls). A streamed output takes ``_simd``'s non-temporal stores past each
    span's first partial line. Returns the first index holding NaN/inf, or -1.
    """
    n = x.shape[0]
    inv = 1.0 / scale
    const = -_HALF_LOG_2PI - np.log(scale)
    scale_v = vec8_fill(inv)
    shift_v = vec8_fill(-loc * inv)
    half_v = vec8_fill(-0.5)
    const_v = vec8_fill(const)
    zero = vec8_fill(0.0)
    stream = reused and n * out.itemsize >= STREAM_BYTES and lanes_to_line(out, 0) >= 0
    n_chunks = (n + SPAN - 1) // SPAN
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        lo = c * SPAN
        hi = min(n, lo + SPAN)
        # streamed: the head up to the output's first 64-byte line (0-15 elements) with ordinary stores
        body = lo + min(hi - lo, lanes_to_line(out, lo)) if stream else hi
        poison = _log_density_run(x, out, lo, body, scale_v, shift_v, half_v, const_v, zero)
        i = body
        if stream:
            while i + 8 <= hi:
                values, poison = _log_density_lanes(x, i, 8, scale_v, shift_v, half_v, const_v, poison)
                vec8_stream_at(out, i, values)
                i += 8
            stream_fence()
            poison = _log_density_run(x, out, i, hi, scale_v, shift_v, half_v, const_v, poison)
        p = 0.0
        for b in range(8):
            p += vec8_lane(poison, b)
        if p != p:
            for j in range(lo, hi):
                if not np.isfinite(x[j]):
                    bad[c] = j
                    break
    return first_bad_row(bad)
