"""Where Dask scoring's time goes: the task stream of scoring 10M x 8 (K = 16) on a LocalCluster of 2
one-thread workers (data persisted on the workers, results kept there), against the same kernel timed
inside a task.

    python -m bench.dask_profile [--rows 10000000] [--chunk 1000000]

Prints, per covariance type: the wall time, the tasks' compute time per worker, the span from the first task's
start to the last task's end (wall minus span = scheduling), and the kernel alone inside a task (the Numba
threads a task gets, then two timed calls).
"""
import argparse
import time

import numpy as np


def _kernel_in_task(block, model):
    import os

    import numba

    from engine.dask.core import _as_float_block, _numba_threads_for_this_task

    threads = _numba_threads_for_this_task()
    X = _as_float_block(block, None)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        model._log_density(X)
        times.append(time.perf_counter() - t)
    return np.array([[threads, times[0], times[1], os.getpid(), numba.get_num_threads()]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    a = ap.parse_args(argv)
    import dask.array as da
    from distributed import get_task_stream, wait

    from engine import dask as edask

    from .common import mixture

    K, D = 16, 8
    cluster, client = edask.local_cluster(n_workers=2, threads_per_worker=1)
    try:
        dX = da.random.default_rng(0).normal(scale=3, size=(a.rows, D), chunks=(a.chunk, D)).persist()
        wait(dX)
        for ct in ("diag", "full"):
            model = mixture(K, D, ct)

            def run():
                r = edask.score(model, dX).persist()
                wait(r)
                del r

            run()
            walls, tasks = [], None
            for _ in range(5):
                with get_task_stream(client=client) as ts:
                    t = time.perf_counter()
                    run()
                    walls.append(time.perf_counter() - t)
                if tasks is None or walls[-1] == min(walls):
                    tasks = ts.data
            per_worker = {}
            for tk in tasks:
                for ss in tk["startstops"]:
                    if ss["action"] == "compute":
                        per_worker[tk["worker"]] = per_worker.get(tk["worker"], 0.0) + ss["stop"] - ss["start"]
            span = (max(ss["stop"] for tk in tasks for ss in tk["startstops"])
                    - min(ss["start"] for tk in tasks for ss in tk["startstops"]))
            inside = dX.map_blocks(_kernel_in_task, model, dtype=float, chunks=(1, 5)).compute()
            print(f"{ct}: wall {min(walls):.3f} s (best of 5); {len(tasks)} tasks; compute per worker "
                  + ", ".join(f"{v:.3f} s" for v in per_worker.values())
                  + f"; first start to last stop {span:.3f} s; per task {sum(per_worker.values()) / len(tasks) * 1e3:.0f} ms;"
                  f" the kernel inside a task {np.median(inside[:, 2]) * 1e3:.0f} ms on {int(inside[0, 0])} Numba "
                  "thread(s)")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
