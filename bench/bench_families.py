"""asv: the mixture families (issue 15): one EM iteration of each product family, the Student-t mixture and
the NumPy twins they are measured against."""
import warnings

import numpy as np

import engine
from engine.families.product import ProductParams
from engine.reference import product as product_twin

from .common import throughput


def _product_case(family, n, D, K, seed=0):
    rng = np.random.default_rng(seed)
    if family == "bernoulli":
        X = (rng.random((n, D)) < 0.4).astype(np.int8)
    elif family == "poisson":
        X = rng.poisson(3.0, (n, D)).astype(np.float64)
    elif family == "exponential":
        X = rng.exponential(2.0, (n, D))
    else:
        X = rng.integers(0, 4, (n, D)).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = engine.Mixture(K, family=family, max_iter=1, random_state=0).fit(X[:2000])
    return X, model


class ProductEMIteration:
    params = (["bernoulli", "poisson", "exponential", "categorical"], [10_000, 1_000_000], [16], [32])
    param_names = ["family", "n", "K", "D"]
    timeout = 300

    def setup(self, family, n, K, D):
        self.X, self.model = _product_case(family, n, D, K)
        self.fam, self.params_ = self.model._family_obj, self.model._params
        self.fam.statistics(self.X[:100], np.empty(0), self.params_)

    def time_em_iteration(self, family, n, K, D):
        self.fam.m_step(self.fam.statistics(self.X, np.empty(0), self.params_))

    def track_points_per_second(self, family, n, K, D):
        return throughput(lambda: self.fam.statistics(self.X, np.empty(0), self.params_), n)

    track_points_per_second.unit = "points/s"


class BernoulliTwinEMIteration:
    """The NumPy twin (BLAS matrix products per chunk) of the Bernoulli EM iteration."""

    params = ([10_000, 1_000_000], [16], [32])
    param_names = ["n", "K", "D"]
    timeout = 300

    def setup(self, n, K, D):
        self.X, model = _product_case("bernoulli", n, D, K)
        self.w, self.p = model.weights_, np.clip(model.probs_, 1e-6, 1 - 1e-6)

    def time_em_iteration(self, n, K, D):
        product_twin.bernoulli_em_step_blas(self.X, self.w, self.p)


class StudentTEMIteration:
    params = ([10_000, 1_000_000], ["full", "diag"], [16], [8])
    param_names = ["n", "covariance_type", "K", "D"]
    timeout = 300

    def setup(self, n, covariance_type, K, D):
        rng = np.random.default_rng(0)
        self.X = rng.standard_t(5, size=(n, D)) + rng.normal(scale=5, size=(K, D))[rng.integers(0, K, n)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = engine.Mixture(K, family="student_t", covariance_type=covariance_type, max_iter=1,
                               random_state=0).fit(self.X[:5000])
        self.fam, self.params_ = m._family_obj, m._params

    def time_em_iteration(self, n, covariance_type, K, D):
        self.fam.m_step(self.fam.statistics(self.X, np.empty(0), self.params_))
