"""The univariate Normal distribution."""
import numpy as np

from .. import _random
from .._validation import as_float_array, as_param, check_n_samples, output_array, raise_bad_row
from .._registry import register
from ..kernels.normal import normal_log_density
from ..kernels.sampling import normal_sample


@register
class Normal:
    """N(loc, scale**2) on the real line; ``scale`` is the standard deviation (> 0)."""

    def __init__(self, loc=0.0, scale=1.0):
        loc = as_param(loc, "loc", ())
        scale = as_param(scale, "scale", ())
        if not scale > 0:
            raise ValueError(f"parameter 'scale' must be positive, got {float(scale)}")
        self.loc = float(loc)
        self.scale = float(scale)

    n_features = 1

    def logpdf(self, x, out=None):
        """log N(x | loc, scale**2) elementwise: x (n,) (or (n, 1)) float32/float64 -> (n,) same dtype.

        out: an (n,) array of x's dtype to write into (a batch job reuses one buffer instead of allocating
        and page-faulting a new output per call); returned."""
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        x = as_float_array(x, name="x", ndim=1)
        reused = out is not None
        out = output_array(out, (x.shape[0],), x.dtype, inputs=(x,))
        raise_bad_row(normal_log_density(x, self.loc, self.scale, out, reused), name="x")
        return out

    def sample(self, n_samples=1, random_state=None, *, dtype=np.float64, out=None):
        """(n_samples,) draws; same seed gives bit-identical output at any thread count. out: an
        (n_samples,) float32/float64 array to write into (its dtype is then the output's)."""
        n = check_n_samples(n_samples)
        dtype = np.dtype(dtype if out is None else getattr(out, "dtype", dtype))
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        out = output_array(out, (n,), dtype)
        normal_sample(_random.stream_key(random_state), 0, self.loc, self.scale, out)
        return out

    def save(self, path):
        """Write the model to ``path`` in engine's versioned, pickle-free format (see ``engine.load``)."""
        from ..io.model_file import save

        return save(self, path)

    def _model_record(self):
        return {}, {"loc": np.array(self.loc), "scale": np.array(self.scale)}

    @classmethod
    def _from_model_record(cls, header, arrays):
        return cls(arrays["loc"], arrays["scale"])

    def __repr__(self):
        return f"Normal(loc={self.loc!r}, scale={self.scale!r})"
