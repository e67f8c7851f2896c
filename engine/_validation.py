"""Input checks shared by every public entry point: clear errors that name the parameter and the row."""
import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_float_array(X, *, name="X", ndim=2, n_features=None):
    """X as a float32/float64 ndarray of the given ndim, copying only when the input needs it.

    float32 and float64 C-contiguous arrays pass through untouched; integer and boolean data are cast to
    float64 (float16 to float32). Non-numeric dtypes raise TypeError; a wrong shape raises ValueError.
    Finiteness is checked by the kernels themselves (fused into their data pass); see ``raise_bad_row``.
    """
    from ._sklearn_compat import DataTypeError, table_to_array

    if not isinstance(X, np.ndarray):
        if "sparse" in type(X).__module__ and hasattr(X, "toarray"):
            raise DataTypeError(f"Sparse data was passed for {name}, but dense data is required. Use '.toarray()' "
                                "to convert to a dense numpy array.")
        X = table_to_array(X)
        try:
            X = np.asarray(X)
        except Exception as exc:  # ragged lists, unconvertible objects
            raise DataTypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = X.dtype.kind
    if kind in "biu":
        X = X.astype(np.float64)
    elif kind == "f":
        if X.dtype == np.float16:
            X = X.astype(np.float32)
        elif X.dtype not in FLOAT_DTYPES:  # longdouble
            X = X.astype(np.float64)
    elif kind == "c":
        raise DataTypeError(f"Complex data not supported: {name} has dtype {X.dtype}")
    elif kind == "O":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataTypeError(f"{name} has dtype object and could not be converted to float: {exc}") from None
    else:
        raise DataTypeError(
            f"{name} must hold real numbers, got dtype {X.dtype} "
            "(convert strings/objects/complex values to float first)"
        )
    if X.ndim != ndim:
        shape = "(n_samples,)" if ndim == 1 else "(n_samples, n_features)"
        reshape = (" Reshape your data either using array.reshape(-1, 1) if it has a single feature or "
                   "array.reshape(1, -1) if it is a single sample.") if ndim == 2 and X.ndim == 1 else ""
        raise ValueError(f"{name} must be {ndim}-D with shape {shape}, got shape {X.shape}.{reshape}")
    if n_features is not None and ndim == 2 and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model is expecting {n_features} features as input")
    return np.ascontiguousarray(X)


def raise_bad_row(bad_row, name="X"):
    """Kernels report the first row holding NaN/inf (or -1); turn that into a ValueError."""
    if bad_row >= 0:
        raise ValueError(f"{name} contains NaN or infinity; first offending row: {int(bad_row)}")


def as_param(value, name, shape=None):
    """A model parameter as a finite float64 array, optionally of an exact shape."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"parameter {name!r} must be numeric, got {value!r:.80}") from None
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"parameter {name!r} must have shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        idx = np.argwhere(~np.isfinite(arr))[0]
        where = f" at index {tuple(int(i) for i in idx)}" if arr.ndim else ""
        raise ValueError(f"parameter {name!r} must be finite; found {arr[tuple(idx)]}{where}")
    return arr


def check_n_samples(n_samples, name="n_samples"):
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {n_samples!r}")
    if n_samples < 0:
        raise ValueError(f"{name} must be >= 0, got {n_samples}")
    return int(n_samples)


def output_array(out, shape, dtype, name="out", inputs=()):
    """``out`` checked as a caller-owned output (an ndarray of exactly this shape and dtype, C-contiguous,
    writeable, sharing no memory with ``inputs``), or a new array when it is None."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (the input's), got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    for a in inputs:
        if isinstance(a, np.ndarray) and np.may_share_memory(out, a):
            raise ValueError(f"{name} shares memory with the input; pass a separate buffer")
    return out


def shift_input_rows(message, start):
    """An error message from a batch or chunk names rows within it ("input row 15"); add the batch's first row
    so it names the row of the input as a whole."""
    import re

    return re.sub(r"input row (\d+)", lambda m: f"input row {int(m.group(1)) + start}", message)
