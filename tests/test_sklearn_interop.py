"""engine.GaussianMixture inside scikit-learn: tags, check_estimator, clone, Pipeline, GridSearchCV and
cross_val_score give scikit-learn's numbers; its exceptions and warnings are scikit-learn's when it is loaded.
scikit-learn is the oracle here (a test dependency), never a runtime dependency of engine."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import mixture as skm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

import engine  # noqa: E402


@pytest.fixture
def blobs():
    """Three well-separated clusters on very different scales (so the scaler matters)."""
    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -4.0], [-5.0, 5.0, 3.0]])
    X = np.concatenate([rng.normal(c, 0.8, size=(200, 3)) for c in centers])
    return X * np.array([1.0, 100.0, 0.01])


def test_check_estimator_passes_every_check():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(engine.GaussianMixture(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}  # needs SCIPY_ARRAY_API and an array library
    assert len(results) > 40


def test_tags_and_fitted_protocol(blobs):
    gm = engine.GaussianMixture(3, random_state=0)
    assert gm.__sklearn_tags__().estimator_type == "density_estimator"
    with pytest.raises(NotFittedError, match="not fitted yet"):
        check_is_fitted(gm)
    with pytest.raises(NotFittedError):
        gm.predict(blobs)
    with pytest.raises(AttributeError):  # also an AttributeError, as scikit-learn's is
        gm.score_samples(blobs)
    check_is_fitted(gm.fit(blobs))


def test_not_fitted_and_convergence_without_sklearn_loaded():
    """Without scikit-learn imported, the errors are engine's own ValueError/AttributeError classes."""
    code = (
        "import sys, warnings, numpy as np, engine\n"
        "from engine._sklearn_compat import ConvergenceWarning, NotFittedError\n"
        "try:\n    engine.GaussianMixture(2).predict(np.zeros((3, 2)))\n"
        "except NotFittedError as e:\n    assert isinstance(e, ValueError) and isinstance(e, AttributeError)\n"
        "with warnings.catch_warnings(record=True) as w:\n    warnings.simplefilter('always')\n"
        "    engine.GaussianMixture(2, max_iter=1, tol=0, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 2)))\n"
        "assert any(issubclass(x.category, ConvergenceWarning) for x in w)\n"
        "assert 'sklearn' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_convergence_warning_is_sklearns(blobs):
    gm = engine.GaussianMixture(3, max_iter=1, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm.fit(blobs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        gm.fit(blobs)  # a filter on scikit-learn's class silences engine's warning


def _same_start(X, K, covariance_type="full"):
    """One initialisation for both libraries: scikit-learn's own k-means, as explicit *_init parameters."""
    init = skm.GaussianMixture(K, covariance_type=covariance_type, max_iter=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.fit(X)
    return dict(weights_init=init.weights_, means_init=init.means_, precisions_init=init.precisions_)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_pipeline_gives_sklearns_numbers(blobs, covariance_type):
    Z = StandardScaler().fit_transform(blobs)
    start = _same_start(Z, 3, covariance_type)
    ours = make_pipeline(StandardScaler(), engine.GaussianMixture(3, covariance_type=covariance_type, **start))
    theirs = make_pipeline(StandardScaler(), skm.GaussianMixture(3, covariance_type=covariance_type, **start))
    ours.fit(blobs)
    theirs.fit(blobs)
    np.testing.assert_allclose(ours.score_samples(blobs), theirs.score_samples(blobs), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(blobs), theirs.predict_proba(blobs), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(blobs), theirs.predict(blobs))
    assert ours.score(blobs) == pytest.approx(theirs.score(blobs), rel=1e-8)
    assert ours[-1].n_iter_ == theirs[-1].n_iter_


def test_clone_and_cross_val_score_match(blobs):
    Z = StandardScaler().fit_transform(blobs)
    start = _same_start(Z, 3)
    ours = clone(make_pipeline(StandardScaler(), engine.GaussianMixture(3, **start)))
    theirs = make_pipeline(StandardScaler(), skm.GaussianMixture(3, **start))
    cv = KFold(4, shuffle=True, random_state=0)
    a = cross_val_score(ours, blobs, cv=cv)
    b = cross_val_score(theirs, blobs, cv=cv)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_grid_search_picks_what_sklearn_picks(blobs):
    """The issue's failure: every score NaN and n_components=1 picked. Now finite scores, K = 3 as scikit-learn."""
    grid = {"gaussianmixture__n_components": [1, 2, 3, 4]}
    cv = KFold(3, shuffle=True, random_state=0)  # unshuffled folds would each hold out a whole cluster
    ours = GridSearchCV(make_pipeline(StandardScaler(), engine.GaussianMixture(random_state=0, n_init=2)), grid, cv=cv)
    theirs = GridSearchCV(make_pipeline(StandardScaler(), skm.GaussianMixture(random_state=0, n_init=2)), grid, cv=cv)
    ours.fit(blobs)
    theirs.fit(blobs)
    assert np.all(np.isfinite(ours.cv_results_["mean_test_score"]))
    assert ours.best_params_ == theirs.best_params_ == {"gaussianmixture__n_components": 3}
    # K <= 3 reach the same optimum from either library's k-means; K = 4 splits a cluster wherever its own
    # random k-means++ seeds fall, so only its finiteness is compared
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"][:3], theirs.cv_results_["mean_test_score"][:3],
                               rtol=1e-6)


def test_float32_in_float32_attributes_out(blobs):
    X = StandardScaler().fit_transform(blobs).astype(np.float32)
    gm = engine.GaussianMixture(3, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(gm, name).dtype == np.float32, name
    assert gm.score_samples(X).dtype == np.float32


def test_feature_names_from_dataframes_and_arrow_tables(blobs):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame(blobs, columns=["a", "b", "c"])
    gm = engine.GaussianMixture(2, random_state=0).fit(df)
    assert list(gm.feature_names_in_) == ["a", "b", "c"] and gm.n_features_in_ == 3
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        gm.score_samples(df[["b", "a", "c"]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        gm.score_samples(blobs)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3 features"):
        gm.score_samples(blobs[:, :2])
    table = pa.table({"a": blobs[:, 0], "b": blobs[:, 1], "c": blobs[:, 2]})
    gm2 = engine.GaussianMixture(2, random_state=0).fit(table)
    assert list(gm2.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(gm2.score_samples(table), gm.score_samples(df))


def test_bad_sample_weights_and_sample_sizes(blobs):
    gm = engine.GaussianMixture(2, random_state=0)
    n = len(blobs)
    for w, match in [(np.zeros(n), "every weight is zero"), (-np.ones(n), ">= 0"), (np.ones(n - 1), "entries")]:
        with pytest.raises(ValueError, match=match):
            gm.fit(blobs, sample_weight=w)
    gm.fit(blobs)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
            gm.sample(bad)
    with pytest.raises(ValueError, match="0 feature"):
        engine.GaussianMixture(1).fit(np.empty((10, 0)))
    with pytest.raises(TypeError, match="float32 or float64"):
        engine.Normal(0, 1).sample(5, dtype=np.int64)


def test_not_fitted_caught_after_plain_import_sklearn():
    """``import sklearn`` alone does not load sklearn.exceptions; the error must still match its class."""
    code = ("import sys, numpy as np, sklearn, engine\n"
            "try:\n    engine.GaussianMixture(2).predict(np.zeros((2, 2)))\n"
            "except sklearn.exceptions.NotFittedError:\n    pass\n")
    subprocess.run([sys.executable, "-c", code], check=True)
