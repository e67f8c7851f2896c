"""engine on Dask: distributed scoring and exact distributed EM over partitioned data.

Needs the ``dask`` extra (``dask[distributed]``). Nothing here runs a scheduler of its own: the functions
build Dask graphs over the caller's collections and run them on the active client (or Dask's default
scheduler).

* ``score(model, collection)``: per-partition Numba scoring (``map_blocks``/``map_partitions``).
* ``fit(gmm, collection)``: each EM iteration maps ``e_step_stats`` over the partitions and tree-reduces
  the statistics (``split_every`` at a time); the M-step runs on the client. Statistics are K*D^2 numbers
  per partition, whatever the partition size. The result equals in-memory EM from the same initial
  parameters (up to summation order).
* ``kl_divergence(p, q, n_samples)``: the Monte Carlo passes spread over tasks, each drawing its own
  slice of the one counter-based stream, so the estimate is the same as on one machine.

Threads: the kernels release the GIL (``nogil=True``). Inside a task engine sets Numba's thread count to
cores // (Dask threads on this worker), so a worker with T threads on C cores runs at most C kernel
threads in total (no oversubscription). With processes=True and threads_per_worker=1 (the default of
``local_cluster``), each task's kernel uses all the cores of its worker's share.
"""
from .core import fit, fit_hmm, kl_divergence, local_cluster, score

__all__ = ["score", "fit", "fit_hmm", "kl_divergence", "local_cluster"]
