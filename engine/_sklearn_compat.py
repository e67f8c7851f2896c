"""What makes engine's estimators drop-ins inside scikit-learn, without depending on it.

scikit-learn stays optional: nothing here imports it at ``import engine``. Where its behaviour must be
matched exactly (the exception classes a caller catches, the tags its meta-estimators read) scikit-learn is
looked up at the moment it is needed: a caller who writes ``except sklearn.exceptions.NotFittedError`` or
filters ``sklearn.exceptions.ConvergenceWarning`` has imported scikit-learn already, so ``sys.modules``
says whether to raise/warn with a class that is also scikit-learn's (scikit-learn is never imported here
when the caller has not imported it).
"""
import sys

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """An estimator method was called before ``fit`` (scikit-learn's ``NotFittedError`` when it is loaded)."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


class DataTypeError(TypeError, ValueError):
    """Data of a type that cannot be a feature matrix (complex, strings, sparse): both a TypeError (engine's
    convention) and a ValueError (scikit-learn's, for complex data)."""


_COMBINED = {}


def _with_sklearn(base, sklearn_name):
    """``base``, or a subclass of both ``base`` and scikit-learn's class of that name when it is loaded."""
    exceptions = sys.modules.get("sklearn.exceptions")
    if exceptions is None and "sklearn" in sys.modules:
        # ``import sklearn`` alone does not load sklearn.exceptions; the caller's ``except
        # sklearn.exceptions.NotFittedError`` would load it only after we raised. scikit-learn is already
        # imported, so loading its exceptions module costs nothing
        try:
            import sklearn.exceptions as exceptions
        except ImportError:
            exceptions = None
    theirs = getattr(exceptions, sklearn_name, None) if exceptions is not None else None
    if theirs is None or issubclass(base, theirs):
        return base
    key = (base, theirs)
    if key not in _COMBINED:
        _COMBINED[key] = type(base.__name__, (base, theirs), {"__module__": base.__module__, "__doc__": base.__doc__})
    return _COMBINED[key]


def not_fitted(estimator):
    """The not-fitted error, with scikit-learn's wording."""
    cls = _with_sklearn(NotFittedError, "NotFittedError")
    name = type(estimator).__name__
    hint = f" (or build one from known parameters with {name}.from_params)" if getattr(estimator, "from_params", None) is not None else ""
    return cls(f"This {name} instance is not fitted yet. Call 'fit' with appropriate arguments before using this "
               f"estimator.{hint}")


def convergence_warning_class():
    return _with_sklearn(ConvergenceWarning, "ConvergenceWarning")


def density_estimator_tags(estimator, *, allow_nan=False):
    """``__sklearn_tags__`` of a density estimator (scikit-learn imported here, only when asked)."""
    from sklearn.utils import InputTags, Tags, TargetTags

    return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                input_tags=InputTags(allow_nan=allow_nan, sparse=False), transformer_tags=None,
                classifier_tags=None, regressor_tags=None)


# ------------------------------------------------------------------------------------------ feature names
def feature_names_of(X):
    """Column names of a DataFrame or Arrow table (an object ndarray), or None for other inputs.

    As in scikit-learn, names are kept only when they are all strings.
    """
    if hasattr(X, "column_names") and hasattr(X, "schema"):  # pyarrow.Table / RecordBatch
        names = list(X.column_names)
    elif hasattr(X, "columns") and hasattr(X, "dtypes") and not isinstance(X, np.ndarray):  # pandas/polars
        names = list(X.columns)
    else:
        return None
    if not names or not all(isinstance(c, str) for c in names):
        return None
    return np.asarray(names, dtype=object)


def table_to_array(X):
    """An Arrow table/record batch as an (n, D) ndarray (column by column; nulls become NaN)."""
    if hasattr(X, "column_names") and hasattr(X, "schema"):
        if X.num_columns == 0:
            return np.empty((X.num_rows, 0))
        cols = []
        for name in X.column_names:
            col = X.column(name)
            try:
                cols.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise DataTypeError(f"column {name!r} of X (type {col.type}) is not numeric: {exc}") from None
        return np.column_stack(cols)
    return X


def check_feature_names(estimator, X, *, reset):
    """scikit-learn's feature-name protocol: record names at fit, compare them (its wording) afterwards."""
    import warnings

    names = feature_names_of(X)
    if reset:
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None and names is None:
        return
    cls = type(estimator).__name__
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning, stacklevel=4)
        return
    if names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names",
                      UserWarning, stacklevel=4)
        return
    fitted = [str(c) for c in fitted]
    if len(fitted) != len(names) or any(a != b for a, b in zip(fitted, names)):
        message = "The feature names should match those that were passed during fit.\n"
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))

        def listing(items):
            shown = "".join(f"- {c}\n" for c in items[:5])
            return shown + ("- ...\n" if len(items) > 5 else "")

        if unexpected:
            message += "Feature names unseen at fit time:\n" + listing(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
        if not missing and not unexpected:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


class EstimatorParams:
    """scikit-learn's parameter protocol over a class's ``_PARAM_NAMES`` (its constructor arguments)."""

    _PARAM_NAMES = ()

    def get_params(self, deep=True):
        """The constructor parameters (scikit-learn's estimator protocol)."""
        return {name: getattr(self, name) for name in self._PARAM_NAMES}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._PARAM_NAMES:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {self._PARAM_NAMES}")
            setattr(self, name, value)
        return self


def check_em_numbers(est):
    """The numeric EM parameters every mixture shares: n_components, n_init >= 1, max_iter >= 0 integers;
    tol, reg_covar finite >= 0."""
    import numbers

    for name, minimum in (("n_components", 1), ("n_init", 1), ("max_iter", 0)):
        v = getattr(est, name)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(f"parameter {name!r} must be an integer >= {minimum}, got {v!r}")
    for name in ("tol", "reg_covar"):
        v = getattr(est, name)
        if not isinstance(v, numbers.Real) or not v >= 0 or not np.isfinite(v):
            raise ValueError(f"parameter {name!r} must be a finite number >= 0, got {v!r}")
