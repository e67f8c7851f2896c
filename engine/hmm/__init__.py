"""Hidden Markov models: hmmlearn-compatible estimators (``GaussianHMM``, ``GMMHMM``, ``PoissonHMM``, ``CategoricalHMM``),
``HMM`` over any family's emissions, and fully observed ``MarkovChain``s, on the additive Baum–Welch
statistics of ``engine.hmm.core``."""
from .core import HMMParams, HMMStats
from .markov import MarkovChain
from .models import (DECODER_ALGORITHMS, GMMHMM, HMM, BaseHMM, CategoricalHMM, ConvergenceMonitor, GaussianHMM,
                     PoissonHMM)

__all__ = ["GaussianHMM", "GMMHMM", "PoissonHMM", "CategoricalHMM", "HMM", "MarkovChain", "BaseHMM", "ConvergenceMonitor", "DECODER_ALGORITHMS", "HMMParams", "HMMStats"]
