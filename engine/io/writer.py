"""Incremental Parquet output that is never half-written.

Rows go to a temporary file beside the target (``ParquetWriter``, one row group per batch written); the
file is renamed into place only when the job finishes. An error or an interrupt (the CLI turns SIGTERM into
a normal exit) removes the temporary file, so the target is either the complete new output or, if the
job failed, untouched.
"""
import os
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

from .._termination import commit_file


def check_output_path(path, overwrite):
    """Fail early (before any work) if the output cannot be written."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"output {path} is a directory")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"output {path} exists; pass --overwrite to replace it")
    if not os.path.isdir(directory):
        raise ValueError(f"output directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"output directory {directory} is not writable")
    return path


def _default_permissions(path):
    """mkstemp creates 0600 files; give outputs the permissions a plain open() would (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class AtomicParquetWriter:
    def __init__(self, path, schema, overwrite=False, compression="zstd"):
        self.path = check_output_path(path, overwrite)
        self.schema = schema
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp",
                                         dir=os.path.dirname(os.path.abspath(self.path)))
        os.close(fd)
        _default_permissions(self._tmp)
        self._writer = pq.ParquetWriter(self._tmp, schema, compression=compression)
        self.rows = 0

    def write(self, table_or_batch):
        if isinstance(table_or_batch, pa.RecordBatch):
            table_or_batch = pa.Table.from_batches([table_or_batch])
        self._writer.write_table(table_or_batch)
        self.rows += table_or_batch.num_rows

    def commit(self):
        self._writer.close()
        try:
            commit_file(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self):
        try:
            self._writer.close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False
