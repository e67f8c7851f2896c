"""k-nearest-neighbour distances (exact) over engine's k-d tree kernel (``engine.kernels.knn``)."""
import numpy as np

from .._validation import as_float_array
from ..kernels import knn as knn_kernels


class KNNTree:
    """A k-d tree over the rows of X (n, D), for exact k-nearest-neighbour distance queries."""

    def __init__(self, X, leaf_size=knn_kernels.LEAF):
        X = np.ascontiguousarray(as_float_array(X, name="X"), dtype=np.float64)
        if X.shape[0] == 0:
            raise ValueError("X has no rows to build a nearest-neighbour tree from")
        bad = ~np.isfinite(X)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(f"X row {r}, column {c}: {float(X[r, c])!r}; nearest neighbours need finite values")
        (self.order, self.start, self.end, self.left, self.split_dim, self.split_val, self.box_lo, self.box_hi,
         self.n_nodes) = knn_kernels.build_tree(X, leaf_size)
        self.data = np.ascontiguousarray(X[self.order])
        self.n, self.n_features = X.shape

    def query(self, Q, k, exclude_self=False):
        """(m, k) ascending distances from each row of Q to its k nearest tree points; exclude_self: Q is the
        tree's own data (same row order) and a row is not its own neighbour."""
        Q = np.ascontiguousarray(as_float_array(Q, name="Q", n_features=self.n_features), dtype=np.float64)
        available = self.n - (1 if exclude_self else 0)
        if not 1 <= k <= available:
            raise ValueError(f"k must be in 1..{available} (the points available as neighbours), got {k}")
        out = np.empty((Q.shape[0], k))
        if exclude_self:
            # the tree's own points, queried in tree order (neighbouring queries walk the same nodes: cache
            # locality), each excluding itself; the rows are put back in the caller's order
            if Q.shape[0] != self.n:
                raise ValueError(f"exclude_self needs the tree's own {self.n} rows, got {Q.shape[0]}")
            knn_kernels.knn_query(self.data, self.order, self.start, self.end, self.left, self.split_dim,
                                  self.split_val, self.box_lo, self.box_hi, self.data, int(k), self.order, out)
            result = np.empty_like(out)
            result[self.order] = out
            return result
        knn_kernels.knn_query(self.data, self.order, self.start, self.end, self.left, self.split_dim,
                              self.split_val, self.box_lo, self.box_hi, Q, int(k), np.empty(0, dtype=np.int64), out)
        return out


    def radius_stats(self, Q, radius, exclude_self=False):
        """(count (m,), farthest (m,)): how many tree points lie within radius[i] of Q[i] (inclusive) and the
        largest of their distances."""
        Q = np.ascontiguousarray(as_float_array(Q, name="Q", n_features=self.n_features), dtype=np.float64)
        radius = np.ascontiguousarray(radius, dtype=np.float64)
        count = np.empty(Q.shape[0], dtype=np.int64)
        farthest = np.empty(Q.shape[0])
        exclude = np.arange(Q.shape[0]) if exclude_self else np.empty(0, dtype=np.int64)
        knn_kernels.radius_query(self.data, self.order, self.start, self.end, self.left, self.box_lo, self.box_hi,
                                 Q, radius, exclude, count, farthest)
        return count, farthest


def knn_distances(X, k, Y=None):
    """(n, k) distances from each row of X to its k nearest rows of Y (Y None: of X itself, the row
    excluded), exact, ascending."""
    if Y is None:
        return KNNTree(X).query(X, k, exclude_self=True)
    return KNNTree(Y).query(X, k)
