"""asv: Monte Carlo KL (sampling + fused log-ratio pass) against the NumPy twins."""
import numpy as np

import engine
from engine import reference

from .common import mixture


class MonteCarloKL:
    params = ([100_000, 1_000_000], ["engine", "numpy"])
    param_names = ["n_samples", "implementation"]
    timeout = 300

    def setup(self, n_samples, implementation):
        self.p = mixture(16, 8, "full", seed=1)
        self.q = mixture(16, 8, "full", seed=2)
        if implementation == "engine":
            self.fn = lambda: engine.kl_divergence(self.p, self.q, method="mc", n_samples=n_samples, random_state=0)
        else:
            def twin():
                X, _ = reference.mixture_sample(np.uint64(1), 0, *self.p._sampler_params, n_samples)
                v = reference.mixture_log_density(X, *self.p._kernel_params) - reference.mixture_log_density(X, *self.q._kernel_params)
                return v.mean(), v.std(ddof=1) / np.sqrt(n_samples)
            self.fn = twin
        self.fn()

    def time_kl(self, n_samples, implementation):
        self.fn()
