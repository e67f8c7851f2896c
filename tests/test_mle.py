"""Closed-form Gaussian MLE from additive sufficient statistics."""
import numpy as np
import pytest

import engine
from engine import reference
from engine.estimation.mle import GaussianStats


def test_mvn_mle_is_the_seed_formulas(rng):
    X = rng.normal(size=(20_011, 5)) @ rng.normal(size=(5, 5)) + 3.0
    n = X.shape[0]
    mu = X.sum(axis=0) / n  # the seed's formulas, written out
    sigma = (X - mu).T @ (X - mu) / n
    fit = engine.fit_mle(X)
    np.testing.assert_allclose(fit.mean, mu, rtol=1e-12)
    np.testing.assert_allclose(fit.covariance, sigma, rtol=1e-10)
    np.testing.assert_allclose(fit.covariance, np.cov(X.T, bias=True), rtol=1e-10)
    np.testing.assert_allclose(engine.fit_mle(X, covariance_type="diag").covariance, np.diag(sigma), rtol=1e-10)
    assert engine.fit_mle(X, covariance_type="spherical").covariance == pytest.approx(np.diag(sigma).mean(), rel=1e-10)


def test_normal_mle(rng):
    x = rng.normal(4.0, 2.5, size=9999)
    fit = engine.fit_mle(x, family="normal")
    assert fit.loc == pytest.approx(np.mean(x), rel=1e-13)
    assert fit.scale == pytest.approx(np.std(x), rel=1e-12)
    assert engine.fit_mle(x[:, None], family="normal").scale == pytest.approx(np.std(x), rel=1e-12)


def assert_scatter_close(a, b, rtol):
    """Entries of scatter matrices agree relative to sqrt(M_ii M_jj): near-zero off-diagonal entries come
    from cancellation, and a relative tolerance on them alone would measure nothing."""
    d = np.diag(b) if b.ndim == 2 else b
    scale = np.sqrt(np.outer(d, d)) if b.ndim == 2 else d
    assert np.all(np.abs(a - b) <= rtol * scale), np.max(np.abs(a - b) / scale)


@pytest.mark.parametrize("full", [True, False])
def test_merged_statistics_equal_whole(rng, full):
    X = rng.normal(size=(50_000, 4)) * [1, 10, 100, 0.1] + [1e6, -3, 0, 7]
    whole = engine.gaussian_stats(X, full=full)
    parts = [X[:1], X[1:12_345], X[12_345:12_345], X[12_345:]]
    merged = sum((engine.gaussian_stats(p, full=full) for p in parts[1:]), engine.gaussian_stats(parts[0], full=full))
    assert merged.n == whole.n == X.shape[0]
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    # the 1e6-offset column carries deviations to ulp(1e6) ~ 1e-10 of its unit std: that bounds agreement
    assert_scatter_close(merged.m2, whole.m2, rtol=1e-9)
    n, mean, m2 = reference.gaussian_moments(X, full=full)
    assert_scatter_close(whole.m2, m2, rtol=1e-9)
    np.testing.assert_allclose(whole.mean, mean, rtol=1e-13)
    fit = engine.fit_mle(merged, covariance_type="full" if full else "diag")
    expected = np.cov(X.T, bias=True)
    assert_scatter_close(fit.covariance, expected if full else np.diag(expected), rtol=1e-9)


def test_statistics_are_stable_for_large_offsets(rng):
    # raw sums (n, sum x, sum x^2) lose every digit here: var = E[x^2] - E[x]^2 with E[x]^2 ~ 1e18.
    # The data themselves resolve deviations only to ulp(1e9) ~ 1.2e-7 of the unit std: that is the bar.
    x = rng.normal(size=100_000) + 1e9
    stats = sum((engine.gaussian_stats(c) for c in np.array_split(x[:, None], 7)), GaussianStats(0.0, np.zeros(1), np.zeros((1, 1))))
    assert stats.covariance()[0, 0] == pytest.approx(np.var(x), rel=1e-6)
    raw = np.mean(x * x) - np.mean(x) ** 2
    assert abs(raw - np.var(x)) > 0.1  # the naive formula really fails here


def test_float32_statistics_accumulate_in_float64(rng):
    X = (rng.normal(size=(100_000, 3)) + 100).astype(np.float32)
    fit = engine.fit_mle(X)
    np.testing.assert_allclose(fit.covariance, np.cov(X.astype(np.float64).T, bias=True), rtol=1e-9)


def test_mle_errors(rng):
    with pytest.raises(ValueError, match="at least 2 samples"):
        engine.fit_mle(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        engine.fit_mle(np.zeros((0, 3)))
    X = rng.normal(size=(100, 3))
    X[:, 1] = 5.0
    with pytest.raises(ValueError, match="constant column"):
        engine.fit_mle(X)
    with pytest.raises(ValueError, match="constant"):
        engine.fit_mle(np.ones(10), family="normal")
    with pytest.raises(ValueError, match="family"):
        engine.fit_mle(X, family="gamma")
    with pytest.raises(ValueError, match="covariance_type"):
        engine.fit_mle(X, covariance_type="tied")
    with pytest.raises(ValueError, match="dimension"):
        engine.gaussian_stats(X) + engine.gaussian_stats(X[:, :2])
