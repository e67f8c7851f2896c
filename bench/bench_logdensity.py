"""asv: batched log-density (Normal, multivariate normal, mixtures) against the NumPy twins,
scipy.stats and scikit-learn."""
import numpy as np

import engine
from engine import reference

from .common import data, mixture, sklearn_twin, throughput


class NormalLogpdf:
    # engine_out: into a caller-owned buffer (``out=``, streamed from 16 MiB), a batch job's steady state
    params = ([10_000, 1_000_000, 10_000_000], ["float64", "float32"], ["engine", "engine_out", "numpy", "scipy"])
    param_names = ["n", "dtype", "implementation"]

    def setup(self, n, dtype, implementation):
        self.x = np.random.default_rng(0).normal(size=n).astype(dtype)
        self.model = engine.Normal(0.5, 2.0)
        if implementation == "engine":
            self.fn = lambda: self.model.logpdf(self.x)
        elif implementation == "engine_out":
            buf = np.empty_like(self.x)
            self.fn = lambda: self.model.logpdf(self.x, out=buf)
        elif implementation == "numpy":
            self.fn = lambda: reference.normal_log_density(self.x, 0.5, 2.0)
        else:
            try:
                from scipy.stats import norm
            except ImportError:
                raise NotImplementedError("scipy is not installed") from None
            self.fn = lambda: norm(0.5, 2.0).logpdf(self.x)
        self.fn()  # compile (or load the kernel cache) outside the timing

    def time_logpdf(self, n, dtype, implementation):
        self.fn()

    def track_points_per_second(self, n, dtype, implementation):
        return throughput(self.fn, n)

    track_points_per_second.unit = "points/s"


class MixtureScore:
    params = ([10_000, 1_000_000], ["full", "tied", "diag", "spherical"], [1, 16], [8], ["engine", "numpy", "sklearn"])
    param_names = ["n", "covariance_type", "K", "D", "implementation"]
    timeout = 300

    def setup(self, n, covariance_type, K, D, implementation):
        self.model = mixture(K, D, covariance_type)
        self.X = data(n, D)
        if implementation == "engine":
            self.fn = lambda: self.model.score_samples(self.X)
        elif implementation == "numpy":
            self.fn = lambda: reference.mixture_log_density(self.X, *self.model._kernel_params)
        else:
            sk = sklearn_twin(self.model)
            self.fn = lambda: sk.score_samples(self.X)
        self.fn()

    def time_score_samples(self, n, covariance_type, K, D, implementation):
        self.fn()

    def track_points_per_second(self, n, covariance_type, K, D, implementation):
        return throughput(self.fn, n)

    track_points_per_second.unit = "points/s"


class MixtureSpeedupOverNumpy:
    """engine's speed-up over the NumPy twin, as a number the dashboard plots directly."""

    params = (["full", "diag"], [16], [8])
    param_names = ["covariance_type", "K", "D"]
    timeout = 300

    def setup(self, covariance_type, K, D):
        self.model = mixture(K, D, covariance_type)
        self.X = data(200_000, D)
        self.model.score_samples(self.X[:10])

    def track_speedup(self, covariance_type, K, D):
        n = self.X.shape[0]
        ours = throughput(lambda: self.model.score_samples(self.X), n)
        twin = throughput(lambda: reference.mixture_log_density(self.X, *self.model._kernel_params), n, repeat=1)
        return ours / twin

    track_speedup.unit = "x NumPy twin"


class FirstCall:
    """Compile (or cache-load) time of the mixture kernel in a fresh process."""

    def time_first_call(self):
        engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical").score_samples(np.zeros((4, 1)))
