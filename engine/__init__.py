"""engine: Numba-accelerated log-density, sampling, KL and estimation for generative models."""
from .estimation.mle import GaussianStats, fit_mle, gaussian_stats
from .estimation.kl import KLResult, cross_entropy, kl_divergence
from .io.model_file import load
from .models import GaussianMixture, MultivariateNormal, Normal

__version__ = "0.1.0"
__all__ = ["Normal", "MultivariateNormal", "GaussianMixture", "fit_mle", "gaussian_stats", "GaussianStats", "load",
           "kl_divergence", "cross_entropy", "KLResult"]
