"""Model files: a versioned, pickle-free, tamper-evident format on Arrow IPC.

A model file is an Arrow IPC file holding one record batch with one row. Every parameter array is a
``list<double>`` column holding the array flattened in C order; the schema metadata key ``engine`` holds a
JSON header:

    {"format": "engine-model", "format_version": 2, "engine_version": "...",
     "kind": any kind registered in engine._registry ("GaussianMixture", "MultivariateNormal", "Normal",
             "Mixture", ...; each class lays out its own header fields and arrays),
     "covariance_type": ..., "dtype": "float64", "feature_names": [...] | null,
     "shapes": {"weights": [K], "means": [K, D], "covariances": [...]},
     "attributes": {"converged_": ..., "n_iter_": ..., "lower_bound_": ..., "training_": {...}}}

**Checksum (format_version 2).** The metadata key ``engine_checksum`` holds ``CHECKSUM_TAG`` followed by
64 hex digits: the SHA-256 of the *whole file* with every such 64-digit field replaced by zeros (Arrow
writes the schema, hence the field, twice: at the start and in the footer). ``load`` reads the raw bytes,
finds the field(s), recomputes the digest and compares it before pyarrow parses a single byte, so a flipped
bit anywhere (header, parameters, training quantiles, Arrow framing) or a truncation is one clear
"not a valid engine model file" error, never a silently different model and never an abort inside pyarrow's
reader (which trusts the offsets it reads). This detects corruption; it is not a signature: someone
who edits a file on purpose can recompute the digest.

Files without the field (format_version 1, written before the checksum existed) still load, after a
structural check, with a ``UserWarning`` that they carry no checksum; re-save them to add one.

Loading checks the header, the shapes and the values, and rebuilds the model through the same validation
as ``from_params``; it never executes code from the file. Files are written to a temporary name and renamed
into place, so an interrupted save leaves no partial file.
"""
import hashlib
import json
import os
import re
import tempfile
import warnings

import numpy as np

from .._termination import commit_file

FORMAT = "engine-model"
FORMAT_VERSION = 2
LEGACY_VERSIONS = (1,)
CHECKSUM_KEY = "engine_checksum"
CHECKSUM_TAG = b"engine-model-sha256:"
_BLANK_DIGEST = b"0" * 64
_CHECKSUM_FIELD = re.compile(re.escape(CHECKSUM_TAG) + b"([0-9a-f]{64})")
#: model files are small (parameters and a header); refuse to read anything absurdly large into memory
MAX_FILE_BYTES = 1 << 31


def _payload(model):
    """(header, arrays) of a model of any registered kind (``engine._registry``): the class lays out its own
    fields and arrays; this module never switches on classes."""
    from .. import __version__
    from .._registry import lookup

    kind = type(model).__name__
    if lookup(kind) is not type(model) or not hasattr(model, "_model_record"):
        raise TypeError(f"cannot save a {kind}")
    extra, arrays = model._model_record()
    extra = dict(extra)
    covariance_type = extra.pop("covariance_type", None)
    names = getattr(model, "feature_names_in_", None)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "engine_version": __version__,
        "kind": kind,
        "covariance_type": covariance_type,
        "dtype": "float64",
        "feature_names": None if names is None else [str(c) for c in names],
        "shapes": {k: list(np.shape(v)) for k, v in arrays.items()},
        "attributes": extra,
    }
    return header, arrays


def _digest(data):
    """SHA-256 of ``data`` with every checksum field blanked; None if the file has no field."""
    fields = list(_CHECKSUM_FIELD.finditer(data))
    if not fields:
        return None, []
    blanked = bytearray(data)
    for f in fields:
        blanked[f.start(1):f.end(1)] = _BLANK_DIGEST
    return hashlib.sha256(blanked).hexdigest().encode(), [f.group(1) for f in fields]


def to_bytes(model):
    """The model file's bytes (what ``save`` writes)."""
    import pyarrow as pa

    header, arrays = _payload(model)
    columns = {k: pa.array([np.asarray(v, dtype=np.float64).ravel()], type=pa.list_(pa.float64()))
               for k, v in arrays.items()}
    return seal(pa.table(columns), header)


def seal(table, header):
    """Arrow IPC file bytes of ``table`` with ``header`` and its checksum field filled in."""
    import pyarrow as pa

    placeholder = (CHECKSUM_TAG + _BLANK_DIGEST).decode()
    table = table.replace_schema_metadata({"engine": json.dumps(header), CHECKSUM_KEY: placeholder})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = bytearray(sink.getvalue().to_pybytes())
    digest, found = _digest(bytes(data))
    if not found:  # the writer must have laid the field out verbatim
        raise RuntimeError("internal error: the model file's checksum field was not written")
    for f in _CHECKSUM_FIELD.finditer(bytes(data)):
        data[f.start(1):f.end(1)] = digest
    return bytes(data)


def save(model, path):
    """Write ``model`` to ``path`` (atomically: temporary file, then rename)."""
    import pyarrow as pa

    data = to_bytes(model)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".engine-model-", dir=directory)
    try:
        from .writer import _default_permissions

        _default_permissions(tmp)
        with os.fdopen(fd, "wb") as f:
            # through pyarrow's file object, so an I/O failure surfaces like any Arrow write error
            with pa.PythonFile(f, mode="w") as out:
                out.write(data)
        commit_file(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class ModelFileError(ValueError):
    """A file that is not a valid engine model file (malformed, corrupted, truncated or tampered with)."""


def _bad(path, why):
    return ModelFileError(f"{path} is not a valid engine model file: {why}")


def read_verified(path):
    """(header dict, pyarrow Table) of a model file, its checksum verified before Arrow parses it."""
    import pyarrow as pa

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    if os.path.isdir(path):
        raise _bad(path, "it is a directory")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise _bad(path, f"{size} bytes is far larger than any model file")
    with open(path, "rb") as f:
        data = f.read()
    return verify_bytes(data, path)


def verify_bytes(data, path="<bytes>"):
    """(header, Table) from a model file's bytes; ``path`` only names the file in errors."""
    import pyarrow as pa

    digest, found = _digest(data)
    if digest is not None:
        if any(d != found[0] for d in found) or digest != found[0]:
            raise _bad(path, "checksum mismatch (the file is corrupted, truncated or was modified)")
        legacy = False
    else:
        # no checksum field: a format_version 1 file, or not a model file at all. Arrow IPC files start
        # and end with the magic "ARROW1"; anything else is refused before pyarrow reads an offset.
        if len(data) < 12 or data[:6] != b"ARROW1" or data[-6:] != b"ARROW1":
            raise _bad(path, "not an Arrow IPC file with an engine checksum")
        legacy = True
    try:
        table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        table.validate(full=True)
        meta = table.schema.metadata or {}
        header = json.loads(meta[b"engine"].decode("utf-8"))
    except KeyError:
        raise _bad(path, "missing 'engine' header") from None
    except Exception as exc:  # Arrow errors, bad UTF-8 or JSON: all mean "not a valid model file"
        raise _bad(path, f"cannot read it ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _bad(path, "wrong format tag")
    version = header.get("format_version")
    if legacy:
        if version not in LEGACY_VERSIONS:
            raise _bad(path, f"format_version {version!r} without a checksum is not supported")
        warnings.warn(f"{path} is a format_version {version} engine model file: it carries no checksum, so "
                      "corruption cannot be detected; save it again to add one", UserWarning, stacklevel=3)
    elif version != FORMAT_VERSION:
        raise _bad(path, f"format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    return header, table


def load(path):
    """Read a model written by ``save``. Raises ValueError on anything malformed, corrupted or tampered with."""
    return _guarded(path, lambda: read_verified(path))


def load_bytes(data, name="<bytes>"):
    """``load`` from a model file's bytes (as returned by ``to_bytes``)."""
    return _guarded(name, lambda: verify_bytes(bytes(data), name))


def _guarded(path, read):
    try:
        return _load(path, *read())
    except (ModelFileError, FileNotFoundError):
        raise
    except Exception as exc:  # anything unforeseen in a file that passed the checksum is still a bad file
        raise _bad(os.fspath(path), f"{type(exc).__name__}: {exc}") from None


def _load(path, header, table):
    import pyarrow as pa

    from .._registry import lookup

    path = os.fspath(path)
    shapes = header.get("shapes")
    if not isinstance(shapes, dict) or table.num_rows != 1:
        raise _bad(path, "bad layout")
    arrays = {}
    for name, shape in shapes.items():
        if name not in table.column_names or not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise _bad(path, f"parameter {name!r} is missing or has a bad shape")
        column = table.column(name)
        if column.type != pa.list_(pa.float64()):
            raise _bad(path, f"parameter {name!r} has type {column.type}, expected list<double>")
        values = column[0].values
        if values is None:
            raise _bad(path, f"parameter {name!r} is null")
        flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        if flat.size != int(np.prod(shape)):
            raise _bad(path, f"parameter {name!r} has {flat.size} values, its shape {shape} needs {int(np.prod(shape))}")
        arrays[name] = flat.reshape(shape)
    kind = header.get("kind")
    cls = lookup(kind) if isinstance(kind, str) else None
    try:
        if cls is None:
            raise _bad(path, f"unknown model kind {kind!r}")
        model = cls._from_model_record(header, arrays)
    except KeyError as exc:
        raise _bad(path, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise _bad(path, str(exc)) from None
    names = header.get("feature_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise _bad(path, "feature_names must be a list of strings")
        model.feature_names_in_ = (np.asarray(names, dtype=object) if getattr(cls, "_feature_names_as_array", False)
                                   else list(names))
    return model
