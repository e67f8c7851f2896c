"""engine.fit_reverse_kl (issue 18, part 2): reverse-KL fits to unnormalised targets, checked against closed
forms (Gaussian KL, known normalisers) and Monte Carlo KL."""
import numpy as np
import pytest

import engine

MU = np.array([1.0, -2.0])
S = np.array([[2.0, 0.8], [0.8, 1.0]])
P = np.linalg.inv(S)
C = 3.0  # the target is known up to exp(C)
LOG_Z = C + 0.5 * np.log(np.linalg.det(2 * np.pi * S))


def log_gauss(X):
    d = X - MU
    return -0.5 * np.einsum("ni,ij,nj->n", d, P, d) + C


def grad_gauss(X):
    return -(X - MU) @ P


BIMODAL = engine.GaussianMixture.from_params([0.5, 0.5], [[-2.0], [2.0]], [0.36, 0.36], "spherical")


def log_bimodal(X):
    return BIMODAL.score_samples(X)


def grad_bimodal(X):
    _, resp = BIMODAL.log_density_and_responsibilities(X)
    return (resp * (BIMODAL.means_[:, 0][None, :] - X) / 0.36).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("gradient", ["reparameterised", "score-function"])
def test_gaussian_target_is_recovered(gradient):
    r = engine.fit_reverse_kl(engine.MultivariateNormal([0.0, 0.0], np.eye(2)), log_gauss,
                              grad_log_target=grad_gauss if gradient == "reparameterised" else None,
                              random_state=0)
    assert r.gradient == gradient
    kl = engine.kl_divergence(r.q, engine.MultivariateNormal(MU, S)).estimate  # exact
    # log Z - ELBO estimates KL(q || p): both are ~0, the gap within 4 standard errors of the ELBO
    assert kl < 2e-4
    assert abs((LOG_Z - r.elbo) - kl) < 4 * r.elbo_stderr + 1e-12
    assert r.elbo <= LOG_Z + 4 * r.elbo_stderr + 1e-12
    np.testing.assert_allclose(r.q.mean, MU, atol=0.02)


def test_elbo_gap_is_the_monte_carlo_kl_for_a_known_normaliser():
    # a single Gaussian cannot match the bimodal target: log Z - ELBO = KL(q || p) > 0, log Z = 0 + log 7
    log_target = lambda X: log_bimodal(X) + np.log(7.0)  # noqa: E731
    r = engine.fit_reverse_kl(engine.Normal(1.0, 0.5), log_target, grad_log_target=grad_bimodal, random_state=1)
    mc = engine.kl_divergence(r.q, BIMODAL, method="mc", n_samples=400_000, random_state=2)
    gap = np.log(7.0) - r.elbo
    assert r.elbo <= np.log(7.0) + 4 * r.elbo_stderr
    assert abs(gap - mc.estimate) < 4 * np.hypot(r.elbo_stderr, mc.stderr)
    assert gap == pytest.approx(np.log(2.0), abs=0.01)  # one of two equal, well separated modes: KL = log 2


def test_bimodal_target_single_gaussian_seeks_a_mode_and_a_mixture_covers_both():
    one = engine.fit_reverse_kl(engine.Normal(1.0, 0.5), log_bimodal, grad_log_target=grad_bimodal, random_state=0)
    assert abs(one.q.loc - 2.0) < 0.05 and one.q.scale == pytest.approx(0.6, rel=0.05)
    start = engine.GaussianMixture.from_params([0.5, 0.5], [[-0.5], [0.5]], [[1.0], [1.0]], "diag")
    for grad in (grad_bimodal, None):
        two = engine.fit_reverse_kl(start, log_bimodal, grad_log_target=grad, random_state=0, max_iter=3000)
        order = np.argsort(two.q.means_[:, 0])
        np.testing.assert_allclose(two.q.means_[order, 0], [-2.0, 2.0], atol=0.05)
        np.testing.assert_allclose(two.q.weights_, [0.5, 0.5], atol=0.05)
        np.testing.assert_allclose(two.q.covariances_[:, 0], [0.36, 0.36], rtol=0.1)
        assert abs(two.elbo) < 4 * two.elbo_stderr + 1e-3  # log Z = 0, KL ~ 0


def test_diag_mvn_full_mixture_and_determinism():
    r1 = engine.fit_reverse_kl(engine.MultivariateNormal([0.0, 0.0], [1.0, 1.0], "diag"), log_gauss,
                               grad_log_target=grad_gauss, random_state=5, max_iter=500)
    r2 = engine.fit_reverse_kl(engine.MultivariateNormal([0.0, 0.0], [1.0, 1.0], "diag"), log_gauss,
                               grad_log_target=grad_gauss, random_state=5, max_iter=500)
    assert r1.q.covariance_type == "diag"
    np.testing.assert_array_equal(r1.q.mean, r2.q.mean)
    np.testing.assert_array_equal(r1.trace, r2.trace)
    # the best diagonal Gaussian under reverse KL has precisions diag(P)
    np.testing.assert_allclose(r1.q.covariance, 1 / np.diag(P), rtol=0.05)
    gm = engine.GaussianMixture.from_params([0.3, 0.7], [[0.0, 0.0], [1.0, 1.0]], np.array([np.eye(2)] * 2))
    r3 = engine.fit_reverse_kl(gm, log_gauss, grad_log_target=grad_gauss, random_state=0, max_iter=1500)
    assert r3.q.covariance_type == "full" and LOG_Z - r3.elbo < 0.01


def test_bad_arguments_are_clear_errors():
    q = engine.Normal(0.0, 1.0)
    with pytest.raises(TypeError, match="log_target must be a callable"):
        engine.fit_reverse_kl(q, 3.0)
    with pytest.raises(ValueError, match=r"log_target must return an array of shape \(256,\)"):
        engine.fit_reverse_kl(q, lambda X: X)
    with pytest.raises(ValueError, match="non-finite"):
        engine.fit_reverse_kl(q, lambda X: np.where(X[:, 0] > 0, 0.0, -np.inf))
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        engine.fit_reverse_kl(q, log_bimodal, n_samples=1)
    with pytest.raises(ValueError, match="covariance_type 'full' or 'diag'"):
        engine.fit_reverse_kl(engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical"), log_bimodal)


def test_monte_carlo_kl_takes_any_model_with_sample_and_score_samples():
    class Wrapped:  # not an engine class: only the two methods
        def __init__(self, m):
            self.m = m

        def sample(self, n, random_state=None):
            return self.m.sample(n, random_state=random_state)

        def score_samples(self, X):
            return self.m.logpdf(X)

    p, q = engine.MultivariateNormal([0.0, 1.0], np.eye(2)), engine.MultivariateNormal([0.5, 0.0], 2 * np.eye(2))
    exact = engine.kl_divergence(p, q).estimate
    for a, b in ((Wrapped(p), q), (p, Wrapped(q)), (Wrapped(p), Wrapped(q))):
        r = engine.kl_divergence(a, b, n_samples=200_000, random_state=0)
        assert r.method == "mc" and abs(r.estimate - exact) < 4 * r.stderr
    with pytest.raises(ValueError, match="only method='mc'"):
        engine.kl_divergence(Wrapped(p), q, method="exact")
