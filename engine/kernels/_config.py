"""Compilation settings shared by every CPU kernel.

``fastmath=True`` would include ``nnan``/``ninf`` and let LLVM assume that no value is ``-inf``; log-densities
are ``-inf`` legitimately (zero mixture weights, far tails), so only the flags that keep inf/nan semantics
are enabled: reassociation (vectorised reductions), contraction (FMA), reciprocal approximation and
no-signed-zeros.
"""

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

#: options for data-parallel kernels
PARALLEL = dict(parallel=True, nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
#: options for serial helpers (inlined into the parallel kernels)
SERIAL = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")

#: points per register/L1-sized block inside a kernel: the block's component terms live in a
#: (K, BLOCK) thread-local scratch, never an n x K array
BLOCK = 128
#: blocks per parallel work item; the chunking is fixed (independent of the thread count), so results
#: are bit-identical at any number of threads
BLOCKS_PER_CHUNK = 16
CHUNK = BLOCK * BLOCKS_PER_CHUNK
