"""Change of variables (``engine.Transformed``): column-wise bijections with their log-Jacobians."""
from .core import (Affine, BoxCox, ColumnWise, Compose, Log, Logit, Program, Standardize, Transform,
                   YeoJohnson, describe, from_spec, parse)

__all__ = ["Transform", "Affine", "Log", "Logit", "BoxCox", "YeoJohnson", "Standardize", "Compose", "ColumnWise",
           "from_spec", "parse", "describe", "Program"]
