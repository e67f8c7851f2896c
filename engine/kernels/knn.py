"""Exact k-nearest-neighbour distances: a k-d tree built serially, queried in parallel.

Why a k-d tree: the entropy and KL estimators need, for every one of n points, its k nearest neighbours in
n (or m) points, at the dimensions where such estimators are usable (D up to about 16); a tree answers each
query in O(log n) expected time, where a blocked brute force is O(n) per query (the GEMM identity makes that
fast per pair, but 10^12 pairs at n = 10^6 is still 10^12). Above D ~ 20 a tree degenerates towards brute
force; engine's estimators are not meaningful there anyway (their bias grows with D).

The tree: leaves of at most ``LEAF`` points; each node splits at the median of its widest bounding-box
dimension (quickselect, so the build is O(n log n)) and keeps its bounding box, which gives the pruning
bound (the squared distance from a query to a node's box). Points are stored in tree order, so a leaf is a
contiguous block of rows. Queries run in parallel over fixed chunks of query points; each keeps a sorted
array of its k best squared distances and a stack of nodes (nearer child first). Results do not depend on
the thread count (each query is independent). Distances are Euclidean.
"""
import numpy as np
from numba import njit, prange

from ._config import SERIAL

# no fastmath: the squared distance is summed coordinate by coordinate without FMA contraction or
# reassociation, so it is bit-identical to the NumPy twin's (the estimators take logs of these distances)
_EXACT_PARALLEL = dict(parallel=True, nogil=True, cache=True, error_model="numpy")

LEAF = 16
_QCHUNK = 256


@njit(**SERIAL)
def _select(idx, lo, hi, kth, X, dim):
    """Reorder idx[lo:hi] so that idx[kth] holds the point with the (kth - lo)-th smallest X[:, dim], those
    before it are <= and those after >= (Hoare's quickselect with median-of-three pivots)."""
    while hi - lo > 1:
        mid = (lo + hi - 1) // 2
        a, b, c = X[idx[lo], dim], X[idx[mid], dim], X[idx[hi - 1], dim]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi - 1
        while i <= j:
            while X[idx[i], dim] < pivot:
                i += 1
            while X[idx[j], dim] > pivot:
                j -= 1
            if i <= j:
                t = idx[i]
                idx[i] = idx[j]
                idx[j] = t
                i += 1
                j -= 1
        if kth <= j:
            hi = j + 1
        elif kth >= i:
            lo = i
        else:
            return


@njit(**SERIAL)
def build_tree(X, leaf):
    """(order, start, end, left, split_dim, split_val, box_lo, box_hi, n_nodes): ``order`` the tree order of the
    rows (X[order] is the tree's data); node t covers tree rows [start[t], end[t]); left[t] = -1 for a leaf,
    else its children are left[t] and left[t] + 1."""
    n, D = X.shape
    order = np.arange(n)
    # leaves hold more than leaf / 2 points (a node of more than leaf points splits in halves): at most
    # 2n / leaf leaves, and fewer than twice as many nodes
    max_nodes = 2 * (2 * n // max(leaf, 1) + 1) + 1
    start = np.zeros(max_nodes, dtype=np.int64)
    end = np.zeros(max_nodes, dtype=np.int64)
    left = np.full(max_nodes, -1, dtype=np.int64)
    split_dim = np.zeros(max_nodes, dtype=np.int64)
    split_val = np.zeros(max_nodes)
    box_lo = np.zeros((max_nodes, D))
    box_hi = np.zeros((max_nodes, D))
    stack = np.empty(max_nodes, dtype=np.int64)
    end[0] = n
    n_nodes = 1
    top = 0
    stack[top] = 0
    top += 1
    while top > 0:
        top -= 1
        t = stack[top]
        s, e = start[t], end[t]
        for j in range(D):
            box_lo[t, j] = np.inf
            box_hi[t, j] = -np.inf
        for p in range(s, e):
            r = order[p]
            for j in range(D):
                v = X[r, j]
                if v < box_lo[t, j]:
                    box_lo[t, j] = v
                if v > box_hi[t, j]:
                    box_hi[t, j] = v
        if e - s <= leaf:
            continue
        dim = 0
        width = -1.0
        for j in range(D):
            w = box_hi[t, j] - box_lo[t, j]
            if w > width:
                width = w
                dim = j
        if width <= 0.0:  # every point identical: a leaf, however large
            continue
        mid = (s + e) // 2
        _select(order, s, e, mid, X, dim)
        c = n_nodes
        n_nodes += 2
        left[t] = c
        split_dim[t] = dim
        split_val[t] = X[order[mid], dim]
        start[c], end[c] = s, mid
        start[c + 1], end[c + 1] = mid, e
        stack[top] = c
        stack[top + 1] = c + 1
        top += 2
    return order, start, end, left, split_dim, split_val, box_lo, box_hi, n_nodes


@njit(inline="always", nogil=True, cache=True, error_model="numpy")  # no fastmath: exact, as the twin
def _point_dist2(q, row, D):
    """Squared distance summed coordinate by coordinate (the twin's order; no fastmath in these kernels)."""
    d2 = 0.0
    for j in range(D):
        dv = q[j] - row[j]
        d2 = d2 + dv * dv
    return d2


@njit(inline="always", **SERIAL)
def _box_dist2(q, lo, hi, D):
    d2 = 0.0
    for j in range(D):
        v = q[j]
        t = max(lo[j] - v, v - hi[j], 0.0)
        d2 += t * t
    return d2


@njit(**_EXACT_PARALLEL)
def knn_query(T, order, start, end, left, split_dim, split_val, box_lo, box_hi, Q, k, exclude, out):
    """out[i, :] = the k smallest Euclidean distances from Q[i] to the tree's points (ascending).

    T: the tree's data in tree order (X[order]); exclude[i] >= 0 leaves out the tree point whose original
    row is exclude[i] (a point is not its own neighbour), -1 excludes nothing; pass a (0,) array for none.
    """
    m, D = Q.shape
    use_exclude = exclude.shape[0] > 0
    n_chunks = (m + _QCHUNK - 1) // _QCHUNK
    for ch in prange(n_chunks):
        best = np.empty(k)
        stack = np.empty(256, dtype=np.int64)
        for i in range(ch * _QCHUNK, min(m, (ch + 1) * _QCHUNK)):
            q = Q[i]
            skip = exclude[i] if use_exclude else -1
            for a in range(k):
                best[a] = np.inf
            top = 0
            stack[top] = 0
            top += 1
            while top > 0:
                top -= 1
                t = stack[top]
                if _box_dist2(q, box_lo[t], box_hi[t], D) >= best[k - 1]:
                    continue
                c = left[t]
                if c < 0:
                    for p in range(start[t], end[t]):
                        if order[p] == skip:
                            continue
                        d2 = _point_dist2(q, T[p], D)
                        if d2 < best[k - 1]:
                            a = k - 1
                            while a > 0 and best[a - 1] > d2:
                                best[a] = best[a - 1]
                                a -= 1
                            best[a] = d2
                    continue
                # the nearer child is pushed last, so it is searched first
                if q[split_dim[t]] < split_val[t]:
                    stack[top] = c + 1
                    stack[top + 1] = c
                else:
                    stack[top] = c
                    stack[top + 1] = c + 1
                top += 2
            for a in range(k):
                out[i, a] = np.sqrt(best[a])


@njit(**_EXACT_PARALLEL)
def radius_query(T, order, start, end, left, box_lo, box_hi, Q, radius, exclude, count, farthest):
    """count[i] = the number of tree points within distance radius[i] of Q[i] (inclusive), farthest[i] = the
    largest such distance (0 when none); exclude as in ``knn_query``."""
    m, D = Q.shape
    use_exclude = exclude.shape[0] > 0
    n_chunks = (m + _QCHUNK - 1) // _QCHUNK
    for ch in prange(n_chunks):
        stack = np.empty(256, dtype=np.int64)
        for i in range(ch * _QCHUNK, min(m, (ch + 1) * _QCHUNK)):
            q = Q[i]
            # radius[i] is typically a distance this module returned, sqrt of a squared distance: squaring it
            # can land a few ulps below that squared distance, so the bound is widened by 1e-14 (relative)
            r2 = radius[i] * radius[i] * (1.0 + 1e-14)
            skip = exclude[i] if use_exclude else -1
            c_i = 0
            far2 = 0.0
            top = 0
            stack[top] = 0
            top += 1
            while top > 0:
                top -= 1
                t = stack[top]
                if _box_dist2(q, box_lo[t], box_hi[t], D) > r2:
                    continue
                c = left[t]
                if c < 0:
                    for p in range(start[t], end[t]):
                        if order[p] == skip:
                            continue
                        d2 = _point_dist2(q, T[p], D)
                        if d2 <= r2:
                            c_i += 1
                            if d2 > far2:
                                far2 = d2
                    continue
                stack[top] = c
                stack[top + 1] = c + 1
                top += 2
            count[i] = c_i
            farthest[i] = np.sqrt(far2)
