"""Model families behind one protocol (see docs/FAMILIES.md): each brings additive statistics, a fused
statistics kernel, an M-step, a log-density kernel, a sampler, an initialisation, a parameter count and
to/from arrays for model files. The Gaussian family is ``engine.models.GaussianMixture`` (its kernels in
``engine.kernels.gaussian``/``em``); the product family (``product.py``) serves Bernoulli, categorical,
Poisson, exponential and diagonal/spherical Gaussian columns, alone or mixed."""
from .product import ProductFamily, ProductParams, ProductStats

__all__ = ["ProductFamily", "ProductParams", "ProductStats"]
