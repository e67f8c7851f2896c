"""Conformance suite for the mixture families: every family must pass every test here.

Adding a family = adding a FamilyCase (data generator, family spec, scipy oracle); see docs/FAMILIES.md.
"""
from dataclasses import dataclass

import numba
import numpy as np
import pytest
from scipy import stats as st
from scipy.special import logsumexp

import engine
from engine.families.product import ProductParams
from engine.reference import product as twin


@dataclass
class FamilyCase:
    name: str
    family: object
    kinds: list
    missing: str = "error"
    covariance_type: str = "diag"
    equal_scales: bool = False  # Gaussian columns with one scale in both components (a tied block's truth)


def _data(case, n, seed=0):
    """n rows from a known 2-component mixture of the case's kinds (missing entries where marginalising)."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.35
    cols = []
    for j, kind in enumerate(case.kinds):
        if kind == "gaussian":
            lo, hi = (1.0, 1.0) if case.equal_scales else (0.7, 1.3)
            cols.append(np.where(z, rng.normal(-1 + j, lo, n), rng.normal(2 + j, hi, n)))
        elif kind == "bernoulli":
            cols.append((rng.random(n) < np.where(z, 0.85, 0.2)).astype(float))
        elif kind == "poisson":
            cols.append(rng.poisson(np.where(z, 1.5, 7.0)).astype(float))
        elif kind == "exponential":
            cols.append(rng.exponential(np.where(z, 0.5, 3.0)))
        else:
            p1, p2 = np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.2, 0.7])
            u = rng.random(n)
            cols.append(np.where(z, np.searchsorted(np.cumsum(p1), u), np.searchsorted(np.cumsum(p2), u)).astype(float))
    X = np.column_stack(cols)
    if isinstance(case.family, dict):
        for entry, spec in case.family.items():
            if isinstance(spec, tuple) and spec[1] in ("full", "tied"):  # correlate the block's columns
                X[:, entry[1]] += 0.6 * X[:, entry[0]]
    if case.missing == "marginalize":
        X[rng.random(X.shape) < 0.1] = np.nan
    return X


CASES = [
    FamilyCase("bernoulli", "bernoulli", ["bernoulli"] * 4),
    FamilyCase("categorical", "categorical", ["categorical"] * 4),
    FamilyCase("poisson", "poisson", ["poisson"] * 3),
    FamilyCase("exponential", "exponential", ["exponential"] * 2),
    FamilyCase("gaussian-diag-marginal", "gaussian", ["gaussian"] * 3, "marginalize", "diag"),
    FamilyCase("gaussian-spherical-marginal", "gaussian", ["gaussian"] * 2, "marginalize", "spherical"),
    FamilyCase("mixed", {0: "gaussian", 1: "bernoulli", 2: "categorical", 3: "poisson", 4: "exponential"},
               ["gaussian", "bernoulli", "categorical", "poisson", "exponential"]),
    FamilyCase("mixed-marginal", {(0, 1): ("gaussian", "spherical"), 2: "categorical", 3: "bernoulli"},
               ["gaussian", "gaussian", "categorical", "bernoulli"], "marginalize"),
    # a full-covariance Gaussian block beside product columns (which may be marginalised; the block may not)
    FamilyCase("mixed-full-block", {(0, 1, 2): ("gaussian", "full"), 3: "categorical", 4: "poisson"},
               ["gaussian", "gaussian", "gaussian", "categorical", "poisson"]),
    FamilyCase("mixed-tied-block", {(0, 1): ("gaussian", "tied"), 2: "exponential"},
               ["gaussian", "gaussian", "exponential"], equal_scales=True),
]
IDS = [c.name for c in CASES]


def _model(case, K=2, **kw):
    return engine.Mixture(K, family=case.family, covariance_type=case.covariance_type, missing=case.missing,
                          random_state=0, **kw)


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def fitted(request):
    case = request.param
    X = _data(case, 3000)
    return case, X, _model(case, max_iter=200, tol=1e-8).fit(X)


def _scipy_log_density(case, m, X):
    """The oracle: scipy.stats per column, log-sum-exp over components, NaN entries left out."""
    fam = m._family_obj
    p = m._params
    K = p.weights.shape[0]
    terms = np.tile(np.log(p.weights), (X.shape[0], 1))
    for j, col in enumerate(fam.columns):
        x = X[:, j]
        obs = ~np.isnan(x)
        xs = np.where(obs, x, 0.0)
        for k in range(K):
            if col.kind == "dense":
                continue
            if col.kind == "gaussian":
                t = st.norm.logpdf(xs, p.loc[k, j], np.sqrt(p.var[k, j]))
            elif col.kind == "bernoulli":
                t = st.bernoulli.logpmf(xs, p.loc[k, j])
            elif col.kind == "poisson":
                t = st.poisson.logpmf(xs, p.loc[k, j])
            elif col.kind == "exponential":
                t = st.expon.logpdf(xs, scale=1 / p.loc[k, j])
            else:
                lo = fam.encoder.cat_offsets[j]
                probs = p.cat_probs[k, lo:lo + col.n_categories]
                t = st.multinomial.logpmf(np.eye(col.n_categories)[xs.astype(int)], 1, probs)
            terms[:, k] += np.where(obs, t, 0.0)
    if fam.dense_cols.size:
        for k in range(K):
            c = p.dense_cov[k] if fam.dense_type == "full" else p.dense_cov
            terms[:, k] += st.multivariate_normal.logpdf(X[:, fam.dense_cols], p.dense_means[k], c)
    return logsumexp(terms, axis=1)


def _dense(fam, p):
    return (fam.dense_cols, p.dense_means, p.dense_cov, fam.dense_type) if fam.dense_cols.size else None


def _twin_args(m):
    fam = m._family_obj
    p = m._params
    return ([c.kind for c in fam.columns], p.weights, p.loc, p.var, p.cat_probs, fam.encoder.cat_offsets,
            _dense(fam, p))


def test_log_density_equals_scipy_oracle(fitted):
    case, X, m = fitted
    np.testing.assert_allclose(m.score_samples(X[:500]), _scipy_log_density(case, m, X[:500]), rtol=1e-10, atol=1e-10)


def test_log_density_and_responsibilities_equal_twin(fitted):
    case, X, m = fitted
    np.testing.assert_allclose(m.score_samples(X), twin.log_density(X, *_twin_args(m)), rtol=1e-12, atol=1e-12)
    terms = twin.component_log_terms(X, *_twin_args(m))
    resp = np.exp(terms - logsumexp(terms, axis=1, keepdims=True))
    np.testing.assert_allclose(m.predict_proba(X), resp, atol=1e-12)


def test_statistics_of_halves_add_to_the_whole(fitted):
    case, X, m = fitted
    whole = engine.em.e_step_stats(m, X)
    a = engine.em.e_step_stats(m, X[:1234])
    b = engine.em.e_step_stats(m, X[1234:])
    s = a + b
    for name in ("nk", "s1", "s2", "counts"):
        np.testing.assert_allclose(getattr(s, name), getattr(whole, name), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(s.observed_mass(), whole.observed_mass(), rtol=1e-12)
    if whole.g_s2 is not None:
        np.testing.assert_allclose(s.g_s1, whole.g_s1, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(s.g_s2, whole.g_s2, rtol=1e-12, atol=1e-9)
    assert s.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-12)


def test_statistics_refuse_to_add_across_models(fitted):
    case, X, m = fitted
    other = _model(case).fit(X[::2])
    if not np.array_equal(other._params.loc, m._params.loc) and "gaussian" in case.kinds:
        with pytest.raises(ValueError, match="different models"):
            engine.em.e_step_stats(m, X) + engine.em.e_step_stats(other, X)


def test_em_iterations_equal_numpy_twin(fitted):
    """Five EM iterations from the same parameters: kernel statistics + m_step vs the twin's n x K EM."""
    case, X, m = fitted
    fam = m._family_obj
    with pytest.warns(engine.ConvergenceWarning):
        start = _model(case, max_iter=1, init_params="random").fit(X)._params
    params = start
    tw = (start.weights, start.loc, start.var, start.cat_probs)
    dense = _dense(fam, start)
    for _ in range(5):
        stats = fam.statistics(X, np.empty(0), params)
        new = fam.m_step(stats, 1e-6)
        *tw_new, ll = twin.em_step(X, [c.kind for c in fam.columns], *tw, fam.encoder.cat_offsets,
                                   fam.encoder.cat_sizes, 1e-6, spherical=fam.spherical, dense=dense)
        assert stats.mean_log_likelihood == pytest.approx(ll, rel=1e-9)
        if dense is not None:
            (g_means, g_cov), tw_new = tw_new[-1], tw_new[:-1]
            np.testing.assert_allclose(new.dense_means, g_means, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(new.dense_cov, g_cov, rtol=1e-9, atol=1e-12)
            dense = (fam.dense_cols, g_means, g_cov, fam.dense_type)
        for got, want in zip((new.weights, new.loc, new.var, new.cat_probs), tw_new):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        params, tw = new, tuple(tw_new)


def test_lower_bound_never_decreases(fitted):
    case, X, m = fitted
    with pytest.warns(engine.ConvergenceWarning):
        bounds = np.array(_model(case, max_iter=60, tol=0, init_params="random").fit(X).lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


def test_sample_weights_equal_repeated_rows(fitted):
    case, X, m = fitted
    Xs = X[:400]
    reps = np.random.default_rng(1).integers(0, 3, len(Xs))
    a = engine.em.e_step_stats(m, Xs, reps.astype(float))
    b = engine.em.e_step_stats(m, np.repeat(Xs, reps, axis=0))
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-10)
    np.testing.assert_allclose(a.s1, b.s1, rtol=1e-10, atol=1e-9)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-10)


def test_save_load_round_trip(fitted, tmp_path):
    case, X, m = fitted
    path = tmp_path / "m.arrow"
    m.save(path)
    loaded = engine.load(path)
    assert type(loaded) is engine.Mixture
    np.testing.assert_array_equal(loaded.score_samples(X), m.score_samples(X))
    np.testing.assert_array_equal(loaded.sample(50, random_state=3)[0], m.sample(50, random_state=3)[0])


def test_thread_count_invariance(fitted):
    case, X, m = fitted
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        s1 = engine.em.e_step_stats(m, X)
        x1 = m.sample(5000, random_state=7)[0]
        numba.set_num_threads(max(2, prev))
        s2 = engine.em.e_step_stats(m, X)
        x2 = m.sample(5000, random_state=7)[0]
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_array_equal(s1.s1, s2.s1)
    assert s1.log_likelihood == s2.log_likelihood
    np.testing.assert_array_equal(x1, x2)


def test_sampler_agrees_with_log_density(fitted):
    """Goodness of fit of 200,000 draws against the model's own density, per column: chi-square over the
    support for discrete columns, Kolmogorov-Smirnov against the mixture CDF for continuous ones."""
    case, X, m = fitted
    S, labels = m.sample(200_000, random_state=11)
    fam = m._family_obj
    p = m._params
    w = p.weights
    np.testing.assert_allclose(np.bincount(labels, minlength=len(w)) / len(labels), w,
                               atol=5 * np.sqrt(w * (1 - w) / len(labels)).max())
    for j, col in enumerate(fam.columns):
        x = S[:, j]
        if col.kind == "dense":
            a = int(np.flatnonzero(fam.dense_cols == j)[0])
            sd = [np.sqrt((p.dense_cov[k] if fam.dense_type == "full" else p.dense_cov)[a, a]) for k in range(len(w))]
            cdf = lambda t: sum(w[k] * st.norm.cdf(t, p.dense_means[k, a], sd[k]) for k in range(len(w)))  # noqa: E731
            assert st.kstest(x, cdf).pvalue > 1e-3
        elif col.kind == "gaussian":
            cdf = lambda t: sum(w[k] * st.norm.cdf(t, p.loc[k, j], np.sqrt(p.var[k, j])) for k in range(len(w)))  # noqa: E731
            assert st.kstest(x, cdf).pvalue > 1e-3
        elif col.kind == "exponential":
            cdf = lambda t: sum(w[k] * st.expon.cdf(t, scale=1 / p.loc[k, j]) for k in range(len(w)))  # noqa: E731
            assert st.kstest(x, cdf).pvalue > 1e-3
        else:
            if col.kind == "bernoulli":
                support = np.array([0.0, 1.0])
                pmf = np.array([sum(w[k] * st.bernoulli.pmf(v, p.loc[k, j]) for k in range(len(w))) for v in support])
            elif col.kind == "poisson":
                support = np.arange(0, 40.0)
                pmf = np.array([sum(w[k] * st.poisson.pmf(v, p.loc[k, j]) for k in range(len(w))) for v in support])
            else:
                support = col.categories.astype(float)
                lo = fam.encoder.cat_offsets[j]
                pmf = w @ p.cat_probs[:, lo:lo + col.n_categories]
            counts = np.array([(x == v).sum() for v in support])
            keep = pmf * len(x) > 5
            observed = np.append(counts[keep], len(x) - counts[keep].sum())
            expected = np.append(pmf[keep], max(1 - pmf[keep].sum(), 0)) * len(x)
            nz = expected > 0
            assert st.chisquare(observed[nz], expected[nz] * observed[nz].sum() / expected[nz].sum()).pvalue > 1e-3


def test_sampling_into_caller_owned_arrays(fitted):
    """out=/labels_out= (issue 20): the caller's arrays get exactly a fresh call's draws, codes decoded in place."""
    case, X, m = fitted
    S, labels = m.sample(700, random_state=4)
    out, lab = np.full(S.shape, np.nan), np.full(700, -1, dtype=np.int64)
    got = m.sample(700, random_state=4, out=out, labels_out=lab)
    assert got[0] is out and got[1] is lab
    np.testing.assert_array_equal(out, S)
    np.testing.assert_array_equal(lab, labels)
    with pytest.raises(ValueError, match=r"out must have shape \(700, %d\)" % S.shape[1]):
        m.sample(700, random_state=4, out=np.empty((700, S.shape[1] + 1)))
    with pytest.raises(ValueError, match="labels_out must have dtype int64"):
        m.sample(700, random_state=4, labels_out=np.empty(700, dtype=np.int32))


def test_bic_finds_the_number_of_components(fitted):
    case, X, m = fitted
    X = _data(case, 6000, seed=5)
    bics = [_model(case, K, n_init=2, max_iter=300).fit(X).bic(X) for K in (1, 2, 3)]
    assert int(np.argmin(bics)) + 1 == 2, bics


def test_bad_values_name_column_and_row(fitted):
    case, X, m = fitted
    bad = X[:20].copy()
    kind = case.kinds[1]
    bad[13, 1] = {"gaussian": np.inf, "bernoulli": 2.0, "poisson": -1.0, "exponential": -0.5, "categorical": 9.0}[kind]
    with pytest.raises(ValueError, match=r"column 1, input row 13"):
        m.score_samples(bad)
    if case.missing == "error":
        bad = X[:20].copy()
        bad[7, 0] = np.nan
        with pytest.raises(ValueError, match=r"column 0, input row 7: missing value"):
            m.score_samples(bad)


def test_kl_exact_agrees_with_monte_carlo(fitted):
    """Closed-form KL between single-component product models vs the Monte Carlo estimate (sampler +
    log-density kernel): within 4 standard errors; KL(p || p) = 0 exactly."""
    case, X, m = fitted
    p = _model(case, 1).fit(X[:1500])
    q = _model(case, 1).fit(X[1500:])
    exact = engine.kl_divergence(p, q)
    assert exact.method == "exact" and exact.estimate > 0
    mc = engine.kl_divergence(p, q, method="mc", n_samples=400_000, random_state=0)
    assert abs(mc.estimate - exact.estimate) < 4 * mc.stderr + 1e-12
    assert engine.kl_divergence(p, p).estimate == 0.0
    var = engine.kl_divergence(m, q, method="variational")
    assert np.isfinite(var.estimate)


def test_kl_exact_per_column_matches_scipy_entropy():
    """Bernoulli and categorical closed forms against scipy.stats.entropy(pk, qk) (= KL)."""
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.integers(0, 2, 600), rng.integers(0, 4, 600)]).astype(float)
    fam = {0: "bernoulli", 1: "categorical"}
    p = engine.Mixture(1, family=fam).fit(X[:300])
    q = engine.Mixture(1, family=fam).fit(X[300:])
    pb, qb = p.params_[0]["probs"][0, 0], q.params_[0]["probs"][0, 0]
    want = st.entropy([pb, 1 - pb], [qb, 1 - qb]) + st.entropy(p.params_[1]["probs"][0][0], q.params_[1]["probs"][0][0])
    assert engine.kl_divergence(p, q).estimate == pytest.approx(want, rel=1e-12)


def test_streamed_fit_equals_in_memory(fitted):
    """fit_stream over uneven batches = fit on the concatenation, from the same params_init (the parameters
    of the module's fit), to summation-order rounding; and the bottom-k init sample ignores the batching."""
    case, X, m = fitted
    init = m.params_ if isinstance(case.family, dict) else {
        k: getattr(m, k + "_") for k in ("probs", "rates", "means", "covariances") if hasattr(m, k + "_")}
    if isinstance(case.family, dict):
        init = {e: {k: v for k, v in p.items() if k != "categories"} for e, p in init.items()}
    kw = dict(params_init=init, weights_init=m.weights_, max_iter=5, tol=0)
    with pytest.warns(engine.ConvergenceWarning):
        a = _model(case, **kw).fit(X)
    cuts = [0, 7, 1000, 1001, 2500, len(X)]
    batches = [X[i:j] for i, j in zip(cuts[:-1], cuts[1:])]
    with pytest.warns(engine.ConvergenceWarning):
        b = _model(case, **kw).fit_stream(batches)
    np.testing.assert_allclose(b._params.loc, a._params.loc, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b._params.cat_probs, a._params.cat_probs, rtol=1e-10, atol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)
    s1 = _model(case).fit_stream(batches, init_sample_size=100).init_sample_
    s2 = _model(case).fit_stream([X[:1500], X[1500:]], init_sample_size=100).init_sample_
    np.testing.assert_array_equal(s1, s2)


def test_dask_fit_equals_local_streamed_fit(fitted):
    """Distributed EM over Dask partitions = the local streamed fit over the same partitions (same seed):
    the same initialisation sample, categories and statistics; then Dask scoring = local scoring."""
    da = pytest.importorskip("dask.array")
    from engine import dask as edask

    case, X, m = fitted
    chunks = 700
    local = _model(case, max_iter=4, tol=0)
    with pytest.warns(engine.ConvergenceWarning):
        local.fit_stream([X[i:i + chunks] for i in range(0, len(X), chunks)], init_sample_size=500)
        dist = edask.fit(_model(case, max_iter=4, tol=0), da.from_array(X, chunks=(chunks, X.shape[1])),
                         init_sample_size=500, scheduler="sync")
    np.testing.assert_array_equal(dist.init_sample_, local.init_sample_)
    np.testing.assert_allclose(dist._params.loc, local._params.loc, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dist._params.cat_probs, local._params.cat_probs, rtol=1e-12, atol=1e-14)
    scores = edask.score(dist, da.from_array(X, chunks=(chunks, X.shape[1]))).compute(scheduler="sync")
    np.testing.assert_array_equal(scores, dist.score_samples(X))
