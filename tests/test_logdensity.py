"""Log-density kernels against their NumPy twins and against scipy.stats / scikit-learn."""
import numpy as np
import pytest
from scipy import stats

import engine
from engine import reference
from engine.kernels.gaussian import mixture_log_density
from conftest import COVARIANCE_TYPES, random_mixture_params, random_spd, sklearn_mixture


# ---------------------------------------------------------------- Normal
def test_normal_matches_scipy_and_twin(rng):
    x = rng.normal(3.0, 5.0, size=10_001)
    model = engine.Normal(1.5, 4.0)
    got = model.logpdf(x)
    np.testing.assert_allclose(got, stats.norm(1.5, 4.0).logpdf(x), rtol=1e-13)
    np.testing.assert_allclose(got, reference.normal_log_density(x, 1.5, 4.0), rtol=1e-13)


def test_normal_float32_in_float32_out(rng):
    x = rng.normal(size=5000).astype(np.float32)
    got = engine.Normal(0.5, 2.0).logpdf(x)
    assert got.dtype == np.float32
    # float32 output: half an ulp of rounding on top of float64 arithmetic on the float32 inputs
    np.testing.assert_allclose(got, stats.norm(0.5, 2.0).logpdf(x.astype(np.float64)), rtol=2e-7)


def test_normal_extreme_magnitudes():
    # (x - loc) / scale would overflow for x = 1e308, loc = -1e308; the answer is representable
    got = engine.Normal(-1e308, 1e300).logpdf(np.array([1e308]))[0]
    z = 1e308 / 1e300 + 1e308 / 1e300
    expected = -0.5 * np.log(2 * np.pi) - np.log(1e300) - 0.5 * z * z
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-14)
    tiny = engine.Normal(0.0, 1e-300).logpdf(np.array([1e-300, 0.0]))
    np.testing.assert_allclose(tiny, stats.norm(0, 1e-300).logpdf([1e-300, 0.0]), rtol=1e-14)
    # the true answer underflows to -inf: -inf, never NaN
    assert engine.Normal(0.0, 1.0).logpdf(np.array([1e300]))[0] == -np.inf


# ---------------------------------------------------------------- multivariate normal
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_mvn_matches_scipy(rng, covariance_type):
    D = 6
    mean = rng.normal(size=D)
    full = random_spd(rng, D)
    cov = {"full": full, "diag": np.diag(full).copy(), "spherical": 1.7}[covariance_type]
    dense = {"full": full, "diag": np.diag(np.diag(full)), "spherical": 1.7 * np.eye(D)}[covariance_type]
    X = rng.normal(size=(2001, D)) * 2
    got = engine.MultivariateNormal(mean, cov, covariance_type).logpdf(X)
    np.testing.assert_allclose(got, stats.multivariate_normal(mean, dense).logpdf(X), rtol=1e-12)


def test_mvn_extreme_magnitudes():
    mean = np.array([1e300, -1e300])
    cov = np.diag([1e300, 4e300])
    X = np.array([[2e300, -1e300], [1e300, 1e300]])
    got = engine.MultivariateNormal(mean, cov).logpdf(X)
    sd = np.sqrt(np.diag(cov))
    z = (X - mean) / sd
    expected = -np.log(2 * np.pi) - np.sum(np.log(sd)) - 0.5 * np.sum(z * z, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---------------------------------------------------------------- mixtures
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("K", [1, 4])
def test_mixture_matches_sklearn_and_twin(rng, covariance_type, K):
    D = 5
    w, m, c = random_mixture_params(rng, K, D, covariance_type)
    X = rng.normal(scale=4.0, size=(3 * 4096 + 17, D))  # several chunks and a ragged last block
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    got = model.score_samples(X)
    np.testing.assert_allclose(got, sklearn_mixture(w, m, c, covariance_type).score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(got, reference.mixture_log_density(X, *model._kernel_params), rtol=1e-12)
    assert model.score(X) == pytest.approx(got.mean(), rel=1e-14)
    # the precision parametrisation is scikit-learn's
    np.testing.assert_allclose(
        model.precisions_cholesky_, sklearn_mixture(w, m, c, covariance_type).precisions_cholesky_, rtol=1e-10
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_float32(rng, covariance_type):
    w, m, c = random_mixture_params(rng, 3, 4, covariance_type)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    got = model.logpdf(X)
    assert got.dtype == np.float32
    exact = reference.mixture_log_density(X.astype(np.float64), *model._kernel_params)
    # accumulated in float64; only the final rounding to float32 differs
    np.testing.assert_allclose(got, exact, rtol=2e-7, atol=1e-6)


def test_mixture_zero_weight_and_far_points():
    model = engine.GaussianMixture.from_params(
        [0.0, 1.0], [[0.0, 0.0], [5.0, 5.0]], [1.0, 2.0], covariance_type="spherical"
    )
    X = np.array([[5.0, 5.0], [1e200, 1e200], [0.0, 0.0]])
    got = model.logpdf(X)
    expected = stats.multivariate_normal([5, 5], 2 * np.eye(2)).logpdf(X[[0, 2]])
    np.testing.assert_allclose(got[[0, 2]], expected, rtol=1e-13)
    assert got[1] == -np.inf  # every term is -inf: the answer is -inf, not NaN


def test_empty_input_gives_empty_result():
    model = engine.GaussianMixture.from_params([1.0], [[0.0, 0.0]], [1.0], "spherical")
    assert model.logpdf(np.empty((0, 2))).shape == (0,)
    assert engine.Normal().logpdf(np.empty(0)).shape == (0,)


def test_kernel_reports_first_bad_row_across_chunks(rng):
    model = engine.GaussianMixture.from_params([0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0], "spherical")
    X = rng.normal(size=(20_000, 1))
    X[19_000, 0] = np.inf
    X[9_000, 0] = np.nan
    out = np.empty(20_000)
    assert mixture_log_density(X, *model._kernel_params, out, np.empty((0, 1))) == 9_000


@pytest.mark.parametrize("D", [1, 2, 3, 4, 5, 7, 8, 9, 13])
def test_full_mixture_every_dimension_path(rng, D):
    """The tiled triangular map at every dimension, its 4-row tiles whole, partial and mixed (D % 4 = 0..3),
    against scikit-learn, whose scoring is independent of engine's kernels."""
    w, m, c = random_mixture_params(rng, 3, D, "full")
    X = rng.normal(scale=3.0, size=(700, D))
    got = engine.GaussianMixture.from_params(w, m, c, "full").score_samples(X)
    np.testing.assert_allclose(got, sklearn_mixture(w, m, c, "full").score_samples(X), rtol=1e-12)


@pytest.mark.parametrize("D", [3, 5, 8])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_rows_in_registers_equal_scikit_learn_and_find_the_first_bad_row(covariance_type, D):
    """D = 3-8 full, diagonal and spherical covariances (on AVX-512) score pairs of groups of 8 rows
    straight from X, transposed in registers (D < 8: the rows read masked, the parameters zero-padded; a
    chunk's odd last group alone: the last chunk here, 13 rows; its last n % 8 rows a short group); tied
    (one shared factor) takes the block path throughout. Against scikit-learn over several chunks plus a
    ragged tail, in float32 too, on a strided view (rows not contiguous in memory), with the
    responsibilities (the same path); then the first NaN/inf row is reported whichever group, chunk or
    tail it falls in."""
    rng = np.random.default_rng(8)
    K = 5
    w, m, c = random_mixture_params(rng, K, D, covariance_type)
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    sk = sklearn_mixture(w, m, c, covariance_type)
    n = 2 * 2048 + 13
    X = rng.normal(scale=2.0, size=(n, D))
    np.testing.assert_allclose(model.score_samples(X), sk.score_samples(X), rtol=1e-12)
    X32 = X.astype(np.float32)  # widened in registers; the log-densities come back in float32
    np.testing.assert_allclose(model.score_samples(X32), sk.score_samples(X32.astype(np.float64)),
                               rtol=2 * np.finfo(np.float32).eps)
    wide = rng.normal(size=(n, 2 * D))
    np.testing.assert_allclose(model.score_samples(wide[:, ::2]), sk.score_samples(wide[:, ::2]), rtol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-14)
    kp = model._kernel_params
    # rows 5 and 13: the first and second group of a pair of groups; 4100: a chunk's unpaired last group
    for bad_rows in ([5], [13], [13, 2050], [2050, 3000], [4100], [n - 3], [100, n - 1]):
        Xb = X.copy()
        Xb[bad_rows[0], D - 1] = np.inf
        for r in bad_rows[1:]:
            Xb[r, 0] = np.nan
        out = np.empty(n)
        assert mixture_log_density(Xb, kp.prec_chol, kp.shifted_means, kp.log_norm, out, np.empty((0, K))) == bad_rows[0]
        with pytest.raises(ValueError, match=f"first offending row: {bad_rows[0]}"):
            model.score_samples(Xb)


@pytest.mark.parametrize("D, covariance_type", [(3, "full"), (5, "diag"), (8, "full"), (8, "spherical")])
def test_scores_do_not_depend_on_how_the_rows_are_split(D, covariance_type):
    """On the rows-in-registers path a chunk's last few rows are a short group with the same lane
    arithmetic, so each row's log-density and responsibilities are the same bits whether X is scored whole
    or in pieces of any size (as streamed batches and Dask blocks are), float32 staging included, and
    whether or not the responsibilities are asked for."""
    rng = np.random.default_rng(12)
    w, m, c = random_mixture_params(rng, 4, D, covariance_type)
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    X = rng.normal(scale=2.0, size=(5000, D))
    whole = model.score_samples(X)
    cuts = [0, 1, 4, 11, 24, 2100, 2101, 4200, 4999, 5000]
    pieces = np.concatenate([model.score_samples(X[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    np.testing.assert_array_equal(pieces, whole)
    logd, resp = model.log_density_and_responsibilities(X)
    np.testing.assert_array_equal(logd, whole)
    np.testing.assert_array_equal(np.concatenate([model.predict_proba(X[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]),
                                  resp)
    X32 = X.astype(np.float32)
    whole32 = model.score_samples(X32)
    pieces32 = np.concatenate([model.score_samples(X32[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    np.testing.assert_array_equal(pieces32, whole32)
