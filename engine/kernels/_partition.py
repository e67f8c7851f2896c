"""The fixed row partition behind every data pass's partial sums: the determinism contract.

A pass over n rows splits them into ``part_count(n)`` parts, one per ``CHUNK`` rows and at most
``MAX_PARTS``, whatever the number of threads; part p covers rows ``part_rows(n, p, n_parts)``. Each part
accumulates its own partial sums, which are then reduced in part order, so results are bit-identical at 1
or N threads. Written once here because every kernel that reduces must agree on it.
"""
from numba import njit

from ._config import CHUNK, SERIAL

#: most parts a pass is split into (each holds its own partial sums)
MAX_PARTS = 64


@njit(inline="always", **SERIAL)
def part_count(n, rows_per_part=CHUNK):
    """Parts of a pass over n rows: one per ``rows_per_part`` rows (rounded up), at least 1, at most MAX_PARTS."""
    return max(1, min(MAX_PARTS, (n + rows_per_part - 1) // rows_per_part))


@njit(inline="always", **SERIAL)
def part_rows(n, p, n_parts):
    """Rows [lo, hi) of part p of n_parts over n rows (sizes differ by at most one)."""
    return (n * p) // n_parts, (n * (p + 1)) // n_parts
