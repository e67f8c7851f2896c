"""One compiled specialisation per kernel: inputs that are not float64, C-contiguous and writeable are staged.

Numba compiles a kernel once per argument type, and float32, read-only (memory-mapped, Arrow zero-copy) and
non-contiguous arrays are all different types: each cost a full compile of the mixture kernels (10-20 s
apiece on 2 cores, measured) and one more entry in the on-disk cache. The heavy kernels are therefore only
ever called with float64 C-contiguous writeable arrays. Other inputs are copied into a reused float64
buffer ``STAGE_ROWS`` rows at a time: bounded extra memory (4 MiB at D = 8), and for the mixture kernels a
cost that is small next to their K x D^2 work per point (float32 scoring: see docs/ARCHITECTURE.md).
"""
import numpy as np

#: rows per staged chunk (a multiple of the kernels' CHUNK, so staging does not change their blocking)
STAGE_ROWS = 1 << 16


def kernel_ready(X):
    """Whether X can go to a kernel as it is (the one specialisation every kernel is compiled for)."""
    return X.dtype == np.float64 and X.flags.c_contiguous and X.flags.writeable and X.flags.aligned


def staged_rows(X, rows=STAGE_ROWS):
    """Yield (start, chunk): X[start:start + len(chunk)] as float64, C-contiguous and writeable, in one
    reused buffer (so a consumer must be done with a chunk before asking for the next)."""
    n = X.shape[0]
    buffer = np.empty((min(rows, n),) + X.shape[1:], dtype=np.float64)
    for start in range(0, n, rows):
        m = min(rows, n - start)
        chunk = buffer[:m]
        chunk[...] = X[start:start + m]
        yield start, chunk


def as_kernel_vector(v):
    """A 1-D float64 parameter/weight vector in the kernels' one layout (copies only when needed)."""
    return v if kernel_ready(v) else np.array(v, dtype=np.float64, order="C")
