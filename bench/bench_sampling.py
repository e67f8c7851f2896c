"""asv: sampling throughput, engine against the NumPy twin of the same counter-based stream."""
import numpy as np

import engine
from engine import reference


class MixtureSample:
    params = ([10_000, 1_000_000], ["full", "diag"], ["engine", "numpy"])
    param_names = ["n", "covariance_type", "implementation"]
    timeout = 120

    def setup(self, n, covariance_type, implementation):
        rng = np.random.default_rng(0)
        K, D = 16, 8
        covs = np.stack([np.eye(D)] * K) if covariance_type == "full" else np.ones((K, D))
        self.model = engine.GaussianMixture.from_params(rng.dirichlet(np.ones(K)), rng.normal(size=(K, D)), covs, covariance_type)
        self.model.sample(10, random_state=0)

    def time_sample(self, n, covariance_type, implementation):
        if implementation == "engine":
            self.model.sample(n, random_state=0)
        else:
            reference.mixture_sample(np.uint64(1), 0, *self.model._sampler_params, n)


class NormalSample:
    params = ([1_000_000, 10_000_000],)
    param_names = ["n"]

    def setup(self, n):
        self.model = engine.Normal()
        self.model.sample(10, random_state=0)

    def time_sample(self, n):
        self.model.sample(n, random_state=0)


class FirstCall:
    """Compile (or cache-load) time of a kernel in a fresh process."""

    def time_first_call(self):
        engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical").score_samples(np.zeros((4, 1)))
