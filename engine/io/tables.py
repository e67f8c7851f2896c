"""Reading feature matrices from Parquet/Arrow files with clear errors on nulls and non-numeric columns."""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def read_features(path, columns=None, nulls="error"):
    """(X (n, D) float64, column names) from a Parquet file.

    columns: names to use (default: every numeric column). nulls: "error" raises naming the column and
    the first null row; "drop" drops rows holding a null in any chosen column.
    """
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except (pa.ArrowInvalid, KeyError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if columns is None:
        columns = [f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        if not columns:
            raise ValueError(f"{path} has no numeric columns")
    for name in columns:
        typ = table.schema.field(name).type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
            raise TypeError(f"column {name!r} of {path} has type {typ}, not a number")
    table = table.select(columns)
    if nulls == "drop":
        table = table.drop_null()
    elif nulls == "error":
        for name in columns:
            col = table.column(name)
            if col.null_count:
                row = pc.index(pc.is_null(col), True).as_py()
                raise ValueError(f"column {name!r} of {path} has nulls; first null at input row {row}")
    else:
        raise ValueError(f"nulls must be 'error' or 'drop', got {nulls!r}")
    X = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in columns])
    return X, list(columns)
