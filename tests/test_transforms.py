"""Change of variables (issue 17): engine.transforms and engine.Transformed against independent oracles
(scipy.stats densities, scipy/scikit-learn's lambda estimates, quadrature, finite differences, the NumPy
twin of the program kernel)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import engine
from engine.kernels import transforms as tk
from engine.reference import transforms as ref
from engine.transforms import (Affine, BoxCox, ColumnWise, Compose, Log, Logit, Standardize, YeoJohnson,
                               from_spec, parse)

RNG = np.random.default_rng(17)

# (transform, sampler of points inside its domain)
CASES = {
    "affine": (lambda: Affine([1.0, -2.0], [3.0, -0.5]), lambda n: RNG.normal(size=(n, 2)) * 4),
    "log": (lambda: Log(), lambda n: RNG.lognormal(0, 2, size=(n, 2))),
    "logit": (lambda: Logit(-1.0, 3.0), lambda n: RNG.uniform(-0.999, 2.999, size=(n, 2))),
    "boxcox": (lambda: BoxCox([0.3, -0.7]), lambda n: RNG.lognormal(0, 1, size=(n, 2))),
    "boxcox0": (lambda: BoxCox(0.0), lambda n: RNG.lognormal(0, 1, size=(n, 2))),
    "yeojohnson": (lambda: YeoJohnson([0.4, 1.7]), lambda n: RNG.normal(size=(n, 2)) * 3),
    "yeojohnson_edges": (lambda: YeoJohnson([0.0, 2.0]), lambda n: RNG.normal(size=(n, 2)) * 3),
    "compose": (lambda: Compose([Log(), Affine(0.5, 2.0), YeoJohnson(0.8)]), lambda n: RNG.lognormal(0, 1, (n, 2))),
    "columnwise": (lambda: ColumnWise({1: Log()}), lambda n: np.abs(RNG.normal(size=(n, 2))) + 0.01),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_and_log_jacobian_against_finite_differences(name):
    make, draw = CASES[name]
    t = make()
    X = draw(400)
    Y = t.forward(X)
    np.testing.assert_allclose(t.inverse(Y), X, rtol=1e-12, atol=1e-12)
    # log|det J| = sum_j log|dT_j/dx_j| by central differences (the map is column-wise)
    h = 1e-6 * np.maximum(np.abs(X), 1e-3)
    fd = np.zeros(len(X))
    for j in range(X.shape[1]):
        lo, hi = X.copy(), X.copy()
        lo[:, j] -= h[:, j]
        hi[:, j] += h[:, j]
        fd += np.log(np.abs((t.forward(hi)[:, j] - t.forward(lo)[:, j]) / (2 * h[:, j])))
    np.testing.assert_allclose(t.log_abs_det_jacobian(X), fd, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_equals_numpy_twin(name):
    make, draw = CASES[name]
    X = draw(3000)
    X[5, 0] = np.nan  # missing: passes through, adds nothing to the log-Jacobian
    prog = make().program([0, 1])
    out, ld = np.empty_like(X), np.empty(len(X))
    assert tk.transform_rows(X, prog.codes, prog.params, False, False, out, ld) == -1
    want, want_ld = ref.transform_rows(X, prog.codes, prog.params)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ld, want_ld, rtol=1e-12, atol=1e-12)
    assert np.isnan(out[5, 0]) and np.isfinite(ld[5])
    back = np.empty_like(X)
    tk.transform_rows(out, prog.codes, prog.params, True, False, back, np.empty(0))
    np.testing.assert_allclose(back, ref.transform_rows(want, prog.codes, prog.params, inverse=True)[0],
                               rtol=1e-12, atol=1e-12)


def test_lognormal_density_equals_scipy():
    x = RNG.lognormal(0.3, 0.7, size=2000)
    m = engine.Transformed(engine.Normal(0.3, 0.7), Log())
    np.testing.assert_allclose(m.score_samples(x), stats.lognorm(0.7, scale=np.exp(0.3)).logpdf(x), rtol=0,
                               atol=1e-12)


def test_logit_normal_density_by_hand():
    lo, hi, mu, sigma = 2.0, 5.0, 0.4, 1.3
    x = RNG.uniform(lo, hi, size=2000)
    u = (x - lo) / (hi - lo)
    by_hand = stats.norm(mu, sigma).logpdf(np.log(u / (1 - u))) - np.log((hi - lo) * u * (1 - u))
    m = engine.Transformed(engine.Normal(mu, sigma), Logit(lo, hi))
    np.testing.assert_allclose(m.score_samples(x), by_hand, rtol=0, atol=1e-11)


def test_density_integrates_to_one_1d():
    m = engine.Transformed(engine.Normal(0.2, 0.9), YeoJohnson(0.5))
    total, err = integrate.quad(lambda v: np.exp(m.score_samples(np.array([v]))[0]), -np.inf, np.inf, limit=200)
    assert abs(total - 1) < 1e-8
    # Box-Cox with lambda > 0 maps onto (-1/lambda, inf): the density's mass is the base's mass there
    lam = 0.3
    m = engine.Transformed(engine.Normal(0.0, 1.0), BoxCox(lam))
    total, _ = integrate.quad(lambda v: np.exp(m.score_samples(np.array([v]))[0]), 0, np.inf, limit=200)
    assert abs(total - stats.norm.sf(-1 / lam)) < 1e-8


def test_density_integrates_to_one_2d():
    mvn = engine.MultivariateNormal([0.1, -0.3], [[0.5, 0.2], [0.2, 0.8]])
    m = engine.Transformed(mvn, ColumnWise({0: Log(), 1: Logit()}))

    def f(y, x):
        return np.exp(m.score_samples(np.array([[x, y]]))[0])

    total, _ = integrate.dblquad(f, 0, np.inf, 0, 1, epsabs=1e-10)
    assert abs(total - 1) < 1e-6


def test_lambdas_equal_scipy_and_sklearn():
    from sklearn.preprocessing import PowerTransformer

    X = np.column_stack([RNG.lognormal(size=3000), RNG.gamma(2, size=3000), RNG.normal(size=3000) * 2 - 1,
                         RNG.exponential(size=3000) ** 0.5])
    yj = YeoJohnson().fit(X)
    pt = PowerTransformer(method="yeo-johnson", standardize=False).fit(X)
    np.testing.assert_allclose(yj.lambdas_, pt.lambdas_, atol=1e-6)
    np.testing.assert_allclose(yj.lambdas_, [stats.yeojohnson_normmax(X[:, j]) for j in range(4)], atol=1e-6)
    pos = X[:, [0, 1, 3]]
    bc = BoxCox().fit(pos)
    np.testing.assert_allclose(bc.lambdas_, [stats.boxcox_normmax(pos[:, j], method="mle") for j in range(3)],
                               atol=1e-6)
    np.testing.assert_allclose(bc.lambdas_, PowerTransformer(method="box-cox", standardize=False).fit(pos).lambdas_,
                               atol=1e-6)
    # the profile log-likelihood at the estimate is the twin's maximum (no neighbour is higher)
    for j in range(3):
        at = ref.profile_log_likelihood(pos[:, j], tk.BOXCOX, bc.lambdas_[j])
        for d in (-1e-4, 1e-4):
            assert at >= ref.profile_log_likelihood(pos[:, j], tk.BOXCOX, bc.lambdas_[j] + d)


def test_streamed_lambda_fit_equals_in_memory():
    X = np.column_stack([RNG.lognormal(size=5001), RNG.normal(size=5001)])
    whole = YeoJohnson().fit(X)
    batches = [X[:1000], X[1000:3333], X[3333:]]
    streamed = YeoJohnson().fit_stream(lambda: iter(batches))
    np.testing.assert_allclose(streamed.lambdas_, whole.lambdas_, atol=1e-9)
    s = Standardize().fit_stream(lambda: iter(batches))
    np.testing.assert_allclose(s.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.scale_, X.std(axis=0), rtol=1e-12)


def test_fused_kernel_equals_two_passes_every_covariance_type():
    X = np.column_stack([RNG.lognormal(size=4000), RNG.gamma(2, size=4000), RNG.normal(size=4000)])
    for ct in ("full", "tied", "diag", "spherical"):
        m = engine.Transformed(engine.GaussianMixture(3, covariance_type=ct, random_state=0),
                               Compose([YeoJohnson(), Standardize()])).fit(X)
        Y = m.transform.forward(X)
        two_pass = m.base.score_samples(Y) + m.transform.log_abs_det_jacobian(X)
        np.testing.assert_allclose(m.score_samples(X), two_pass, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(m.score_samples(X.astype(np.float32)),
                                   m.base.score_samples(m.transform.forward(X.astype(np.float32).astype(float)))
                                   + m.transform.log_abs_det_jacobian(X.astype(np.float32).astype(float)),
                                   rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(m.predict_proba(X), m.base.predict_proba(Y), atol=1e-12)


def test_domain_errors_name_column_and_row_or_give_zero_density():
    X = RNG.lognormal(size=(3000, 3))
    X[2500, 1] = -2.0
    gm = engine.GaussianMixture(2, random_state=0).fit(np.log(np.abs(X)))
    m = engine.Transformed(gm, Log())
    with pytest.raises(ValueError, match=r"column 1, input row 2500: value -2.0 is outside the domain x > 0"):
        m.score_samples(X)
    with pytest.raises(ValueError, match=r"column 1, input row 2500"):
        Log().forward(X)
    z = engine.Transformed(gm, Log(), outside="zero-density").score_samples(X)
    assert z[2500] == -np.inf and np.isfinite(np.delete(z, 2500)).all()
    # the chunked path (a product-family base) names the input row too, past the first chunk
    big = np.abs(RNG.normal(size=(70000, 2))) + 0.1
    shifted_log = Compose([Log(), Affine(5.0, 1.0)])
    mix = engine.Transformed(engine.Mixture(2, family="exponential", random_state=0), shifted_log).fit(big)
    big[69000, 0] = 0.0
    with pytest.raises(ValueError, match=r"column 0, input row 69000: value 0.0 is outside the domain x > 0"):
        mix.score_samples(big)
    with pytest.raises(ValueError, match="no preimage"):
        BoxCox(0.5).inverse(np.array([[-3.0]]))
    with pytest.raises(ValueError, match=r"column 'price'.*input row 1"):
        import pyarrow as pa

        ColumnWise({"price": Log()}).forward(pa.table({"price": [1.0, -1.0], "s": ["a", "b"]}))


def test_sampling_agrees_with_density():
    m = engine.Transformed(engine.Normal(0.3, 0.7), Log())
    x = m.sample(20000, random_state=3)
    assert stats.kstest(x, stats.lognorm(0.7, scale=np.exp(0.3)).cdf).pvalue > 1e-3
    # Box-Cox's range is bounded: out-of-range draws are redrawn, so samples follow the normalised density
    lam = 0.8
    b = engine.Transformed(engine.Normal(0.0, 1.0), BoxCox(lam))
    s = b.sample(20000, random_state=4)
    lo = stats.norm.sf(-1 / lam)

    def cdf(v):
        return (stats.norm.cdf((v ** lam - 1) / lam) - stats.norm.cdf(-1 / lam)) / lo

    assert (s > 0).all() and stats.kstest(s, cdf).pvalue > 1e-3
    np.testing.assert_array_equal(s, b.sample(20000, random_state=4))


def test_kl_shared_transform_is_the_base_kl_and_mc_otherwise():
    p, q = engine.Normal(0.0, 1.0), engine.Normal(0.5, 1.5)
    shared = engine.kl_divergence(engine.Transformed(p, Log()), engine.Transformed(q, Log()))
    assert shared.estimate == engine.kl_divergence(p, q).estimate and shared.method == "exact"
    # the same map written differently goes by Monte Carlo, which must find the same value
    mc = engine.kl_divergence(engine.Transformed(p, Log()), engine.Transformed(q, Compose([Log(), Affine(0, 1)])),
                              n_samples=200_000, random_state=0)
    assert mc.method == "mc" and abs(mc.estimate - shared.estimate) < 4 * mc.stderr


def test_fit_bic_and_model_file_round_trip(tmp_path):
    X = np.column_stack([RNG.lognormal(size=3000), RNG.gamma(2, size=3000)])
    m = engine.Transformed(engine.GaussianMixture(2, random_state=0), YeoJohnson()).fit(X)
    Y = m.transform.forward(X)
    assert m.n_parameters == m.base.n_parameters + 2
    ll = m.score_samples(X).sum()
    assert m.bic(X) == pytest.approx(-2 * ll + m.n_parameters * np.log(len(X)), rel=1e-12)
    np.testing.assert_allclose(m.base.means_, engine.GaussianMixture(2, random_state=0).fit(Y).means_)
    path = tmp_path / "m.arrow"
    m.save(path)
    back = engine.load(path)
    assert isinstance(back, engine.Transformed) and back.transform == m.transform
    np.testing.assert_array_equal(back.score_samples(X), m.score_samples(X))
    np.testing.assert_array_equal(back.sample(50, random_state=1)[0], m.sample(50, random_state=1)[0])
    # a named-column product mixture under a column-wise transform, through a model file
    import pyarrow as pa

    t = pa.table({"delay": RNG.lognormal(size=2000), "n": RNG.poisson(3, size=2000), "s": RNG.choice(["a", "b"], 2000)})
    fam = {"delay": "gaussian", "n": "poisson", "s": "categorical"}
    pm = engine.Transformed(engine.Mixture(2, family=fam, random_state=0), ColumnWise({"delay": BoxCox()})).fit(t)
    want = pm.base.score_samples(pm.transform.forward(t)) + pm.transform.log_abs_det_jacobian(t)
    np.testing.assert_allclose(pm.score_samples(t), want, rtol=1e-13)
    pm.save(tmp_path / "p.arrow")
    np.testing.assert_array_equal(engine.load(tmp_path / "p.arrow").score_samples(t), pm.score_samples(t))


def test_hmm_base_adds_the_jacobian_to_sequence_likelihoods():
    h = engine.GaussianHMM(2, random_state=0, n_iter=5)
    X = RNG.lognormal(size=(300, 1))
    m = engine.Transformed(h, Log()).fit(X, lengths=[100, 200])
    base = m.base.score(np.log(X), [100, 200])
    assert m.score(X, lengths=[100, 200]) == pytest.approx(base - np.log(X).sum(), rel=1e-13)
    assert (m.predict(X, lengths=[100, 200]) == m.base.predict(np.log(X), [100, 200])).all()
    Xs, states = m.sample(50, random_state=0)
    assert (Xs > 0).all() and states.shape == (50,)


def test_specs_and_cli_parsing():
    t = Compose([YeoJohnson().fit(RNG.normal(size=(100, 2))), Standardize().fit(RNG.normal(size=(100, 2)))])
    assert from_spec(t._spec()) == t
    assert isinstance(parse("yeo-johnson"), YeoJohnson)
    cw = parse("price=log, delay=yeo-johnson+standardize")
    assert isinstance(cw, ColumnWise) and isinstance(cw.mapping["delay"], Compose)
    with pytest.raises(ValueError, match="unknown transform 'sqrt'"):
        parse("sqrt")


@settings(max_examples=60, deadline=None)
@given(lam=st.floats(-3, 5), scale=st.floats(0.01, 100), seed=st.integers(0, 2**31))
def test_fuzz_kernel_against_twin(lam, scale, seed):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=200) * scale, rng.lognormal(size=200) * scale])
    for t in (YeoJohnson(lam), Compose([Affine(0.0, 1 / scale), YeoJohnson(lam)]), ColumnWise({1: BoxCox(lam)})):
        prog = t.program([0, 1])
        out, ld = np.empty_like(X), np.empty(len(X))
        bad = tk.transform_rows(X, prog.codes, prog.params, False, True, out, ld)
        want, want_ld = ref.transform_rows(X, prog.codes, prog.params)
        fine = np.isfinite(want).all(axis=1) & np.isfinite(want_ld)
        assert bad == -1
        np.testing.assert_allclose(out[fine], want[fine], rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(ld[fine], want_ld[fine], rtol=1e-11, atol=1e-11)
        assert (ld[~fine] == -np.inf).all()


def test_student_t_and_diag_product_bases_in_the_data_units():
    X = np.exp(RNG.standard_t(4, size=(3000, 2)) / 3)
    for base in (engine.Mixture(2, family="student_t", random_state=0),
                 engine.Mixture(2, family="gaussian", covariance_type="diag", random_state=0),
                 engine.MultivariateNormal([0.0, 0.0], np.eye(2))):
        m = engine.Transformed(base, Log()).fit(X)
        want = (m.base.score_samples if hasattr(m.base, "score_samples") else m.base.logpdf)(np.log(X))
        np.testing.assert_allclose(m.score_samples(X), want - np.log(X).sum(axis=1), rtol=1e-12)
        assert np.isfinite(m.bic(X))


def test_transformed_fit_stream_fits_the_transform_then_streams_the_base():
    X = np.column_stack([RNG.lognormal(size=6000), RNG.gamma(2, size=6000)])
    batches = [X[:2500], X[2500:]]
    streamed = engine.Transformed(engine.GaussianMixture(2, random_state=0), YeoJohnson()).fit_stream(
        lambda: iter(batches))
    np.testing.assert_allclose(streamed.transform.lambdas_, YeoJohnson().fit(X).lambdas_, atol=1e-9)
    assert streamed.base.stream_rows_ == len(X) and streamed.base.n_iter_ > 1
    Y = streamed.transform.forward(X)
    # the streamed mixture is the mixture of the transformed stream: its statistics at its own fixed point
    from engine.estimation.em import e_step_stats

    assert streamed.score(X) == pytest.approx(
        e_step_stats(streamed.base, Y).log_likelihood / len(X) + streamed.transform.log_abs_det_jacobian(X).mean(),
        rel=1e-12)
