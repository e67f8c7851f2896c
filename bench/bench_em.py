"""asv: one EM iteration (statistics pass + M-step) and the fused E-step, engine against scikit-learn."""
import warnings

from engine.estimation.em import e_step_stats, m_step

from .common import data, mixture, sklearn_twin, throughput


class EStep:
    params = ([10_000, 1_000_000], ["full", "tied", "diag", "spherical"], [16], [8])
    param_names = ["n", "covariance_type", "K", "D"]
    timeout = 300

    def setup(self, n, covariance_type, K, D):
        self.model = mixture(K, D, covariance_type)
        self.X = data(n, D)
        e_step_stats(self.model, self.X[:100])

    def time_em_iteration(self, n, covariance_type, K, D):
        m_step(e_step_stats(self.model, self.X), covariance_type)

    def track_points_per_second(self, n, covariance_type, K, D):
        return throughput(lambda: e_step_stats(self.model, self.X), n)

    track_points_per_second.unit = "points/s"


class SklearnEMIteration:
    """scikit-learn's E-step + M-step on the same data and parameters (its private loop body)."""

    params = ([10_000, 1_000_000], ["full", "diag"], [16], [8])
    param_names = ["n", "covariance_type", "K", "D"]
    timeout = 600

    def setup(self, n, covariance_type, K, D):
        self.sk = sklearn_twin(mixture(K, D, covariance_type))
        self.X = data(n, D)

    def time_em_iteration(self, n, covariance_type, K, D):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, log_resp = self.sk._e_step(self.X)
            self.sk._m_step(self.X, log_resp)
