"""Streaming feature matrices out of Parquet / Arrow IPC (Feather) / CSV with pyarrow.dataset.

``FeatureSource(path, columns=None, nulls="error")`` opens a file, a directory or a glob; ``batches()``
yields ``FeatureBatch`` objects in file order, each holding at most ``batch_size`` rows converted to a
float matrix (one copy per batch; float64 columns are read zero-copy, integers are cast to float64
explicitly). Memory is bounded by the batch (and the files' row groups), never by the data set. Read-ahead
is switched off (apache/arrow#39808: read-ahead can grow memory).

Nulls: "error" raises naming the column and the first null row (row numbers count from 0 over the whole
source, in order); "drop" skips rows holding a null in a feature column and counts them; "keep" passes
them through with a mask, so the caller writes a null result for them.
"""
import glob
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

DEFAULT_BATCH_SIZE = 262_144
NULL_POLICIES = ("error", "drop", "keep")
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc", ".csv": "csv"}


def _format_of(paths):
    exts = {os.path.splitext(p)[1].lower() for p in paths}
    fmts = {_FORMATS.get(e) for e in exts}
    if None in fmts or len(fmts) != 1:
        raise ValueError(f"cannot tell the file format from the extension(s) {sorted(exts)}; use .parquet, .arrow/.feather or .csv")
    return fmts.pop()


def open_dataset(source):
    """A pyarrow Dataset over a file, a directory (recursively) or a glob pattern."""
    source = os.fspath(source)
    if any(ch in source for ch in "*?["):
        paths = sorted(glob.glob(source, recursive=True))
        if not paths:
            raise FileNotFoundError(f"no files match {source}")
    elif os.path.isdir(source):
        paths = sorted(
            os.path.join(root, f) for root, _, files in os.walk(source) for f in files
            if not f.startswith((".", "_")) and os.path.splitext(f)[1].lower() in _FORMATS
        )
        if not paths:
            raise FileNotFoundError(f"directory {source} holds no .parquet/.arrow/.feather/.csv files")
    elif os.path.exists(source):
        paths = [source]
    else:
        raise FileNotFoundError(f"no such file or directory: {source}")
    fmt = _format_of(paths)
    if fmt == "parquet":
        # pre-buffering keeps every row group read so far in memory (the whole file, measured): memory must
        # stay bounded by the batch, so read row groups on demand
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
    try:
        return ds.dataset(paths, format=fmt), paths
    except (pa.ArrowInvalid, OSError) as exc:
        kind = fmt if isinstance(fmt, str) else "parquet"
        raise ValueError(f"cannot read {source} as {kind}: {str(exc).splitlines()[0]}") from None


def _is_number(t):
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def record_batches(dataset, paths, fmt, cols, batch_size, source="", check_schema=None):
    """(path, record batch) of the columns ``cols``, file by file and in order, with memory bounded by a row
    group: Parquet files through ``ParquetFile.iter_batches`` (columns decoded in parallel) without
    pre-buffering (pre-buffering, and the dataset scanner's parallel read-ahead, were both measured to keep the
    data read so far in memory: peak RSS growing with the file); other formats through a sequential scan of
    each fragment. check_schema(path, schema, cols) vets each file before it is read."""
    if fmt == "parquet":
        for path in paths:
            try:
                pf = pq.ParquetFile(path, pre_buffer=False)
            except (pa.ArrowInvalid, OSError) as exc:
                raise ValueError(f"cannot read {path} as parquet: {str(exc).splitlines()[0]}") from None
            if check_schema is not None:
                check_schema(path, pf.schema_arrow, cols)
            for batch in pf.iter_batches(batch_size=batch_size, columns=cols, use_threads=True):
                yield path, batch
    else:
        for fragment in dataset.get_fragments():
            path = getattr(fragment, "path", source)
            if check_schema is not None:
                check_schema(path, fragment.physical_schema, cols)
            for batch in fragment.to_batches(columns=cols, batch_size=batch_size, batch_readahead=0,
                                             fragment_readahead=0, use_threads=False):
                yield path, batch


@dataclass
class FeatureBatch:
    X: np.ndarray  # (m, D) float64 (float32 if every feature column is float32)
    first_row: int  # row number (over the whole source) of this batch's first row
    table: pa.RecordBatch  # the batch as read (for pass-through columns), rows aligned with X
    valid: np.ndarray = field(default=None)  # (m,) bool under nulls="keep", else None
    dropped: int = 0  # rows dropped under nulls="drop"
    path: str = ""  # the file the batch came from


class FeatureSource:
    def __init__(self, source, columns=None, nulls="error", batch_size=DEFAULT_BATCH_SIZE, passthrough=()):
        if nulls not in NULL_POLICIES:
            raise ValueError(f"nulls must be one of {NULL_POLICIES}, got {nulls!r}")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1 (batch_size), got {batch_size}")
        self.source = os.fspath(source)
        self.dataset, self.paths = open_dataset(source)
        self.format = _format_of(self.paths)
        schema = self.dataset.schema
        names = schema.names
        for c in list(columns or []) + list(passthrough):
            if c not in names:
                raise ValueError(f"column {c!r} is not in {self.source} (columns: {', '.join(names)})")
        if columns:
            columns = list(columns)
        else:
            columns = [f.name for f in schema if _is_number(f.type)]
            if not columns:
                lists = [f.name for f in schema if pa.types.is_fixed_size_list(f.type) and _is_number(f.type.value_type)]
                if len(lists) == 1:
                    columns = lists
                else:
                    raise ValueError(f"{self.source} has no numeric columns; name the features with --columns")
        for c in columns:
            t = schema.field(c).type
            if not (_is_number(t) or (pa.types.is_fixed_size_list(t) and _is_number(t.value_type))):
                raise TypeError(f"column {c!r} of {self.source} has type {t}, not a number")
        if any(pa.types.is_fixed_size_list(schema.field(c).type) for c in columns) and len(columns) > 1:
            raise ValueError("a FixedSizeList feature column must be the only feature column")
        self.columns = columns
        self.passthrough = [c for c in passthrough if c not in columns]
        self.nulls = nulls
        self.batch_size = int(batch_size)
        t0 = schema.field(columns[0]).type
        self.fixed_size_list = pa.types.is_fixed_size_list(t0)
        self.n_features = t0.list_size if self.fixed_size_list else len(columns)
        float32 = all(schema.field(c).type == pa.float32() for c in columns) or (
            self.fixed_size_list and t0.value_type == pa.float32())
        self.dtype = np.float32 if float32 else np.float64

    def count_rows(self):
        return self.dataset.count_rows()

    def _matrix(self, batch):
        m = batch.num_rows
        if self.fixed_size_list:
            flat = self._list_values(batch.column(self.columns[0]))
            X = np.asarray(pc.fill_null(flat, 0).to_numpy(zero_copy_only=False), dtype=self.dtype)
            return np.ascontiguousarray(X.reshape(m, self.n_features))
        X = np.empty((m, len(self.columns)), dtype=self.dtype)
        for j, c in enumerate(self.columns):
            col = batch.column(c)
            if col.null_count:
                col = pc.fill_null(col, 0)
            X[:, j] = col.to_numpy(zero_copy_only=False)
        return X

    def _list_values(self, arr):
        # FixedSizeListArray.values ignores the array's slice offset (apache/arrow#41672): slice it here
        s = self.n_features
        return arr.values.slice(arr.offset * s, len(arr) * s)

    def _null_rows(self, batch, c):
        """(m,) bool of rows whose feature column c is null (for a list column: the list or an element)."""
        col = batch.column(c)
        mask = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
        if self.fixed_size_list:
            values = self._list_values(col)
            if values.null_count:
                inner = values.is_null().to_numpy(zero_copy_only=False).reshape(len(col), self.n_features).any(axis=1)
                mask = inner if mask is None else (mask | inner)
        return mask

    def batches(self, prefetch=2):
        """Yield FeatureBatch objects over the whole source, in order.

        With prefetch > 0 a background thread reads and converts up to ``prefetch`` batches ahead while
        the caller computes (the kernels release the GIL, Arrow's decoding too), so I/O and compute overlap;
        memory stays bounded by (prefetch + 2) batches.
        """
        if prefetch <= 0:
            yield from self._batches()
            return
        import queue
        import threading

        q = queue.Queue(maxsize=prefetch)
        stop = threading.Event()
        done = object()

        def produce():
            try:
                for item in self._batches():
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(done)
            except BaseException as exc:  # hand errors to the consumer
                q.put(exc)

        thread = threading.Thread(target=produce, name="engine-reader", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass
                thread.join(timeout=0.05)

    def _record_batches(self, cols):
        """Raw record batches of the selected columns, in order, with memory bounded by a row group (see
        ``record_batches``)."""
        return record_batches(self.dataset, self.paths, self.format, cols, self.batch_size, self.source,
                              self._check_file_schema)

    def _check_file_schema(self, path, schema, cols):
        """Every file must hold the columns, the features with numeric types (a directory's files can disagree
        with the first file, from which the data set's schema was taken)."""
        names = schema.names
        for c in cols:
            if c not in names:
                raise ValueError(f"column {c!r} is not in {path} (columns: {', '.join(names)})")
        for c in self.columns:
            t = schema.field(c).type
            if not (_is_number(t) or (pa.types.is_fixed_size_list(t) and _is_number(t.value_type))):
                raise TypeError(f"column {c!r} of {path} has type {t}, not a number")
            if pa.types.is_fixed_size_list(t) != self.fixed_size_list or (
                    self.fixed_size_list and t.list_size != self.n_features):
                raise TypeError(f"column {c!r} of {path} has type {t}, unlike the first file's")

    def _check_finite(self, X, path, first_row, kept):
        """NaN/inf in a feature is an error naming the file, column and input row (nulls are handled by the
        null policy; a NaN is not a null). One vectorised pass per batch; the scan for the culprit only
        runs when there is one."""
        if X.shape[0] == 0 or np.isfinite(X).all():
            return
        bad = ~np.isfinite(X)
        i = int(np.argmax(bad.any(axis=1)))
        j = int(np.argmax(bad[i]))
        column = f"{self.columns[0]}[{j}]" if self.fixed_size_list else self.columns[j]
        row = first_row + (int(kept[i]) if kept is not None else i)
        raise ValueError(f"{path}: column {column!r} holds {X[i, j]} at input row {row} "
                         "(features must be finite numbers)")

    def _batches(self):
        cols = self.columns + self.passthrough
        row = 0
        try:
            for path, batch in self._record_batches(cols):
                if batch.num_rows == 0:
                    continue
                null_mask = None
                for c in self.columns:
                    is_null = self._null_rows(batch, c)
                    if is_null is not None:
                        if self.nulls == "error":
                            raise ValueError(
                                f"{path}: column {c!r} has nulls; first null at input row "
                                f"{row + int(np.argmax(is_null))} (use --nulls drop or --nulls keep)")
                        null_mask = is_null if null_mask is None else (null_mask | is_null)
                first = row
                row += batch.num_rows
                if null_mask is not None and self.nulls == "drop":
                    keep = ~null_mask
                    kept = np.flatnonzero(keep)
                    dropped = int(null_mask.sum())
                    batch = batch.filter(pa.array(keep))
                    if batch.num_rows == 0:
                        yield FeatureBatch(np.empty((0, self.n_features), self.dtype), first, batch, None, dropped,
                                           path)
                        continue
                    X = self._matrix(batch)
                    self._check_finite(X, path, first, kept)
                    yield FeatureBatch(X, first, batch, None, dropped, path)
                elif null_mask is not None:
                    X = self._matrix(batch)
                    self._check_finite(X, path, first, None)  # null slots were filled with 0
                    yield FeatureBatch(X, first, batch, ~null_mask, 0, path)
                else:
                    X = self._matrix(batch)
                    self._check_finite(X, path, first, None)
                    yield FeatureBatch(X, first, batch, None, 0, path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"cannot read {self.source}: {str(exc).splitlines()[0]}") from None

    def arrays(self):
        """Just the feature matrices (rows with nulls dropped or rejected by the policy; 'keep' is
        treated as 'drop' here, since a fit cannot use a null)."""
        for b in self.batches():
            X = b.X if b.valid is None else b.X[b.valid]
            if X.shape[0]:
                yield X
