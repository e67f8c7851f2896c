"""EM for Gaussian mixtures against scikit-learn, and the sufficient-statistics seam."""
import warnings

import numba
import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import engine
from engine.estimation.em import e_step_stats, m_step
from engine.models.mixture import ConvergenceWarning
from conftest import COVARIANCE_TYPES, random_mixture_params, sklearn_mixture

DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "datasets"


def load(name, columns, n=None):
    table = pq.read_table(DATA / name, columns=columns).drop_null()
    X = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in columns])
    return X[:n] if n else X


def real_data():
    return {
        "faithful": (load("faithful.parquet", ["eruptions", "waiting"]), 2),
        "penguins": (load("penguins.parquet", ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]), 3),
        "flights": (load("flights.parquet", ["dep_delay", "arr_delay", "air_time", "distance"], n=20_000), 3),
    }


def synthetic(rng, covariance_type="full"):
    w, m, c = random_mixture_params(rng, 3, 4, covariance_type, spread=2.0)
    return engine.GaussianMixture.from_params(w, m, c, covariance_type).sample(3000, random_state=5)[0]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["faithful", "penguins", "flights", "synthetic"])
def test_same_init_same_fit_as_sklearn(rng, dataset, covariance_type):
    X, K = real_data()[dataset] if dataset != "synthetic" else (synthetic(rng), 3)
    # a common starting point: scikit-learn's k-means initialisation after one EM step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = SkGaussianMixture(K, covariance_type=covariance_type, max_iter=1, random_state=0).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    kw = dict(covariance_type=covariance_type, tol=1e-7, max_iter=60, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(K, **kw).fit(X)
        ours = engine.GaussianMixture(K, **kw).fit(X)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.converged_ == sk.converged_
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-6)
    np.testing.assert_allclose(ours.weights_, sk.weights_, rtol=1e-6)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-6, atol=1e-6 * np.abs(sk.means_).max())
    np.testing.assert_allclose(ours.covariances_, sk.covariances_, rtol=1e-6, atol=1e-6 * np.abs(sk.covariances_).max())
    np.testing.assert_allclose(ours.precisions_cholesky_, sk.precisions_cholesky_, rtol=1e-5, atol=1e-6 * np.abs(sk.precisions_cholesky_).max())
    # the EM lower bound never decreases (beyond round-off)
    lb = np.asarray(ours.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_responsibilities_match_sklearn(rng, covariance_type):
    w, m, c = random_mixture_params(rng, 4, 3, covariance_type)
    X = rng.normal(scale=3, size=(5000, 3))
    ours = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    sk = sklearn_mixture(w, m, c, covariance_type)
    resp = ours.predict_proba(X)
    np.testing.assert_allclose(resp, sk.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_halves_add_to_the_whole(rng, covariance_type):
    X = synthetic(rng)
    model = engine.GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    whole = e_step_stats(model, X)
    halves = e_step_stats(model, X[:1234]) + e_step_stats(model, X[1234:])
    for field in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(halves, field), getattr(whole, field), rtol=1e-10, atol=1e-10)
    assert halves.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-10)
    assert whole.weight == X.shape[0]
    assert whole.mean_log_likelihood == pytest.approx(model.score(X), rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_on_batches_equals_fit_in_memory(rng, covariance_type):
    X = synthetic(rng)
    base = engine.GaussianMixture(3, covariance_type=covariance_type, random_state=1, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base.fit(X)
    init = dict(weights_init=base.weights_, means_init=base.means_, precisions_init=base.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = engine.GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=8, **init).fit(X)
    # the streaming loop a Parquet/Dask caller writes: statistics of batches, summed, then the M-step
    model = engine.GaussianMixture(3, covariance_type=covariance_type, max_iter=0, **init)
    model._check_hyperparameters(*X.shape)
    model._install(*model._initialize(X, np.empty(0), 0))
    for _ in range(8):
        batches = np.array_split(X, 5)
        stats = sum((e_step_stats(model, b) for b in batches[1:]), e_step_stats(model, batches[0]))
        model._install(*m_step(stats, covariance_type, model.reg_covar))
    np.testing.assert_allclose(model.means_, in_memory.means_, rtol=1e-9)
    np.testing.assert_allclose(model.covariances_, in_memory.covariances_, rtol=1e-9)
    np.testing.assert_allclose(model.weights_, in_memory.weights_, rtol=1e-9)


def test_bic_chooses_three_components():
    truth = engine.GaussianMixture.from_params(
        [0.3, 0.45, 0.25], [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], [[1.0, 1.0], [1.5, 0.7], [0.6, 1.2]], "diag"
    )
    X, _ = truth.sample(3000, random_state=3)
    bics = {k: engine.GaussianMixture(k, covariance_type="diag", random_state=0, n_init=2).fit(X).bic(X) for k in range(1, 7)}
    assert min(bics, key=bics.get) == 3


def test_kmeans_init_recovers_separated_clusters():
    truth = engine.GaussianMixture.from_params(
        [0.2, 0.3, 0.5], [[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0]], [1.0, 1.0, 1.0], "spherical"
    )
    X, labels = truth.sample(6000, random_state=1)
    for init_params in ("kmeans", "k-means++", "random_from_data"):
        fit = engine.GaussianMixture(3, init_params=init_params, random_state=0, n_init=3).fit(X)
        order = np.argsort(fit.means_[:, 0])
        np.testing.assert_allclose(fit.means_[order], truth.means_, atol=0.15)
        np.testing.assert_allclose(fit.weights_[order], truth.weights_, atol=0.03)


def test_float32_diag_variances_stay_positive():
    # scikit-learn #30382: float32 diagonal covariances from raw moments go negative when the mean is
    # large relative to the spread; moments about the current means do not
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(1e4, 1e-2, (5000, 2)), rng.normal(1e4 + 1, 1e-2, (5000, 2))]).astype(np.float32)
    fit = engine.GaussianMixture(2, covariance_type="diag", random_state=0, reg_covar=0.0).fit(X)
    assert np.all(fit.covariances_ > 0)
    exact = engine.GaussianMixture(2, covariance_type="diag", random_state=0, reg_covar=0.0).fit(X.astype(np.float64))
    np.testing.assert_allclose(np.sort(fit.covariances_[:, 0]), np.sort(exact.covariances_[:, 0]), rtol=1e-4)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs >= 2 Numba threads")
def test_same_seed_same_fit_at_any_thread_count(rng):
    X = synthetic(rng)
    previous = numba.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            fits.append(engine.GaussianMixture(3, random_state=4, n_init=2).fit(X))
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    assert fits[0].lower_bound_ == fits[1].lower_bound_


def test_sample_weight_equals_repeated_rows(rng):
    X = synthetic(rng)[:500]
    counts = rng.integers(1, 4, size=X.shape[0])
    kw = dict(covariance_type="full", random_state=0, tol=1e-10, max_iter=200)
    init = engine.GaussianMixture(3, **kw).fit(np.repeat(X, counts, axis=0))
    fixed = dict(weights_init=init.weights_, means_init=init.means_ + 0.1, precisions_init=init.precisions_)
    a = engine.GaussianMixture(3, **kw, **fixed).fit(np.repeat(X, counts, axis=0))
    b = engine.GaussianMixture(3, **kw, **fixed).fit(X, sample_weight=counts)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8)


def test_estimator_protocol_and_warnings(rng):
    from sklearn.base import clone

    X = synthetic(rng)
    model = engine.GaussianMixture(2, covariance_type="diag", tol=1e-3)
    assert clone(model).get_params() == model.get_params()
    model.set_params(n_components=3)
    assert model.n_components == 3
    with pytest.raises(ValueError, match="invalid parameter"):
        model.set_params(bogus=1)
    with pytest.warns(ConvergenceWarning):
        engine.GaussianMixture(3, max_iter=1, tol=0.0, random_state=0).fit(X)
    labels = engine.GaussianMixture(3, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(labels, engine.GaussianMixture(3, random_state=0).fit(X).predict(X))


def test_degenerate_and_bad_fits(rng):
    X = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        engine.GaussianMixture(51).fit(X)
    with pytest.raises(ValueError, match="init_params"):
        engine.GaussianMixture(2, init_params="magic").fit(X)
    with pytest.raises(ValueError, match="reg_covar"):
        engine.GaussianMixture(2, reg_covar=-1.0).fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        engine.GaussianMixture(2).fit(X, sample_weight=np.ones(3))
    # duplicated points and a constant column: fine with the default regularisation, never NaN
    D = np.repeat(X[:3], 10, axis=0)
    D[:, 1] = 7.0
    fit = engine.GaussianMixture(3, random_state=0).fit(D)
    assert np.all(np.isfinite(fit.covariances_)) and np.all(np.isfinite(fit.means_))
    # without regularisation the same data has singular components: a clear error with the remedy
    with pytest.raises(ValueError, match="increase reg_covar"):
        engine.GaussianMixture(3, random_state=0, reg_covar=0.0).fit(D)


def _brute_force_statistics(weights, means, covs, X, w):
    """E-step sums by scipy densities and dense NumPy (n x K arrays: fine for a test)."""
    from scipy.stats import multivariate_normal

    logp = np.stack([np.log(weights[k]) + multivariate_normal(means[k], covs[k]).logpdf(X)
                     for k in range(len(weights))], axis=1)
    lse = np.logaddexp.reduce(logp, axis=1)
    r = np.exp(logp - lse[:, None]) * w[:, None]
    return r, lse


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("K", [1, 5, 16])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["float64", "float32", "strided"])
@pytest.mark.parametrize("n", [9, 2_024, 20_011])
def test_d8_statistics_match_brute_force(rng, covariance_type, K, weighted, layout, n):
    """D = 8 full, diagonal and spherical covariances (the rows-in-registers E-step where the CPU has
    AVX-512, the block path otherwise; its n % 8 = 3 last rows always): n_k, the shifted first and second
    moments (their diagonals for diag/spherical), the log-likelihood and the weight against scipy, over
    several parts and blocks (and for one group and a row; n = 2024: a last block of 14 pairs and an
    unpaired group); float32 rows, and strided ones (which the input check copies)."""
    D = 8
    weights, means, covs = random_mixture_params(rng, K, D, covariance_type)
    model = engine.GaussianMixture.from_params(weights, means, covs, covariance_type)
    if covariance_type != "full":  # scipy's covariance for a diagonal: the variances as a vector
        covs = covs if covariance_type == "diag" else np.repeat(np.asarray(covs)[:, None], D, axis=1)
    X = rng.normal(scale=3, size=(n, D))
    if layout == "float32":
        X = X.astype(np.float32)
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    w = rng.uniform(0, 2, size=n) if weighted else np.ones(n)
    stats = e_step_stats(model, X, sample_weight=w if weighted else None)
    Xd = np.asarray(X, dtype=np.float64)
    r, lse = _brute_force_statistics(weights, means, covs, Xd, w)
    d = Xd[:, None, :] - stats.shift[None]
    s2 = np.einsum("nk,nki,nkj->kij", r, d, d)
    np.testing.assert_allclose(stats.nk, r.sum(axis=0), rtol=1e-10, atol=1e-10 * n)
    np.testing.assert_allclose(stats.s1, np.einsum("nk,nkj->kj", r, d), rtol=1e-9, atol=1e-10 * np.abs(d).max() * n)
    if covariance_type == "full":
        lower = np.tril(np.ones((D, D), dtype=bool))
        np.testing.assert_allclose(stats.s2[:, lower], s2[:, lower], rtol=1e-9, atol=1e-10 * np.abs(s2).max())
    else:
        diagonal = np.einsum("kjj->kj", s2)
        np.testing.assert_allclose(stats.s2.reshape(K, D), diagonal, rtol=1e-9, atol=1e-10 * np.abs(s2).max())
    assert stats.log_likelihood == pytest.approx(np.sum(w * lse), rel=1e-11)
    assert stats.weight == pytest.approx(w.sum(), rel=1e-12)


@pytest.mark.parametrize("n, bad_row", [(20_011, 0), (20_011, 13), (20_011, 19), (20_011, 8 * 300 + 7),
                                        (20_011, 20_009), (2_024, 2_020)])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_d8_statistics_name_the_first_bad_row(rng, n, bad_row, covariance_type):
    """A NaN or inf in a group of 8 (the first or second of a pair sharing their loads, 0 and 13; a block's
    unpaired last group, 2020: n = 2024 is one part whose last block of the rows path holds 232 rows, 14
    pairs and a group), in a later part, or in the ragged tail is reported by its row."""
    weights, means, covs = random_mixture_params(rng, 3, 8, covariance_type)
    model = engine.GaussianMixture.from_params(weights, means, covs, covariance_type)
    X = rng.normal(size=(n, 8))
    X[bad_row, 5] = np.inf if bad_row % 2 else np.nan
    X[bad_row + 1, 2] = np.nan  # a later bad row is not the one named
    with pytest.raises(ValueError, match=f"first offending row: {bad_row}$"):
        e_step_stats(model, X)
