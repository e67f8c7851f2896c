"""The CUDA target: the CPU kernels' statistics and densities on a GPU (numba-cuda).

Nothing here is imported by ``import engine``; the dispatch in ``engine._dispatch`` loads this package
when a computation resolves to device="cuda". Inputs may be NumPy arrays (copied to the GPU) or GPU
arrays exposing ``__cuda_array_interface__`` (used in place, no copy back); outputs follow the input:
device in, device out.
"""
from .api import e_step_stats, log_ratio_moments, mixture_logpdf, mixture_sample

__all__ = ["mixture_logpdf", "e_step_stats", "mixture_sample", "log_ratio_moments"]
