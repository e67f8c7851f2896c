"""Arrow/Parquet data in and out (pyarrow only)."""
from .tables import read_features

__all__ = ["read_features"]
