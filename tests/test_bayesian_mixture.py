"""engine.BayesianGaussianMixture against scikit-learn's (the oracle) from the same start, the ELBO's entropy term
against brute force, the Dirichlet-process pruning, and the seam: weights, streams, model files.

scikit-learn's own test_bayesian_mixture.py runs with only its import changed in tests/sklearn_compat/.
"""
import os
import warnings

import numpy as np
import pytest

import engine
from engine.estimation import em
from engine.estimation.em_stats import SufficientStats
from engine.models.bayesian_mixture import digamma, entropy_sum

sklearn_mixture = pytest.importorskip("sklearn.mixture")
DATA = os.path.join(os.path.dirname(__file__), "..", "datasets")
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _faithful():
    import pyarrow.parquet as pq

    t = pq.read_table(os.path.join(DATA, "faithful.parquet"))
    return np.column_stack([t.column(c).to_numpy().astype(float) for c in ("eruptions", "waiting")])


def _eustock_returns():
    import pyarrow.parquet as pq

    t = pq.read_table(os.path.join(DATA, "eustock.parquet"))
    prices = np.column_stack([t.column(c).to_numpy() for c in ("DAX", "SMI", "CAC", "FTSE")])
    return np.diff(np.log(prices), axis=0) * 100


def _stats_from_resp(X, resp, covariance_type, w=None):
    """E-step statistics of explicit responsibilities, by NumPy (independent of engine's kernel)."""
    w = np.ones(len(X)) if w is None else w
    wr = resp * w[:, None]
    nk = wr.sum(0)
    xk = wr.T @ X / nk[:, None]
    K, D = resp.shape[1], X.shape[1]
    if covariance_type == "tied":
        shift = np.broadcast_to(X.mean(0), (K, D)).copy()
        y = X - shift[0]
        s2 = (y * w[:, None]).T @ y
    else:
        shift = xk
        y = X[:, None, :] - xk[None]
        s2 = (np.einsum("nk,nki,nkj->kij", wr, y, y) if covariance_type == "full"
              else np.einsum("nk,nki->ki", wr, y * y))
    return SufficientStats(covariance_type, nk, wr.T @ X - nk[:, None] * shift, s2, shift, 0.0, float(w.sum()))


def _start_from(model, X, resp, w=None):
    """Make ``model``'s initialisation the M-step from ``resp`` (as scikit-learn's ``_initialize(X, resp)``)."""
    model._initial_params = lambda X_init, w_init, key: model._update(_stats_from_resp(X, resp, model.covariance_type, w))
    return model


def _sklearn_from(X, resp, **kw):
    """scikit-learn's BayesianGaussianMixture started from ``resp``, recording its lower bound per iteration."""
    sk = sklearn_mixture.BayesianGaussianMixture(**kw)
    sk._initialize_parameters = lambda X_, random_state, xp=None: sk._initialize(X_, resp)
    bounds = []
    compute = sk._compute_lower_bound

    def record(log_resp, log_prob_norm, xp=None):
        value = compute(log_resp, log_prob_norm)
        bounds.append(float(np.ravel(value)[0]))  # scikit-learn's tied bound is a (1,)-array
        return value

    sk._compute_lower_bound = record
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X)
    return sk, np.array(bounds)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["faithful", "eustock"])
def test_same_trajectory_and_parameters_as_sklearn(dataset, covariance_type, prior_type):
    X = _faithful() if dataset == "faithful" else _eustock_returns()
    K = 5
    resp = np.random.default_rng(3).random((len(X), K))
    resp /= resp.sum(1, keepdims=True)
    kw = dict(n_components=K, covariance_type=covariance_type, weight_concentration_prior_type=prior_type, tol=1e-6,
              max_iter=400, random_state=0)
    sk, sk_bounds = _sklearn_from(X, resp, **kw)
    model = _start_from(engine.BayesianGaussianMixture(**kw), X, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    assert model.n_iter_ == sk.n_iter_ and model.converged_ == sk.converged_
    np.testing.assert_allclose(model.lower_bounds_, sk_bounds, rtol=1e-6)
    np.testing.assert_allclose(model.lower_bound_, float(np.ravel(sk.lower_bound_)[0]), rtol=1e-6)
    for name in ("weights_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_", "precisions_",
                 "precisions_cholesky_", "mean_prior_", "covariance_prior_"):
        np.testing.assert_allclose(getattr(model, name), getattr(sk, name), rtol=1e-6, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(np.asarray(model.weight_concentration_), np.asarray(sk.weight_concentration_), rtol=1e-6)
    np.testing.assert_allclose(model.score_samples(X), sk.score_samples(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_entropy_term_equals_brute_force(covariance_type):
    """sum_i w_i sum_k r_ik log r_ik read off the E-step statistics equals the n x K sum (scikit-learn's log resp)."""
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) * 0.5 + 2.0])
    w = rng.random(len(X)) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = engine.BayesianGaussianMixture(n_components=4, covariance_type=covariance_type, max_iter=3,
                                               random_state=0).fit(X)
    sk = sklearn_mixture.BayesianGaussianMixture(n_components=4, covariance_type=covariance_type)
    for name in ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_",
                 "precisions_cholesky_"):
        setattr(sk, name, getattr(model, name))
    _, log_resp = sk._estimate_log_prob_resp(X)
    brute = float(np.sum(w[:, None] * np.exp(log_resp) * log_resp))
    stats = em.e_step_stats(model, X, sample_weight=w)
    assert entropy_sum(stats, model._variational) == pytest.approx(brute, rel=1e-10)


def test_digamma_equals_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.geomspace(1e-3, 1e7, 200), [0.5, 1.0, 7.999, 8.0, 8.001]])
    np.testing.assert_allclose(digamma(x), special.digamma(x), rtol=1e-13, atol=1e-13)


def test_dirichlet_process_leaves_the_true_number_of_components():
    truth = engine.GaussianMixture.from_params([0.5, 0.3, 0.2], [[0, 0], [6, 0], [0, 6]],
                                               [[1.0, 1.0], [0.5, 2.0], [1.5, 0.7]], "diag")
    X, _ = truth.sample(3000, random_state=4)
    model = engine.BayesianGaussianMixture(n_components=10, weight_concentration_prior=0.01, max_iter=500,
                                           random_state=0).fit(X)
    assert model.converged_
    assert np.sum(model.weights_ > 0.01) == 3
    big = np.sort(model.weights_)[::-1][:3]
    np.testing.assert_allclose(big, [0.5, 0.3, 0.2], atol=0.03)  # SE of a weight at n=3000 is <= 0.009


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_integer_sample_weights_equal_repeated_rows(covariance_type):
    X = _eustock_returns()[:300]
    counts = np.random.default_rng(2).integers(0, 4, len(X))
    resp = np.random.default_rng(5).random((len(X), 3))
    resp /= resp.sum(1, keepdims=True)
    kw = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, max_iter=200)
    weighted = _start_from(engine.BayesianGaussianMixture(**kw), X, resp, counts.astype(float))
    weighted.fit(X, sample_weight=counts)
    repeated = _start_from(engine.BayesianGaussianMixture(**kw), np.repeat(X, counts, axis=0),
                           np.repeat(resp, counts, axis=0))
    repeated.fit(np.repeat(X, counts, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-9)
    np.testing.assert_allclose(weighted.mean_prior_, repeated.mean_prior_, rtol=1e-12)
    np.testing.assert_allclose(weighted.covariance_prior_, repeated.covariance_prior_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_fit_equals_in_memory(covariance_type):
    """fit_stream (default priors from one extra pass of the statistics) equals fit from the same start."""
    X = _eustock_returns()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = engine.BayesianGaussianMixture(n_components=4, covariance_type=covariance_type, max_iter=2,
                                               random_state=0).fit(X)
    import copy

    kw = dict(warm_start=True, max_iter=300, tol=1e-7)
    local = copy.deepcopy(first).set_params(**kw).fit(X)
    streamed = copy.deepcopy(first).set_params(**kw).fit_stream([X[i:i + 500] for i in range(0, len(X), 500)])
    assert streamed.n_iter_ == local.n_iter_
    np.testing.assert_allclose(streamed.lower_bound_, local.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(streamed.means_, local.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(streamed.covariances_, local.covariances_, rtol=1e-8)
    np.testing.assert_allclose(streamed.covariance_prior_, local.covariance_prior_, rtol=1e-10)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", ["full", "tied", "spherical"])
def test_model_file_round_trip(tmp_path, covariance_type, prior_type):
    X = _faithful()
    model = engine.BayesianGaussianMixture(n_components=4, covariance_type=covariance_type,
                                           weight_concentration_prior_type=prior_type, random_state=0).fit(X)
    model.save(tmp_path / "m.arrow")
    back = engine.load(tmp_path / "m.arrow")
    assert type(back) is engine.BayesianGaussianMixture
    np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    for name in ("weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_", "mean_prior_",
                 "covariance_prior_", "degrees_of_freedom_prior_", "weight_concentration_prior_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name), err_msg=name)
    assert back.lower_bound_ == model.lower_bound_ and back.n_iter_ == model.n_iter_
    # warm start from the loaded posterior continues the fit
    back.set_params(warm_start=True, max_iter=5).fit(X)


def test_sample_follows_the_plug_in_mixture():
    X = _faithful()
    model = engine.BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    S, labels = model.sample(200_000, random_state=1)
    for k in range(2):
        mine = S[labels == k]
        se = np.sqrt(np.diag(model.covariances_[k]) / len(mine))
        assert np.all(np.abs(mine.mean(0) - model.means_[k]) < 5 * se)
    assert np.all(np.abs(np.bincount(labels) / len(S) - model.weights_) < 5 * np.sqrt(0.25 / len(S)))
    np.testing.assert_array_equal(model.sample(1000, random_state=3)[0], model.sample(1000, random_state=3)[0])


def test_float32_input_and_bad_input():
    X = _faithful()
    model = engine.BayesianGaussianMixture(n_components=3, random_state=0).fit(X.astype(np.float32))
    assert model.means_.dtype == np.float32 and np.all(np.isfinite(model.score_samples(X.astype(np.float32))))
    bad = X.copy()
    bad[17, 1] = np.nan
    with pytest.raises(ValueError, match="offending row: 17"):
        engine.BayesianGaussianMixture(n_components=2).fit(bad)
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        engine.BayesianGaussianMixture(weight_concentration_prior_type="dirichlet").fit(X)
    with pytest.raises(ValueError, match="mean_precision_prior"):
        engine.BayesianGaussianMixture(mean_precision_prior=-1.0).fit(X)
    with pytest.raises(ValueError, match="covariance_prior"):
        engine.BayesianGaussianMixture(covariance_prior=np.eye(3)).fit(X)
    with pytest.raises(ValueError, match="covariance_prior"):
        engine.BayesianGaussianMixture(covariance_prior=-np.eye(2)).fit(X)
    assert not hasattr(model, "bic") and not hasattr(model, "aic")
    with pytest.raises(ValueError, match="total weight above 1"):
        engine.BayesianGaussianMixture(n_components=2).fit(X, sample_weight=np.full(len(X), 1 / len(X)))


def test_in_transformed_coordinates(tmp_path):
    """engine.Transformed takes the Bayesian mixture as its base: scores in the data's units are the base's
    variational scores of log x minus sum log x, and the model file nests the base's record."""
    X = _faithful()
    model = engine.Transformed(engine.BayesianGaussianMixture(n_components=3, random_state=0),
                               engine.transforms.Log()).fit(X)
    expected = model.base.score_samples(np.log(X)) - np.log(X).sum(axis=1)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)
    model.save(tmp_path / "t.arrow")
    back = engine.load(tmp_path / "t.arrow")
    assert type(back.base) is engine.BayesianGaussianMixture
    np.testing.assert_array_equal(back.score_samples(X), model.score_samples(X))
