"""asv: hidden Markov models (issue 16): a Baum–Welch iteration, the forward log-likelihood and Viterbi of many
sequences, engine against its NumPy twin (log-space forward-backward, ``engine.reference.hmm``)."""
import numpy as np

import engine
from engine.reference import hmm as twin

from .common import throughput


def _case(n_seq, T, K, D, seed=0):
    rng = np.random.default_rng(seed)
    m = engine.GaussianHMM(K, covariance_type="diag", init_params="", n_iter=1, tol=-np.inf)
    m.startprob_ = rng.dirichlet(np.ones(K))
    m.transmat_ = rng.dirichlet(np.ones(K), size=K) + 4 * np.eye(K)
    m.transmat_ /= m.transmat_.sum(axis=1, keepdims=True)
    m.means_ = rng.normal(scale=3, size=(K, D))
    m.covars_ = rng.uniform(0.5, 1.5, size=(K, D))
    lengths = [T] * n_seq
    X, _ = m.sample(lengths=lengths, random_state=seed)
    return m, X, lengths


class GaussianHMM:
    params = ([100, 1000], [8], [4])
    param_names = ["n_sequences", "K", "D"]
    timeout = 300

    def setup(self, n_seq, K, D):
        self.m, self.X, self.lengths = _case(n_seq, 1000, K, D)
        self.m.score(self.X[:1000])

    def time_baum_welch_iteration(self, n_seq, K, D):
        self.m.fit(self.X, self.lengths)

    def time_score(self, n_seq, K, D):
        self.m.score(self.X, self.lengths)

    def time_viterbi(self, n_seq, K, D):
        self.m.decode(self.X, self.lengths)

    def track_steps_per_second_score(self, n_seq, K, D):
        return throughput(lambda: self.m.score(self.X, self.lengths), self.X.shape[0])

    track_steps_per_second_score.unit = "steps/s"


class ForwardBackwardTwin:
    """The NumPy twin: log-space forward-backward, a Python loop over steps vectorised over states."""

    params = ([10], [8], [4])
    param_names = ["n_sequences", "K", "D"]
    timeout = 300

    def setup(self, n_seq, K, D):
        self.m, self.X, self.lengths = _case(n_seq, 1000, K, D)
        from scipy.stats import norm

        sd = np.sqrt(self.m._covars_)
        self.log_frame = np.stack([norm.logpdf(self.X, self.m.means_[k], sd[k]).sum(axis=1) for k in range(K)], axis=1)

    def time_forward_backward(self, n_seq, K, D):
        twin.forward_backward(self.m.startprob_, self.m.transmat_, self.log_frame, self.lengths)
