"""Parameter containers with validation: Normal, MultivariateNormal, GaussianMixture."""
from .mixture import GaussianMixture
from .mvn import MultivariateNormal
from .normal import Normal

__all__ = ["Normal", "MultivariateNormal", "GaussianMixture"]
