"""Numba's on-disk cache, made safe for processes that compile one function at the same moment.

Numba saves a compiled specialisation (``IndexDataCacheFile.save``) by reading the function's index file,
taking the first data-file number the index does not use, and writing the index, then the data file, with
no lock. Two processes that save *different* specialisations of one function at the same moment (float32
and float64 data, say) both read an index without the other's entry and both take number 1: one entry is
lost, and the index written last can name the data file written by the other process, so that a later
process loads machine code compiled for other argument types (numba/numba#10128 reports segmentation
faults from a race of the same kind between a gufunc's two cache files). engine's Dask workers on a cold
cache, the CLI's compile helper (``_warmup``) and the test suite's two pytest-xdist workers all compile
into one cache at once.

``install()`` replaces ``IndexDataCacheFile.save`` with a version that holds an exclusive ``flock`` on a
file beside the index while it reads the index, picks the number, writes the data file and only then the
index: an entry never names a data file of another specialisation, nor one not written yet. Loads take no
lock (each file is replaced atomically, as before). Where the lock cannot be taken (no ``fcntl``, a lock
file that cannot be opened, a filesystem without locks) a save runs unlocked, as Numba's own does. Files
and formats are Numba's; the patch applies to every cached function in the process, engine's or not, and
only makes saves exclusive.
"""
import contextlib

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

_PARTS = ("_load_index", "_save_index", "_save_data", "_data_name")


@contextlib.contextmanager
def _exclusive(lock_path):
    """An exclusive flock on lock_path for the block (per open file description, so two threads of one
    process exclude each other too); no lock where one cannot be had."""
    try:
        handle = open(lock_path, "ab")
    except OSError:  # a read-only or vanished cache directory: Numba's own save reports what it meets
        yield
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:  # a filesystem without locks (some network mounts): unlocked, as Numba's own save
            pass
        yield
    finally:
        handle.close()  # closing the description releases the lock


def _make_locked_save(numba_save):
    def save(self, key, data):
        """Save a cache entry: under the lock, the data file first (a number no entry uses), then the index."""
        index_path = getattr(self, "_index_path", None)
        if index_path is None:  # a Numba whose cache file has no index path: its own save
            return numba_save(self, key, data)
        with _exclusive(index_path + ".lock"):
            overloads = self._load_index()
            data_name = overloads.get(key)
            if data_name is None:
                used = set(overloads.values())
                number = 1
                while self._data_name(number) in used:
                    number += 1
                data_name = self._data_name(number)
            self._save_data(data_name, data)
            if overloads.get(key) != data_name:
                overloads[key] = data_name
                self._save_index(overloads)

    save.numba_save = numba_save
    return save


def install():
    """Make this process's Numba cache saves exclusive (idempotent). Returns whether saves are locked: False
    where there is no ``fcntl`` or Numba's cache class lacks the methods this relies on (nothing changes)."""
    if fcntl is None:
        return False
    try:
        from numba.core.caching import IndexDataCacheFile
    except ImportError:  # pragma: no cover - a Numba without that module
        return False
    if hasattr(IndexDataCacheFile.save, "numba_save"):
        return True
    if not all(callable(getattr(IndexDataCacheFile, name, None)) for name in _PARTS + ("save",)):
        return False
    IndexDataCacheFile.save = _make_locked_save(IndexDataCacheFile.save)
    return True
