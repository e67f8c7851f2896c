"""asv: log-density throughput, engine kernels against their NumPy twins."""
import numpy as np

import engine
from engine import reference


class NormalLogpdf:
    params = ([10_000, 1_000_000, 10_000_000], ["float64", "float32"], ["engine", "numpy"])
    param_names = ["n", "dtype", "implementation"]

    def setup(self, n, dtype, implementation):
        self.x = np.random.default_rng(0).normal(size=n).astype(dtype)
        self.model = engine.Normal(0.5, 2.0)
        self.model.logpdf(self.x[:10])  # compile (or load the cache) outside the timing

    def time_logpdf(self, n, dtype, implementation):
        if implementation == "engine":
            self.model.logpdf(self.x)
        else:
            reference.normal_log_density(self.x, 0.5, 2.0)


class MixtureScore:
    params = ([10_000, 1_000_000], ["full", "tied", "diag", "spherical"], [16], [8], ["engine", "numpy"])
    param_names = ["n", "covariance_type", "K", "D", "implementation"]
    timeout = 120

    def setup(self, n, covariance_type, K, D, implementation):
        rng = np.random.default_rng(0)
        weights = rng.dirichlet(np.ones(K))
        means = rng.normal(scale=3, size=(K, D))
        covs = {
            "full": np.stack([np.eye(D) * rng.uniform(0.5, 2) for _ in range(K)]),
            "tied": np.eye(D),
            "diag": rng.uniform(0.5, 2, (K, D)),
            "spherical": rng.uniform(0.5, 2, K),
        }[covariance_type]
        self.model = engine.GaussianMixture.from_params(weights, means, covs, covariance_type)
        self.X = rng.normal(scale=3, size=(n, D))
        self.model.score_samples(self.X[:10])

    def time_score_samples(self, n, covariance_type, K, D, implementation):
        if implementation == "engine":
            self.model.score_samples(self.X)
        else:
            reference.mixture_log_density(self.X, *self.model._kernel_params)

    def track_points_per_second(self, n, covariance_type, K, D, implementation):
        import time

        fn = (lambda: self.model.score_samples(self.X)) if implementation == "engine" else (
            lambda: reference.mixture_log_density(self.X, *self.model._kernel_params))
        t = time.perf_counter()
        fn()
        return n / (time.perf_counter() - t)

    track_points_per_second.unit = "points/s"
