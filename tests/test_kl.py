"""KL divergence: closed forms against independent oracles, Monte Carlo with honest standard errors."""
import numba
import numpy as np
import pytest
from scipy import integrate, stats

import engine
from engine.estimation.kl import gaussian_kl
from conftest import random_spd

TYPES = ("full", "diag", "spherical")


def mvn(rng, D, covariance_type):
    mean = rng.normal(size=D)
    full = random_spd(rng, D)
    cov = {"full": full, "diag": np.diag(full).copy(), "spherical": float(np.mean(np.diag(full)))}[covariance_type]
    dense = {"full": full, "diag": np.diag(np.diag(full)), "spherical": cov * np.eye(D)}[covariance_type]
    return engine.MultivariateNormal(mean, cov, covariance_type), mean, dense


def test_normal_closed_form_equals_numerical_integration():
    p, q = engine.Normal(0.3, 1.2), engine.Normal(-1.0, 0.7)
    integrand = lambda x: stats.norm(0.3, 1.2).pdf(x) * (stats.norm(0.3, 1.2).logpdf(x) - stats.norm(-1.0, 0.7).logpdf(x))  # noqa: E731
    value, _ = integrate.quad(integrand, -30, 30, epsabs=1e-13)
    res = engine.kl_divergence(p, q)
    assert res.method == "exact" and res.stderr == 0.0
    assert res.estimate == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize("tp", TYPES)
@pytest.mark.parametrize("tq", TYPES)
def test_mvn_closed_form_against_independent_monte_carlo(rng, tp, tq):
    D, n = 3, 400_000
    p, mp, Sp = mvn(rng, D, tp)
    q, mq, Sq = mvn(rng, D, tq)
    exact = engine.kl_divergence(p, q, method="exact").estimate
    # the textbook formula with explicit inverses and determinants (an independent derivation)
    Sq_inv = np.linalg.inv(Sq)
    formula = 0.5 * (np.trace(Sq_inv @ Sp) + (mq - mp) @ Sq_inv @ (mq - mp) - D + np.log(np.linalg.det(Sq) / np.linalg.det(Sp)))
    assert exact == pytest.approx(formula, rel=1e-10)
    # and a Monte Carlo estimate from numpy's sampler and scipy's densities
    x = np.random.default_rng(1).multivariate_normal(mp, Sp, size=n)
    v = stats.multivariate_normal(mp, Sp).logpdf(x) - stats.multivariate_normal(mq, Sq).logpdf(x)
    assert abs(v.mean() - exact) < 4 * v.std() / np.sqrt(n)


def test_kl_of_a_model_with_itself_is_zero_and_kl_is_nonnegative(rng):
    for t in TYPES:
        p, _, _ = mvn(rng, 4, t)
        assert engine.kl_divergence(p, p).estimate == pytest.approx(0.0, abs=1e-12)
        assert engine.kl_divergence(p, p, method="mc", n_samples=1000, random_state=0).estimate == 0.0
    for _ in range(20):
        p, _, _ = mvn(rng, 3, "full")
        q, _, _ = mvn(rng, 3, "diag")
        assert engine.kl_divergence(p, q).estimate >= 0.0


@pytest.mark.parametrize("pair", ["normal", "mvn"])
def test_mc_within_four_standard_errors(rng, pair):
    if pair == "normal":
        p, q = engine.Normal(0.0, 1.0), engine.Normal(1.5, 2.0)
    else:
        p, q = mvn(rng, 5, "full")[0], mvn(rng, 5, "diag")[0]
    exact = engine.kl_divergence(p, q).estimate
    mc = engine.kl_divergence(p, q, method="mc", n_samples=500_000, random_state=3)
    assert mc.method == "mc" and mc.n_samples == 500_000
    assert abs(mc.estimate - exact) < 4 * mc.stderr
    assert mc.ci_low < mc.estimate < mc.ci_high


def test_confidence_interval_coverage():
    """Over 200 fixed-seed replications the 95% interval covers the exact value 90-99% of the time."""
    p, q = engine.Normal(0.0, 1.0), engine.Normal(0.5, 1.5)
    exact = engine.kl_divergence(p, q).estimate
    hits = [engine.kl_divergence(p, q, method="mc", n_samples=2000, random_state=s) for s in range(200)]
    coverage = np.mean([r.ci_low <= exact <= r.ci_high for r in hits])
    assert 0.90 <= coverage <= 0.99, coverage


def test_mixtures_mc_and_variational(rng):
    p = engine.GaussianMixture.from_params([0.4, 0.6], [[-3.0, 0.0], [3.0, 1.0]], [[1.0, 0.5], [0.8, 1.2]], "diag")
    q = engine.GaussianMixture.from_params([0.5, 0.5], [[-2.5, 0.5], [2.5, 0.5]], [1.0, 1.5], "spherical")
    with pytest.raises(ValueError, match="no closed form"):
        engine.kl_divergence(p, q, method="exact")
    auto = engine.kl_divergence(p, q, n_samples=400_000, random_state=1)
    assert auto.method == "mc"
    # an independent MC estimate from scikit-learn's densities at engine's samples... and at numpy's
    x, _ = p.sample(200_000, random_state=9)
    from conftest import sklearn_mixture

    v = sklearn_mixture(p.weights_, p.means_, p.covariances_, "diag").score_samples(x) - sklearn_mixture(
        q.weights_, q.means_, q.covariances_, "spherical").score_samples(x)
    assert abs(v.mean() - auto.estimate) < 4 * np.hypot(v.std() / np.sqrt(len(v)), auto.stderr)
    # the variational approximation is close for well-separated components, exact for single Gaussians
    var = engine.kl_divergence(p, q, method="variational")
    assert np.isnan(var.stderr) and abs(var.estimate - auto.estimate) < 0.05
    assert engine.kl_divergence(p, p, method="variational").estimate == pytest.approx(0.0, abs=1e-12)
    a, b = mvn(rng, 3, "full")[0], mvn(rng, 3, "diag")[0]
    assert engine.kl_divergence(a, b, method="variational").estimate == pytest.approx(engine.kl_divergence(a, b).estimate, rel=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs >= 2 Numba threads")
def test_same_seed_same_estimate_at_any_thread_count():
    p = engine.GaussianMixture.from_params([0.5, 0.5], [[-1.0], [1.0]], [0.5, 0.5], "spherical")
    q = engine.Normal(0.0, 1.0)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = engine.kl_divergence(p, q, n_samples=600_000, random_state=5)
        numba.set_num_threads(2)
        two = engine.kl_divergence(p, q, n_samples=600_000, random_state=5)
    finally:
        numba.set_num_threads(previous)
    assert one == two


def test_cross_entropy(rng):
    X = rng.normal(1.0, 2.0, size=(30_001, 2))
    q = engine.MultivariateNormal([0.0, 0.0], [[2.0, 0.3], [0.3, 1.0]])
    nll = -stats.multivariate_normal([0, 0], [[2.0, 0.3], [0.3, 1.0]]).logpdf(X)
    res = engine.cross_entropy(X, q)
    assert res.estimate == pytest.approx(nll.mean(), rel=1e-12)
    assert res.stderr == pytest.approx(nll.std(ddof=1) / np.sqrt(len(nll)), rel=1e-9)
    streamed = engine.cross_entropy((b for b in np.array_split(X, 7)), q)
    assert streamed.estimate == pytest.approx(res.estimate, rel=1e-12)
    assert streamed.stderr == pytest.approx(res.stderr, rel=1e-9)
    x1 = rng.normal(size=1000)
    assert engine.cross_entropy(x1, engine.Normal()).estimate == pytest.approx(-stats.norm.logpdf(x1).mean(), rel=1e-12)


def test_bad_input():
    p, q = engine.Normal(), engine.MultivariateNormal([0.0, 0.0], [1.0, 1.0], "diag")
    with pytest.raises(ValueError, match="different dimensions"):
        engine.kl_divergence(p, q)
    with pytest.raises(ValueError, match="at least 2"):
        engine.kl_divergence(p, p, method="mc", n_samples=1)
    with pytest.raises(ValueError, match="method must be one of"):
        engine.kl_divergence(p, p, method="magic")
    with pytest.raises(TypeError, match="engine Normal"):
        engine.kl_divergence(p, "q")
    with pytest.raises(ValueError, match="features"):
        engine.cross_entropy(np.zeros((3, 3)), q)
    with pytest.raises(ValueError, match="row: 1"):
        engine.cross_entropy(np.array([[0.0, 0.0], [np.nan, 0.0]]), q)


def test_closed_form_helper_matches_known_value():
    # KL(N(0,1) || N(1, 2^2)) = log 2 + (1 + 1)/(2*4) - 1/2
    value = gaussian_kl(np.zeros(1), np.eye(1), np.ones(1), 2 * np.eye(1))
    assert value == pytest.approx(np.log(2) + 2 / 8 - 0.5, rel=1e-14)


def test_kl_asymmetry_study(tmp_path):
    from engine.studies import kl_asymmetry

    r = kl_asymmetry.run(n_fit=200_000, n_kl=200_000, random_state=0)
    p = r.p
    modes = p.means_[:, 0]
    sd = np.sqrt(p.covariances_[0])
    mix_mean = float(p.weights_ @ modes)
    mix_var = float(p.weights_ @ (p.covariances_ + modes**2) - mix_mean**2)
    n = 200_000
    # forward fit = moment matching: mean between the modes, variance covering both (4 standard errors)
    assert modes.min() < r.forward_fit.loc < modes.max()
    assert abs(r.forward_fit.loc - mix_mean) < 4 * np.sqrt(mix_var / n)
    assert abs(r.forward_fit.scale**2 - mix_var) < 4 * mix_var * np.sqrt(2.5 / n)
    # reverse fit locks onto one mode with that mode's width
    nearest = modes[np.argmin(np.abs(modes - r.reverse_fit.loc))]
    assert abs(r.reverse_fit.loc - nearest) < 0.05
    assert r.reverse_fit.scale == pytest.approx(sd, rel=0.05)
    # each fit wins in the direction it minimises
    assert r.kl_p_forward.ci_high < r.kl_p_reverse.ci_low
    assert r.kl_reverse_p.ci_high < r.kl_forward_p.ci_low
    pytest.importorskip("matplotlib")
    path = kl_asymmetry.plot(r, tmp_path / "fig.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
