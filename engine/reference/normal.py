import numpy as np

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def normal_log_density(x, loc, scale):
    """Twin of ``engine.kernels.normal.normal_log_density``: returns log N(x | loc, scale**2)."""
    z = x.astype(np.float64) / scale - loc / scale
    return (-_HALF_LOG_2PI - np.log(scale) - 0.5 * z * z).astype(x.dtype)
