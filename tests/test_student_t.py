"""The Student-t family through the conformance checks (every covariance type), plus its own: scipy's
multivariate_t as the density oracle, the Gaussian limit, and the degrees-of-freedom equation."""
import math

import numba
import numpy as np
import pytest
from scipy import stats as st
from scipy.special import digamma

import engine
from engine.families.student_t import log_minus_digamma, solve_dof
from engine.reference import student_t as twin

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    g = rng.chisquare(5, n) / 5
    A = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.2, -0.3, 0.9]])
    X = np.where(z[:, None], rng.normal(size=(n, 3)) @ A.T / np.sqrt(g)[:, None] + [4, 4, 0],
                 rng.normal(size=(n, 3)) * 1.5 / np.sqrt(g)[:, None])
    return X


@pytest.fixture(scope="module", params=COVARIANCE_TYPES)
def fitted(request):
    X = _data()
    m = engine.Mixture(2, family="student_t", covariance_type=request.param, random_state=0, max_iter=300).fit(X)
    return request.param, X, m


def test_log_density_equals_scipy_multivariate_t(fitted):
    ct, X, m = fitted
    S = twin.full_scales(m.covariances_, ct, 2, 3)
    comps = np.column_stack([np.log(m.weights_[k]) + st.multivariate_t.logpdf(X[:500], m.means_[k], S[k], df=m.dofs_[k])
                             for k in range(2)])
    want = np.logaddexp(comps[:, 0], comps[:, 1])
    np.testing.assert_allclose(m.score_samples(X[:500]), want, rtol=1e-10)


def test_em_iterations_equal_numpy_twin(fitted):
    ct, X, m = fitted
    fam = m._family_obj
    params = fam.initialize(X, np.empty(0), 2, "kmeans", 123, 1e-6)
    tw = (params.weights, params.means, params.covariances, params.dofs)
    for _ in range(5):
        stats = fam.statistics(X, np.empty(0), params)
        new = fam.m_step(stats, 1e-6)
        *tw_new, ll = twin.em_step(X, *tw, ct)
        assert stats.mean_log_likelihood == pytest.approx(ll, rel=1e-9)
        for got, want in zip((new.weights, new.means, new.covariances, new.dofs), tw_new):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        params, tw = new, tuple(tw_new)


def test_statistics_of_halves_add(fitted):
    ct, X, m = fitted
    a, b, whole = engine.em.e_step_stats(m, X[:1111]), engine.em.e_step_stats(m, X[1111:]), engine.em.e_step_stats(m, X)
    s = a + b
    for name in ("nk", "su", "sl", "s1", "s2"):
        np.testing.assert_allclose(getattr(s, name), getattr(whole, name), rtol=1e-11, atol=1e-9)


def test_lower_bound_never_decreases(fitted):
    ct, X, m = fitted
    with pytest.warns(engine.ConvergenceWarning):
        b = np.array(engine.Mixture(2, family="student_t", covariance_type=ct, random_state=1, max_iter=40,
                                    tol=0).fit(X).lower_bounds_)
    assert np.all(np.diff(b) >= -1e-12 * np.abs(b[1:]))


def test_round_trip_threads_and_sampler(fitted, tmp_path):
    ct, X, m = fitted
    m.save(tmp_path / "t.arrow")
    loaded = engine.load(tmp_path / "t.arrow")
    np.testing.assert_array_equal(loaded.score_samples(X), m.score_samples(X))
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = m.sample(20_000, random_state=5)[0]
        s1 = engine.em.e_step_stats(m, X)
        numba.set_num_threads(max(prev, 2))
        b = m.sample(20_000, random_state=5)[0]
        s2 = engine.em.e_step_stats(m, X)
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s1.s2, s2.s2)
    # goodness of fit: each coordinate's marginal is a mixture of univariate t's
    S = twin.full_scales(m.covariances_, ct, 2, 3)
    x, _ = m.sample(100_000, random_state=9)
    for j in range(3):
        cdf = lambda v: sum(m.weights_[k] * st.t.cdf(v, m.dofs_[k], m.means_[k, j], math.sqrt(S[k][j, j]))  # noqa: E731
                            for k in range(2))
        assert st.kstest(x[:, j], cdf).pvalue > 1e-3


def test_streamed_and_dask_equal_in_memory(fitted):
    ct, X, m = fitted
    da = pytest.importorskip("dask.array")
    from engine import dask as edask

    kw = dict(family="student_t", covariance_type=ct, random_state=0, max_iter=4, tol=0,
              params_init={"means": m.means_, "covariances": m.covariances_, "dofs": m.dofs_}, weights_init=m.weights_)
    with pytest.warns(engine.ConvergenceWarning):
        a = engine.Mixture(2, **kw).fit(X)
        b = engine.Mixture(2, **kw).fit_stream([X[:1000], X[1000:1001], X[1001:]])
        c = edask.fit(engine.Mixture(2, **kw), da.from_array(X, chunks=(700, 3)), scheduler="sync")
    for other in (b, c):
        np.testing.assert_allclose(other.covariances_, a.covariances_, rtol=1e-10)
        np.testing.assert_allclose(other.dofs_, a.dofs_, rtol=1e-10)


def test_fixed_huge_dof_is_the_gaussian_mixture():
    """The same 30 iterations from the same initialisation equal the Gaussian mixture's. The t's weights are
    u = 1 + (D - delta)/nu, so at dof = 1e6 the models themselves differ by O(delta/nu): measured 3e-6 in
    the means and 1e-5 relative in the covariances (delta reaches ~30 on this heavy-tailed data), hence
    1e-4 relative; at dof = 1e12, 1e-9."""
    X = _data(2000, seed=3)
    for ct in COVARIANCE_TYPES:
        g = engine.GaussianMixture(2, covariance_type=ct, random_state=0, tol=0, max_iter=30)
        with pytest.warns(engine.ConvergenceWarning):
            g.fit(X)
        for dof, tol in ((1e6, 1e-4), (1e12, 1e-9)):
            t = engine.Mixture(2, family="student_t", covariance_type=ct, dof=dof, random_state=0, tol=0, max_iter=30)
            with pytest.warns(engine.ConvergenceWarning):
                t.fit(X)
            np.testing.assert_allclose(t.means_, g.means_, rtol=tol, atol=tol)
            np.testing.assert_allclose(t.covariances_, g.covariances_, rtol=tol, atol=tol)
            np.testing.assert_allclose(t.weights_, g.weights_, rtol=tol)
            assert t.lower_bound_ == pytest.approx(g.lower_bound_, rel=tol)


def test_dof_equation_against_scipy_digamma():
    for x in (0.01, 0.3, 1.0, 2.5, 7.9, 8.0, 50.0, 1e4, 1e8):
        assert log_minus_digamma(x) == pytest.approx(math.log(x) - digamma(x), rel=1e-12)
    # the root satisfies McLachlan & Peel's equation
    nu = solve_dof(100.0, -130.0, 8.0, 3)
    lhs = -digamma(nu / 2) + math.log(nu / 2) + 1 - 1.3 + digamma((8 + 3) / 2) - math.log((8 + 3) / 2)
    assert abs(lhs) < 1e-10


def test_heavy_tails_win_on_outliers_and_bic_picks_k():
    X = _data(4000, seed=4)
    t = engine.Mixture(2, family="student_t", random_state=0).fit(X)
    g = engine.GaussianMixture(2, random_state=0).fit(X)
    assert t.score(X) > g.score(X)
    bics = [engine.Mixture(K, family="student_t", random_state=0, n_init=2).fit(X).bic(X) for K in (1, 2, 3)]
    assert int(np.argmin(bics)) == 1, bics
