"""asv: streaming Parquet in and out: the pyarrow-only floor against scoring through engine's reader."""
import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.io.dataset import FeatureSource

from .common import mixture


class ParquetScore:
    params = ([100_000, 1_000_000], ["pyarrow-floor", "engine"])
    param_names = ["rows", "implementation"]
    timeout = 300

    def setup(self, rows, implementation):
        self.dir = tempfile.mkdtemp(prefix="engine-asv-")
        self.path = os.path.join(self.dir, "d.parquet")
        X = np.random.default_rng(0).normal(size=(rows, 8))
        pq.write_table(pa.table({f"x{j}": X[:, j] for j in range(8)}), self.path, row_group_size=131_072)
        self.model = mixture(16, 8, "diag")
        self.model.score_samples(X[:10])

    def teardown(self, rows, implementation):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def time_score_file(self, rows, implementation):
        out = os.path.join(self.dir, "out.parquet")
        schema = pa.schema([("v", pa.float64())])
        with pq.ParquetWriter(out, schema) as w:
            if implementation == "engine":
                for b in FeatureSource(self.path).batches():
                    w.write_table(pa.table({"v": self.model.score_samples(b.X)}))
            else:
                for batch in pq.ParquetFile(self.path).iter_batches(batch_size=262_144):
                    total = np.zeros(batch.num_rows)
                    for c in batch.column_names:
                        total += batch.column(c).to_numpy()
                    w.write_table(pa.table({"v": total}))
