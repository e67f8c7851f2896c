"""Sequences regrouped on disk, so that an HMM fit streams them in bounded memory (``engine fit --model hmm
--in-memory no``).

Rows may come in any order across any number of files; Baum–Welch needs each sequence whole and in order.
``SequenceBuckets`` regroups them by *external partitioning*, not by carrying forward messages between
batches (a backward pass needs the sequence's future, so carried messages would still need the rows again):

1. one pass collects the distinct sequence ids (memory: one id per sequence, not per row);
2. a second pass sends every row to the bucket of its id's rank (ids sorted, ranks cut into buckets of about
   ``rows_per_bucket`` rows), as Arrow IPC files in a temporary directory, with its input row number;
3. each bucket is sorted once by (id, order, input row), as the in-memory fit sorts the whole table, and
   rewritten.

Every EM iteration then memory-maps one bucket at a time: memory is one batch while regrouping and one
bucket while fitting (plus one id per sequence). A single sequence longer than a bucket makes its bucket
that long. Concatenated in bucket order the rows are the in-memory fit's sorted table, so with the same
start the fits are equal, to the rounding of sums grouped per bucket.
"""
import os
import shutil
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROW = "__engine_row"


class SequenceBuckets:
    """Sorted, sequence-whole buckets of a table's rows on disk (see the module docstring).

    batches: a callable returning a fresh iterable of pyarrow Tables/RecordBatches holding the sequence
    column, the order column and ``columns``; it is called twice. nulls_drop: rows with a null id or order
    are left out (else they are an error naming the input row)."""

    def __init__(self, batches, sequence_column, order_by, columns, rows_per_bucket=1 << 20, directory=None,
                 nulls_drop=False, source="the input"):
        self.sequence_column, self.order_by = sequence_column, order_by
        self.columns = list(columns)
        self.source = source
        self._dir = tempfile.mkdtemp(prefix="engine-hmm-", dir=directory)
        try:
            self._build(batches, rows_per_bucket, nulls_drop)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ building
    def _clean(self, batch, offset, nulls_drop):
        """(the batch with its input row numbers, rows kept) after the null check of the id and order."""
        table = pa.table(batch) if not isinstance(batch, pa.Table) else batch
        table = table.append_column(ROW, pa.array(np.arange(offset, offset + table.num_rows, dtype=np.int64)))
        for c in (self.sequence_column, self.order_by):
            column = table.column(c)
            if column.null_count:
                if not nulls_drop:
                    row = offset + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
                    raise ValueError(f"{self.source}: column {c!r}, input row {row}: null (every row needs a sequence "
                                     "id and an order value; --nulls drop leaves such rows out)")
                table = table.filter(pc.is_valid(column))
        return table

    def _build(self, batches, rows_per_bucket, nulls_drop):
        seen, n_rows, offset = [], 0, 0
        for batch in batches():
            table = self._clean(batch, offset, nulls_drop)
            offset += batch.num_rows
            n_rows += table.num_rows
            if table.num_rows:
                seen.append(pc.unique(table.column(self.sequence_column).combine_chunks()))
        if n_rows == 0:
            raise ValueError(f"{self.source}: no rows to fit")
        ids = pc.unique(pa.concat_arrays(seen))
        self.ids = ids.take(pc.sort_indices(ids))
        S = len(self.ids)
        self.n_rows = n_rows
        n_buckets = int(max(1, min(S, -(-n_rows // max(int(rows_per_bucket), 1)))))
        writers, paths = {}, [os.path.join(self._dir, f"raw-{b}.arrow") for b in range(n_buckets)]
        offset = 0
        try:
            for batch in batches():
                table = self._clean(batch, offset, nulls_drop)
                offset += batch.num_rows
                if not table.num_rows:
                    continue
                rank = pc.index_in(table.column(self.sequence_column), value_set=self.ids).to_numpy()
                bucket = rank.astype(np.int64) * n_buckets // S  # int64: rank x buckets overflows int32
                order = np.argsort(bucket, kind="stable")
                table = table.take(pa.array(order))
                counts = np.bincount(bucket, minlength=n_buckets)
                start = 0
                for b in np.flatnonzero(counts):
                    part = table.slice(start, int(counts[b]))
                    start += int(counts[b])
                    if b not in writers:
                        writers[b] = pa.ipc.new_file(paths[b], part.schema)
                    writers[b].write_table(part)
        finally:
            for w in writers.values():
                w.close()
        # each bucket sorted once, as the in-memory fit sorts the whole table
        self.buckets = []
        for b in sorted(writers):
            with pa.memory_map(paths[b]) as source:
                table = pa.ipc.open_file(source).read_all()
            table = table.sort_by([(self.sequence_column, "ascending"), (self.order_by, "ascending"),
                                   (ROW, "ascending")])
            ids = table.column(self.sequence_column).to_numpy(zero_copy_only=False)
            starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
            lengths = np.diff(np.append(starts, len(ids)))
            path = os.path.join(self._dir, f"bucket-{b}.arrow")
            with pa.ipc.new_file(path, table.schema) as writer:
                writer.write_table(table)
            del table, ids
            os.remove(paths[b])
            self.buckets.append((path, lengths))
        self.n_sequences = S

    # ------------------------------------------------------------------ reading
    def tables(self):
        """(sorted table of one bucket, its sequences' lengths), bucket by bucket (memory-mapped)."""
        for path, lengths in self.buckets:
            with pa.memory_map(path) as source:
                table = pa.ipc.open_file(source).read_all()
            yield table, lengths

    def sample(self, rows):
        """(table, lengths) of the first sequences (in id order) up to the one that reaches ``rows`` rows: the
        same sample whatever the bucket size."""
        tables, lengths, n = [], [], 0
        for table, lens in self.tables():
            ends = n + np.cumsum(lens)
            take = int(np.searchsorted(ends, rows)) + 1  # sequences up to the first reaching ``rows``
            take = min(take, lens.size)
            kept = int(lens[:take].sum())
            tables.append(table.slice(0, kept))
            lengths.append(lens[:take])
            n += kept
            if n >= rows:
                break
        return pa.concat_tables(tables), np.concatenate(lengths)

    def close(self):
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
