"""Model files: a versioned, pickle-free format on Arrow IPC.

A model file is an Arrow IPC file holding one record batch with one row. Every parameter array is a
``list<double>`` column holding the array flattened in C order; the schema metadata key ``engine`` holds a
JSON header:

    {"format": "engine-model", "format_version": 1, "engine_version": "...",
     "kind": "GaussianMixture" | "MultivariateNormal" | "Normal",
     "covariance_type": ..., "dtype": "float64", "feature_names": [...] | null,
     "shapes": {"weights": [K], "means": [K, D], "covariances": [...]},
     "attributes": {"converged_": ..., "n_iter_": ..., "lower_bound_": ..., ...}}

Loading checks the header, the shapes and the values, and rebuilds the model through the same validation
as ``from_params``; it never executes code from the file. Files are written to a temporary name and renamed
into place, so an interrupted save leaves no partial file.
"""
import json
import os
import tempfile

import numpy as np
import pyarrow as pa

FORMAT = "engine-model"
FORMAT_VERSION = 1
_ATTRIBUTES = ("converged_", "n_iter_", "lower_bound_", "n_components", "tol", "reg_covar", "max_iter",
               "n_init", "init_params", "random_state")


def _payload(model):
    from .. import __version__
    from ..models import GaussianMixture, MultivariateNormal, Normal

    if isinstance(model, GaussianMixture):
        model._check_fitted()
        arrays = {"weights": model.weights_, "means": model.means_, "covariances": model.covariances_}
        covariance_type = model.covariance_type
        attrs = {}
        for name in _ATTRIBUTES:
            value = getattr(model, name, None)
            if isinstance(value, (np.generic,)):
                value = value.item()
            if value is None or isinstance(value, (bool, int, float, str)):
                attrs[name] = value
        extra = getattr(model, "training_", None)
        if extra:
            attrs["training_"] = extra
    elif isinstance(model, MultivariateNormal):
        arrays = {"mean": model.mean, "covariance": np.asarray(model.covariance)}
        covariance_type, attrs = model.covariance_type, {}
    elif isinstance(model, Normal):
        arrays = {"loc": np.array(model.loc), "scale": np.array(model.scale)}
        covariance_type, attrs = None, {}
    else:
        raise TypeError(f"cannot save a {type(model).__name__}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "engine_version": __version__,
        "kind": type(model).__name__,
        "covariance_type": covariance_type,
        "dtype": "float64",
        "feature_names": getattr(model, "feature_names_in_", None),
        "shapes": {k: list(np.shape(v)) for k, v in arrays.items()},
        "attributes": attrs,
    }
    return header, arrays


def save(model, path):
    """Write ``model`` to ``path`` (atomically: temporary file, then rename)."""
    header, arrays = _payload(model)
    columns = {k: pa.array([np.asarray(v, dtype=np.float64).ravel()], type=pa.list_(pa.float64())) for k, v in arrays.items()}
    table = pa.table(columns).replace_schema_metadata({"engine": json.dumps(header)})
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".engine-model-", dir=directory)
    try:
        from .writer import _default_permissions

        _default_permissions(tmp)
        with os.fdopen(fd, "wb") as f, pa.ipc.new_file(f, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _bad(path, why):
    return ValueError(f"{path} is not a valid engine model file: {why}")


def load(path):
    """Read a model written by ``save``. Raises ValueError on anything malformed or tampered with."""
    from ..models import GaussianMixture, MultivariateNormal, Normal

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with pa.memory_map(path, "r") as source:
            table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise _bad(path, f"cannot read it as Arrow IPC ({exc})") from None
    meta = table.schema.metadata or {}
    try:
        header = json.loads(meta[b"engine"])
    except (KeyError, ValueError):
        raise _bad(path, "missing or unreadable 'engine' header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _bad(path, "wrong format tag")
    if header.get("format_version") != FORMAT_VERSION:
        raise _bad(path, f"format_version {header.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    shapes = header.get("shapes")
    if not isinstance(shapes, dict) or table.num_rows != 1:
        raise _bad(path, "bad layout")
    arrays = {}
    for name, shape in shapes.items():
        if name not in table.column_names or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise _bad(path, f"parameter {name!r} is missing or has a bad shape")
        values = table.column(name)[0].values
        if values is None:
            raise _bad(path, f"parameter {name!r} is null")
        flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        if flat.size != int(np.prod(shape)):
            raise _bad(path, f"parameter {name!r} has {flat.size} values, its shape {shape} needs {int(np.prod(shape))}")
        arrays[name] = flat.reshape(shape)
    kind = header.get("kind")
    try:
        if kind == "GaussianMixture":
            model = GaussianMixture.from_params(arrays["weights"], arrays["means"], arrays["covariances"], header["covariance_type"])
            for name, value in (header.get("attributes") or {}).items():
                if name in _ATTRIBUTES or name == "training_":
                    setattr(model, name, value)
        elif kind == "MultivariateNormal":
            model = MultivariateNormal(arrays["mean"], arrays["covariance"], header["covariance_type"])
        elif kind == "Normal":
            model = Normal(arrays["loc"], arrays["scale"])
        else:
            raise _bad(path, f"unknown model kind {kind!r}")
    except KeyError as exc:
        raise _bad(path, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        if "not a valid engine model file" in str(exc):
            raise
        raise _bad(path, str(exc)) from None
    if header.get("feature_names") is not None:
        model.feature_names_in_ = list(header["feature_names"])
    return model
