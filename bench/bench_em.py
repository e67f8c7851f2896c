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


class VariationalIteration:
    """One BayesianGaussianMixture iteration: the same fused E-step pass (variational constants folded into the
    kernel's parameters), the Gaussian-Wishart M-step and the lower bound from the statistics."""

    params = ([10_000, 1_000_000], ["full", "tied", "diag", "spherical"], [16], [8])
    param_names = ["n", "covariance_type", "K", "D"]
    timeout = 300

    def setup(self, n, covariance_type, K, D):
        import engine

        self.X = data(n, D)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = engine.BayesianGaussianMixture(n_components=K, covariance_type=covariance_type, max_iter=1,
                                                        init_params="random_from_data", random_state=0).fit(self.X)

    def time_variational_iteration(self, n, covariance_type, K, D):
        from engine.models.bayesian_mixture import variational_lower_bound

        stats = e_step_stats(self.model, self.X)
        after = self.model._update(stats)
        variational_lower_bound(stats, self.model._variational, after, covariance_type,
                                self.model.weight_concentration_prior_type)
