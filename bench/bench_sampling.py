"""asv: sampling throughput against the NumPy twin of the same counter-based stream and scikit-learn."""
import numpy as np

import engine
from engine import reference

from .common import mixture, sklearn_twin, throughput


class MixtureSample:
    # engine_out: into caller-owned arrays (``out=``, ``labels_out=``): no new pages to fault in
    params = ([10_000, 1_000_000], ["full", "diag"], [16], [8], ["engine", "engine_out", "numpy", "sklearn"])
    param_names = ["n", "covariance_type", "K", "D", "implementation"]
    timeout = 300

    def setup(self, n, covariance_type, K, D, implementation):
        self.model = mixture(K, D, covariance_type)
        if implementation == "engine":
            self.fn = lambda: self.model.sample(n, random_state=0)
        elif implementation == "engine_out":
            out, labels = np.empty((n, D)), np.empty(n, dtype=np.int64)
            self.fn = lambda: self.model.sample(n, random_state=0, out=out, labels_out=labels)
        elif implementation == "numpy":
            self.fn = lambda: reference.mixture_sample(np.uint64(1), 0, *self.model._sampler_params, n)
        else:
            sk = sklearn_twin(self.model)
            self.fn = lambda: sk.sample(n)
        self.fn()

    def time_sample(self, n, covariance_type, K, D, implementation):
        self.fn()

    def track_points_per_second(self, n, covariance_type, K, D, implementation):
        return throughput(self.fn, n)

    track_points_per_second.unit = "points/s"


class NormalSample:
    params = ([1_000_000, 10_000_000], ["engine", "numpy"])
    param_names = ["n", "implementation"]

    def setup(self, n, implementation):
        model = engine.Normal()
        rng = np.random.default_rng(0)
        self.fn = (lambda: model.sample(n, random_state=0)) if implementation == "engine" else (lambda: rng.standard_normal(n))
        self.fn()

    def time_sample(self, n, implementation):
        self.fn()
