"""Arrow/Parquet data in and out (pyarrow only), and model files."""
from .model_file import load, save
from .tables import read_features

__all__ = ["read_features", "save", "load"]
