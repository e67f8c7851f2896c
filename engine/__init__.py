"""engine: Numba-accelerated log-density, sampling, KL and estimation for generative models."""
from . import _numba_cache

_numba_cache.install()  # before any kernel compiles: cache saves exclusive across processes

from .estimation.mle import GaussianStats, fit_mle, gaussian_stats
from .estimation.entropy import entropy
from .estimation.kl import KLResult, cross_entropy, kl_divergence
from .estimation.reverse_kl import ReverseKLResult, fit_reverse_kl
from ._sklearn_compat import ConvergenceWarning, NotFittedError
from .models import BayesianGaussianMixture, GaussianMixture, MultivariateNormal, Normal
from .models.family_mixture import Mixture
from .models.transformed import Transformed
from . import transforms
from . import em
from . import hmm
from .hmm import GMMHMM, HMM, CategoricalHMM, GaussianHMM, MarkovChain, PoissonHMM

__version__ = "0.1.0"


def load(path):
    """Read a model written by ``model.save`` (engine's versioned, pickle-free Arrow IPC format).

    Raises ValueError on anything malformed or tampered with; loading never executes code from the file.
    pyarrow is imported here, not at ``import engine``: scoring and fitting in memory do not need it, and
    it costs about 25 MiB of resident memory and 0.1 s.
    """
    from .io.model_file import load as load_model_file

    return load_model_file(path)
__all__ = ["Normal", "MultivariateNormal", "GaussianMixture", "BayesianGaussianMixture", "fit_mle", "gaussian_stats", "GaussianStats", "load",
           "kl_divergence", "cross_entropy", "KLResult", "NotFittedError", "ConvergenceWarning", "Mixture", "em", "entropy",
           "hmm", "GaussianHMM", "GMMHMM", "PoissonHMM", "CategoricalHMM", "HMM", "MarkovChain", "Transformed", "transforms", "fit_reverse_kl",
           "ReverseKLResult"]
