"""Parameter containers with validation: Normal, MultivariateNormal, GaussianMixture, BayesianGaussianMixture."""
from .bayesian_mixture import BayesianGaussianMixture
from .mixture import GaussianMixture
from .mvn import MultivariateNormal
from .normal import Normal

__all__ = ["Normal", "MultivariateNormal", "GaussianMixture", "BayesianGaussianMixture"]
