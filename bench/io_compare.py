"""End-to-end scoring throughput against the I/O floor, and peak memory against the file size.

    python -m bench.io_compare [--rows 10000000] [--rows-large 50000000] [--workdir DIR]

Makes `blobs-diag` (K=16, D=8, diagonal covariances) with `engine datasets make`, then measures:
* the I/O floor: a pyarrow-only pass that reads the same 8 columns batch by batch and writes one float64
  column (their sum) with ParquetWriter;
* `engine score` with the data set's true K=16 diag model (log-density per row);
in one run, and the peak resident memory of `engine score` (a child process; ru_maxrss) on --rows and on
--rows-large rows: bounded by the batch size, it should barely change with the file size.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make(workdir, rows):
    path = os.path.join(workdir, f"blobs_{rows}.parquet")
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-m", "engine", "datasets", "make", "blobs-diag", "--rows", str(rows),
                        "--output", path, "--quiet"], check=True)
    return path, path[: -len(".parquet")] + ".truth.arrow"


def io_floor(path, out, batch_size=262_144):
    t = time.perf_counter()
    f = pq.ParquetFile(path)
    cols = [f"x{j}" for j in range(8)]
    with pq.ParquetWriter(out, pa.schema([("total", pa.float64())]), compression="zstd") as w:
        for batch in f.iter_batches(batch_size=batch_size, columns=cols):
            total = np.zeros(batch.num_rows)
            for c in cols:
                total += batch.column(c).to_numpy()
            w.write_table(pa.table({"total": total}))
    return time.perf_counter() - t


def engine_score(path, model, out):
    """(wall seconds of the whole command, in-command seconds, peak RSS MiB) of `engine score`."""
    code = ("import resource, subprocess, sys, json, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True); "
            "print(json.dumps({'wall': time.perf_counter() - t, 'summary': json.loads(r.stdout), "
            "'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "engine", "score", path, "--model", model, "--output", out,
           "--overwrite", "--json", "--quiet"]
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return r["wall"], r["summary"]["seconds"], r["peak_kib"] / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rows-large", type=int, default=50_000_000)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args(argv)
    workdir = a.workdir or tempfile.mkdtemp(prefix="engine-io-")
    os.makedirs(workdir, exist_ok=True)
    path, model = make(workdir, a.rows)
    out = os.path.join(workdir, "scores.parquet")
    engine_score(path, model, out)  # warm the kernel cache
    floors, runs = [], []
    for _ in range(3):  # alternate, so slow phases of a shared machine hit both sides
        floors.append(io_floor(path, os.path.join(workdir, "floor.parquet")))
        runs.append(engine_score(path, model, out))
    floor = min(floors)
    wall = min(r[0] for r in runs)
    inside = min(r[1] for r in runs)
    peak = max(r[2] for r in runs)
    size = os.path.getsize(path) / 2**20
    print(f"{a.rows:,} rows x 8 ({size:.0f} MiB Parquet), K=16 diag")
    print(f"  pyarrow-only pass (read 8 columns, write 1):  {floor:.2f} s = {a.rows / floor / 1e6:.2f} M rows/s")
    print(f"  engine score (job, excl. process start):    {inside:.2f} s = {a.rows / inside / 1e6:.2f} M rows/s "
          f"= {floor / inside:.2f}x the floor")
    print(f"  engine score (whole command):               {wall:.2f} s = {floor / wall:.2f}x the floor; peak RSS {peak:.0f} MiB")
    if a.rows_large:
        big, big_model = make(workdir, a.rows_large)
        w2, i2, p2 = engine_score(big, big_model, out)
        print(f"{a.rows_large:,} rows ({os.path.getsize(big) / 2**20:.0f} MiB Parquet): engine score {i2:.2f} s "
              f"({a.rows_large / i2 / 1e6:.2f} M rows/s), peak RSS {p2:.0f} MiB (vs {peak:.0f} MiB at {a.rows:,} rows)")


if __name__ == "__main__":
    main()
