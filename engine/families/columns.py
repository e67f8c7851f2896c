"""Columns of a data set as the product-family kernels see them: a float64 code matrix, chunk by chunk.

Every column gets a kind (see ``engine.kernels.product``); categorical columns are coded 0 .. C-1 by their
fitted categories, booleans as 0/1, nulls as NaN. Inputs may be NumPy arrays (columns by index), Arrow
tables/record batches or pandas DataFrames (columns by name). Encoding runs ``STAGE_ROWS`` rows at a time
into one reused buffer, so a 10M-row int8 matrix is never copied whole; float64 C-contiguous numeric data
without categorical columns go to the kernels as they are.

Values outside a column's domain (a null with ``missing="error"``, an unseen category, a negative count)
are detected by the kernel's fused check; ``describe_bad_row`` then names the column, the input row and
what was wrong.
"""
from dataclasses import dataclass

import numpy as np

from .._staging import STAGE_ROWS, kernel_ready
from ..kernels import product as pk

KIND_CODES = {"gaussian": pk.GAUSSIAN, "bernoulli": pk.BERNOULLI, "categorical": pk.CATEGORICAL,
              "poisson": pk.POISSON, "exponential": pk.EXPONENTIAL, "dense": pk.DENSE}
DOMAINS = {
    "gaussian": "a finite real number",
    "bernoulli": "0 or 1 (or a boolean)",
    "categorical": "one of the categories seen in fit",
    "poisson": "a non-negative integer count",
    "exponential": "a positive finite real number",
    "dense": "a finite real number",
}


class NamedArray:
    """An array whose columns are addressed by the names of the table a model was fitted on (scikit-learn
    accepts arrays positionally after a fit on named columns)."""

    def __init__(self, array, keys):
        self.array = array
        self.keys = list(keys)

    def __len__(self):
        return len(self.array)


def is_table(X):
    return hasattr(X, "column_names") and hasattr(X, "schema")


def is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def n_rows(X):
    if is_table(X):
        return X.num_rows
    return len(X)


def column_keys(X):
    """The columns of X: names for tables and DataFrames, indices for arrays."""
    if is_table(X):
        return list(X.column_names)
    if isinstance(X, NamedArray):
        return X.keys
    if is_frame(X):
        return list(X.columns)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D with shape (n_samples, n_features), got shape {X.shape}")
    return list(range(X.shape[1]))


def _raw_column(X, key, start, stop):
    """Column ``key`` of rows [start, stop) as a NumPy array (object for strings; NaN/None for nulls)."""
    if is_table(X):
        col = X.column(key).slice(start, stop - start)
        import pyarrow as pa
        import pyarrow.compute as pc

        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = t.value_type
        if pa.types.is_boolean(t):
            return np.where(col.is_null().to_numpy(zero_copy_only=False), np.nan,
                            pc.fill_null(col, False).to_numpy(zero_copy_only=False).astype(np.float64))
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
    if isinstance(X, NamedArray):
        return X.array[start:stop, X.keys.index(key)]
    if is_frame(X):
        values = X[key].iloc[start:stop].to_numpy()
        if values.dtype.kind in "biuf":
            return values.astype(np.float64)
        return values.astype(object)
    return X[start:stop, key]


def _is_null(values):
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool)
    return np.zeros(values.shape, dtype=bool)


@dataclass(frozen=True)
class Column:
    """One modelled column: its key in X (name or index), its kind and (categorical) its categories."""

    key: object
    kind: str
    categories: object = None  # ndarray of the fitted categories (sorted), categorical only

    @property
    def code(self):
        return KIND_CODES[self.kind]

    @property
    def n_categories(self):
        return 0 if self.categories is None else len(self.categories)


def fit_categories(X, key):
    """The sorted distinct non-null values of column ``key`` over all of X."""
    values = _raw_column(X, key, 0, n_rows(X))
    values = values[~_is_null(values)]
    if values.dtype.kind == "O":
        try:
            return np.array(sorted(set(values.tolist())), dtype=object)
        except TypeError:  # mixed types: order by their text
            return np.array(sorted(set(values.tolist()), key=repr), dtype=object)
    return np.unique(values)


class Encoder:
    """Turns rows of X into the kernels' float64 code matrix (see the module docstring).

    unknown: "error" (an unseen category is a domain error of the kernel, reported by column and row) or
    "ignore" (coded NaN: scored as missing, so the kernel runs in marginalising mode for it).
    """

    def __init__(self, columns, unknown="error"):
        self.columns = list(columns)
        self.unknown = unknown
        self.kinds = np.array([c.code for c in self.columns], dtype=np.int64)
        self.cat_sizes = np.array([c.n_categories for c in self.columns], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.cat_sizes)])[:-1]
        self.cat_offsets = np.where(self.kinds == pk.CATEGORICAL, offsets, 0).astype(np.int64)
        self.n_counts = int(self.cat_sizes.sum())
        self._lookups = [None if c.categories is None else _lookup(c.categories) for c in self.columns]

    def check_columns(self, X):
        keys = column_keys(X)
        for c in self.columns:
            if c.key not in keys:
                where = "columns" if (is_table(X) or is_frame(X)) else "column indices"
                raise ValueError(f"column {c.key!r} is missing from X (its {where}: {keys})")

    def passthrough(self, X):
        """Whether X can go to the kernels without encoding: a float64 ndarray, or an int8/uint8 one (binary
        and small-count data: 8x less memory traffic; the kernels convert each block as they load it, at the
        cost of one more compiled specialisation, made only when such data arrive), columns in order,
        no categorical column."""
        compact = (isinstance(X, np.ndarray) and X.dtype in (np.int8, np.uint8) and X.flags.c_contiguous
                   and X.flags.writeable and X.flags.aligned)
        return (isinstance(X, np.ndarray) and (kernel_ready(X) or compact) and X.ndim == 2
                and [c.key for c in self.columns] == list(range(X.shape[1]))
                and not any(c.kind == "categorical" for c in self.columns))

    def chunks(self, X, rows=STAGE_ROWS):
        """Yield (start, float64 (m, D) code matrix) covering X; the matrix is a reused buffer."""
        n = n_rows(X)
        if self.passthrough(X):
            yield 0, X
            return
        D = len(self.columns)
        buffer = np.empty((max(min(rows, n), 1), D))
        simple = (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf"
                  and [c.key for c in self.columns] == list(range(X.shape[1]))
                  and not any(c.kind == "categorical" for c in self.columns))
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            out = buffer[:stop - start]
            if simple:
                out[...] = X[start:stop]
            else:
                for j, col in enumerate(self.columns):
                    out[:, j] = self._encode(col, self._lookups[j], _raw_column(X, col.key, start, stop))
            yield start, out

    def _encode(self, col, lookup, values):
        if col.kind != "categorical":
            if values.dtype.kind == "O":
                try:
                    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
                except (TypeError, ValueError):
                    bad = next(i for i, v in enumerate(values) if not _numeric(v))
                    raise ValueError(f"column {col.key!r} ({col.kind}) holds a non-numeric value {values[bad]!r}"
                                     f"; expected {DOMAINS[col.kind]}") from None
            return values
        null = _is_null(values)
        codes = lookup(values, null)
        unseen = (codes < 0) & ~null
        codes = codes.astype(np.float64)
        codes[null] = np.nan
        # an unseen category: NaN under unknown="ignore" (scored as missing), else an out-of-range code that
        # the kernel's domain check reports
        codes[unseen] = np.nan if self.unknown == "ignore" else col.n_categories
        return codes

    def describe_bad_row(self, X, row, marginalize, row_offset=0):
        """The error for row ``row`` of X, reported as input row row + row_offset (the kernel found a value
        outside its column's domain)."""
        error = self._describe(X, row, marginalize)
        if row_offset:
            error = ValueError(str(error).replace(f"input row {row}", f"input row {row + row_offset}", 1))
        return error

    def _describe(self, X, row, marginalize):
        for j, col in enumerate(self.columns):
            raw = _raw_column(X, col.key, row, row + 1)
            value = raw[0] if len(raw) else None
            value = value.item() if isinstance(value, np.generic) else value
            code = self._encode(col, self._lookups[j], raw)[0]
            if code != code:
                if col.kind == "dense":
                    return ValueError(f"column {col.key!r}, input row {row}: missing value (null/NaN); a full or tied "
                                      "Gaussian entry needs complete rows (make the entry 'diag' to marginalise "
                                      "missing values, or drop the rows)")
                if marginalize:
                    continue
                if self.unknown == "ignore" and col.kind == "categorical" and not _is_null(raw)[0]:
                    continue
                return ValueError(f"column {col.key!r}, input row {row}: missing value (null/NaN); pass "
                                  "missing='marginalize' (CLI: --missing marginalize) to leave missing entries out of "
                                  "the likelihood")
            ok = pk._valid.py_func(col.code, float(col.n_categories), float(code), marginalize)
            if not ok:
                if col.kind == "categorical":
                    return ValueError(f"column {col.key!r}, input row {row}: unknown category {value!r} (not seen "
                                      f"in fit; categories: {list(col.categories)[:20]}); pass unknown='ignore' to "
                                      "score it as missing")
                return ValueError(f"column {col.key!r}, input row {row}: {value!r} is outside the {col.kind} "
                                  f"family's domain (expected {DOMAINS[col.kind]})")
        return ValueError(f"input row {row} holds a value outside its column's domain")


def _numeric(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return v is None


def _lookup(categories):
    """values (ndarray), null mask -> int codes (-1 for unseen)."""
    if categories.dtype.kind in "biuf":
        cats = categories.astype(np.float64)

        def numeric(values, null):
            v = np.asarray(values, dtype=object) if values.dtype.kind == "O" else values
            try:
                v = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                return _dict_lookup({c: i for i, c in enumerate(categories.tolist())}, values, null)
            v = np.where(null, cats[0] if len(cats) else 0.0, v)
            idx = np.clip(np.searchsorted(cats, v), 0, max(len(cats) - 1, 0))
            hit = cats[idx] == v if len(cats) else np.zeros(len(v), dtype=bool)
            return np.where(hit, idx, -1)

        return numeric
    table = {c: i for i, c in enumerate(categories.tolist())}
    return lambda values, null: _dict_lookup(table, values, null)


def _dict_lookup(table, values, null):
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        if not null[i]:
            out[i] = table.get(v, -1)
    return out


def take_rows(X, idx):
    """Rows ``idx`` of an array, Arrow table/record batch or DataFrame, as the same kind of object."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(X, NamedArray):
        return NamedArray(X.array[idx], X.keys)
    if is_table(X):
        import pyarrow as pa

        return X.take(pa.array(idx))
    if is_frame(X):
        return X.iloc[idx]
    return np.asarray(X)[idx]


def concat_rows(parts):
    """Row-wise concatenation of objects of one kind (see ``take_rows``)."""
    first = parts[0]
    if isinstance(first, NamedArray):
        return NamedArray(np.concatenate([p.array for p in parts]), first.keys)
    if is_table(first):
        import pyarrow as pa

        tables = [pa.Table.from_batches([p]) if not hasattr(p, "num_chunks") and not hasattr(p, "combine_chunks")
                  else p for p in parts]
        return pa.concat_tables(tables, promote_options="permissive")
    if is_frame(first):
        import pandas as pd

        return pd.concat(parts)
    return np.concatenate([np.asarray(p) for p in parts])


def bottom_k_rows(batches, size, key):
    """(sample, rows seen): the ``size`` rows of the stream with the smallest keys splitmix64(key, r), r the
    row's position in the whole stream: a uniform sample that does not depend on the batching, kept in
    key order (as ``engine.estimation.sampling.reservoir_sample``, for tables as well as arrays)."""
    from ..reference.sampling import splitmix64

    kept, kept_keys, seen = None, None, 0
    for X in batches:
        m = n_rows(X)
        if m == 0:
            continue
        keys = splitmix64(np.uint64(key), np.arange(seen, seen + m, dtype=np.uint64))
        seen += m
        if m > size:  # keep only this batch's best before concatenating
            idx = np.argpartition(keys, size - 1)[:size]
            X, keys = take_rows(X, np.sort(idx)), keys[np.sort(idx)]
        rows = X if kept is None else concat_rows([kept, X])
        all_keys = keys if kept is None else np.concatenate([kept_keys, keys])
        if len(all_keys) > size:
            idx = np.sort(np.argpartition(all_keys, size - 1)[:size])
            rows, all_keys = take_rows(rows, idx), all_keys[idx]
        kept, kept_keys = rows, all_keys
    if kept is None:
        return None, 0
    order = np.argsort(kept_keys, kind="stable")
    return take_rows(kept, order), seen
