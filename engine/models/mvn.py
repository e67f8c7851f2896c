"""The multivariate normal: a one-component mixture sharing the mixture kernels."""
import numpy as np

from .._registry import register
from .._validation import as_param
from . import _covariance as cov
from .mixture import GaussianMixture

_MIXTURE_TYPE = {"full": "full", "diag": "diag", "spherical": "spherical"}


@register
class MultivariateNormal:
    """N(mean, covariance) in D dimensions.

    mean : (D,)
    covariance : (D, D) for ``covariance_type="full"``, (D,) variances for ``"diag"``, a positive scalar
        variance for ``"spherical"``.
    """

    def __init__(self, mean, covariance, covariance_type="full", device="cpu"):
        cov.check_covariance_type(covariance_type, allowed=tuple(_MIXTURE_TYPE))
        mean = as_param(mean, "mean")
        if mean.ndim != 1 or mean.size == 0:
            raise ValueError(f"parameter 'mean' must be a non-empty 1-D array, got shape {mean.shape}")
        D = mean.shape[0]
        shape = {"full": (D, D), "diag": (D,), "spherical": ()}[covariance_type]
        covariance = as_param(covariance, "covariance", shape)
        self.mean = mean
        self.covariance = covariance
        self.covariance_type = covariance_type
        # the kernels' K = 1 path skips the log-sum-exp entirely
        self._mixture = GaussianMixture.from_params(
            np.ones(1), mean[None], np.asarray(covariance)[None], covariance_type=_MIXTURE_TYPE[covariance_type],
            device=device,
        )

    @property
    def n_features(self):
        return self.mean.shape[0]

    @property
    def precision_cholesky(self):
        """U with precision = U U^T: (D, D) upper triangular, (D,) or a scalar."""
        return self._mixture.precisions_cholesky_[0]

    def logpdf(self, X, out=None):
        """log N(x | mean, covariance) per row: (n, D) float32/float64 -> (n,) of the same dtype; ``out``: a
        caller-owned (n,) array to write into."""
        return self._mixture.logpdf(X, out=out)

    def sample(self, n_samples=1, random_state=None, *, dtype=np.float64, out=None):
        """(n_samples, D) draws; same seed gives bit-identical output at any thread count; ``out``: a
        caller-owned (n_samples, D) array to write into."""
        return self._mixture.sample(n_samples, random_state, dtype=dtype, out=out)[0]

    def save(self, path):
        """Write the model to ``path`` in engine's versioned, pickle-free format (see ``engine.load``)."""
        from ..io.model_file import save

        return save(self, path)

    def _model_record(self):
        return {"covariance_type": self.covariance_type}, {"mean": self.mean, "covariance": np.asarray(self.covariance)}

    @classmethod
    def _from_model_record(cls, header, arrays):
        return cls(arrays["mean"], arrays["covariance"], header["covariance_type"])

    def __repr__(self):
        return f"MultivariateNormal(n_features={self.n_features}, covariance_type={self.covariance_type!r})"
