"""Plain NumPy twins of every kernel in ``engine.kernels``: the test oracle and the benchmark baseline.

Each function computes the same quantity as the kernel of the same name, in the most direct vectorised
NumPy (whole-array temporaries, n x K matrices and all), with the same argument layout.
"""
from .gaussian import mixture_log_density
from .moments import gaussian_moments
from .normal import normal_log_density
from .sampling import mixture_sample, normal_sample, splitmix64

__all__ = [
    "normal_log_density",
    "mixture_log_density",
    "gaussian_moments",
    "splitmix64",
    "normal_sample",
    "mixture_sample",
]
