"""Property tests: every kernel equals its NumPy twin on random shapes and values."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import reference
from engine._random import stream_key
from engine.kernels.sampling import mixture_sample
from conftest import COVARIANCE_TYPES, random_mixture_params

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(
    n=st.integers(0, 700),
    D=st.integers(1, 6),
    K=st.integers(1, 5),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_mixture_kernel_equals_twin(n, D, K, covariance_type, seed, scale, dtype):
    rng = np.random.default_rng(seed)
    w, m, c = random_mixture_params(rng, K, D, covariance_type)
    model = engine.GaussianMixture.from_params(w, m * scale, np.asarray(c) * scale**2, covariance_type)
    X = (rng.normal(size=(n, D)) * 3 * scale).astype(dtype)
    got = model.logpdf(X)
    expected = reference.mixture_log_density(X.astype(np.float64), *model._kernel_params)
    assert got.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


@SETTINGS
@given(
    x=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=300),
    loc=st.floats(-1e3, 1e3),
    scale=st.floats(1e-3, 1e3),
)
def test_normal_kernel_equals_twin(x, loc, scale):
    x = np.array(x, dtype=np.float64)
    np.testing.assert_allclose(
        engine.Normal(loc, scale).logpdf(x), reference.normal_log_density(x, loc, scale), rtol=1e-13
    )


@SETTINGS
@given(
    n=st.integers(0, 600),
    D=st.integers(1, 5),
    K=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    seed=st.integers(0, 2**32 - 1),
    offset=st.integers(0, 10**9),
)
def test_sampler_equals_twin(n, D, K, covariance_type, seed, offset):
    rng = np.random.default_rng(seed)
    model = engine.GaussianMixture.from_params(*random_mixture_params(rng, K, D, covariance_type), covariance_type)
    key = stream_key(seed)
    X = np.empty((n, D))
    labels = np.empty(n, dtype=np.int64)
    mixture_sample(key, offset, *model._sampler_params, X, labels)
    X_ref, labels_ref = reference.mixture_sample(key, offset, *model._sampler_params, n)
    np.testing.assert_array_equal(labels, labels_ref)
    np.testing.assert_allclose(X, X_ref, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(n=st.integers(2, 3000), D=st.integers(1, 5), seed=st.integers(0, 2**32 - 1), split=st.floats(0, 1))
def test_statistics_kernel_equals_twin_and_merges(n, D, seed, split):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)) * rng.uniform(0.1, 10, D) + rng.normal(size=D) * 100
    s = engine.gaussian_stats(X)
    _, mean, m2 = reference.gaussian_moments(X)
    np.testing.assert_allclose(s.mean, mean, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(s.m2, m2, rtol=1e-10, atol=1e-8)
    cut = int(split * n)
    merged = engine.gaussian_stats(X[:cut]) + engine.gaussian_stats(X[cut:])
    np.testing.assert_allclose(merged.m2, s.m2, rtol=1e-10, atol=1e-8)
