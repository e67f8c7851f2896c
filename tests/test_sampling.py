"""Sampling: equality with the NumPy twins, thread-count invariance, and statistical tests at fixed seeds.

Statistical tolerances are 4 standard errors (or a test's 0.1% critical value) at fixed seeds, so a
correct sampler passes deterministically and a biased one (wrong scale, wrong weights) fails.
"""
import numba
import numpy as np
import pytest
from scipy import stats

import engine
from engine import reference
from engine._random import stream_key
from engine.kernels.sampling import mixture_sample, normal_sample
from conftest import COVARIANCE_TYPES, random_mixture_params, random_spd

needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs >= 2 Numba threads")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("D", [1, 4, 5, 8, 9])
@pytest.mark.parametrize("K", [4, 17])
def test_mixture_sample_equals_twin(rng, covariance_type, D, K):
    """D <= 8 runs the 8-lane kernel (components by a 4-level search up to K = 16, by a count above), D = 9
    the tiled one; all against the twin (libm)."""
    w, m, c = random_mixture_params(rng, K, D, covariance_type)
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    key = stream_key(11)
    n, offset = 5000, 1234
    X = np.empty((n, D))
    labels = np.empty(n, dtype=np.int64)
    mixture_sample(key, offset, *model._sampler_params, X, labels)
    X_ref, labels_ref = reference.mixture_sample(key, offset, *model._sampler_params, n)
    np.testing.assert_array_equal(labels, labels_ref)
    # polynomial log/sin/cos against libm: agreement to a few ulps of the value's scale
    np.testing.assert_allclose(X, X_ref, rtol=1e-13, atol=1e-13 * np.abs(X_ref).max())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("D", [2, 7, 8])
def test_mixture_stream_is_the_same_however_it_is_drawn(rng, covariance_type, D):
    """A point's numbers depend on (seed, index) only: drawn whole, from any offset (mid-group, mid-chunk),
    into float32, or into an output whose rows are not contiguous, the same bits."""
    w, m, c = random_mixture_params(rng, 5, D, covariance_type)
    params = engine.GaussianMixture.from_params(w, m, c, covariance_type)._sampler_params
    key = stream_key(21)
    n = 5000
    whole, whole_labels = np.empty((n, D)), np.empty(n, dtype=np.int64)
    mixture_sample(key, 0, *params, whole, whole_labels)
    for start, stop in ((3, 11), (1, 2048 + 9), (2043, 4100), (4999, 5000)):
        part, labels = np.empty((stop - start, D)), np.empty(stop - start, dtype=np.int64)
        mixture_sample(key, start, *params, part, labels)
        np.testing.assert_array_equal(part, whole[start:stop])
        np.testing.assert_array_equal(labels, whole_labels[start:stop])
    single = np.empty((n, D), dtype=np.float32)
    mixture_sample(key, 0, *params, single, np.empty(n, dtype=np.int64))
    np.testing.assert_array_equal(single, whole.astype(np.float32))
    strided = np.empty((n, 2 * D))[:, ::2]
    strided_labels = np.empty(2 * n, dtype=np.int64)[::2]
    mixture_sample(key, 0, *params, strided, strided_labels)
    np.testing.assert_array_equal(strided, whole)
    np.testing.assert_array_equal(strided_labels, whole_labels)


def test_normal_sample_equals_twin():
    key = stream_key(5)
    out = np.empty(10_001)
    normal_sample(key, 6, -1.0, 3.0, out)
    np.testing.assert_allclose(out, reference.normal_sample(key, 6, -1.0, 3.0, 10_001), rtol=1e-13, atol=1e-13)


def test_normal_sample_pairs_within_ulps_of_libm():
    """1M normals against the twin's libm values, in units of the spacing of the pair's radius r (the
    errors of a pair's log, square root and angle all scale with r): the polynomial log (its quotient
    by a reciprocal and Newton steps on AVX-512), the square root by ``vrsqrt14pd`` and the angle sum
    measured at most 6.5 such ulps over 4M normals. A log scaled by 1 + 2**-48 fails this bound and passes
    the 1e-13 tolerances above."""
    key = stream_key(12345)
    n = 1_000_000
    got = np.empty(n)
    normal_sample(key, 0, 0.0, 1.0, got)
    expected = reference.normal_sample(key, 0, 0.0, 1.0, n)
    r = np.hypot(expected[0::2], expected[1::2])
    err = np.abs(got - expected).reshape(-1, 2).max(axis=1) / np.spacing(r)
    assert err.max() <= 8.0, f"worst pair {err.max():.2f} ulps of its radius (at pair {err.argmax()})"


def test_stream_continuation():
    """Sampling a stream in two pieces (at an even offset) equals sampling it whole."""
    key = stream_key(3)
    whole = np.empty(5000)
    normal_sample(key, 0, 0.0, 1.0, whole)
    for start in (600, 2, 16 * 129 + 4, 4998):  # pairs in other lanes of the 16-normal steps, and in other chunks
        tail = np.empty(5000 - start)
        normal_sample(key, start, 0.0, 1.0, tail)
        np.testing.assert_array_equal(whole[start:], tail)
    single = np.empty(5000, dtype=np.float32)
    normal_sample(key, 0, 0.0, 1.0, single)
    np.testing.assert_array_equal(single, whole.astype(np.float32))


@needs_two_threads
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_same_seed_same_numbers_at_any_thread_count(rng, covariance_type):
    w, m, c = random_mixture_params(rng, 5, 3, covariance_type)
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    normal = engine.Normal(2.0, 0.5)
    X_big = rng.normal(size=(50_000, 3))
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = (model.sample(50_000, 42), normal.sample(50_001, 42), model.logpdf(X_big), engine.fit_mle(X_big).covariance)
        numba.set_num_threads(2)
        two = (model.sample(50_000, 42), normal.sample(50_001, 42), model.logpdf(X_big), engine.fit_mle(X_big).covariance)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(one[0][0], two[0][0])
    np.testing.assert_array_equal(one[0][1], two[0][1])
    for a, b in zip(one[1:], two[1:]):
        np.testing.assert_array_equal(a, b)


def test_seeds_and_generators():
    model = engine.Normal()
    np.testing.assert_array_equal(model.sample(100, 7), model.sample(100, 7))
    assert not np.array_equal(model.sample(100, 7), model.sample(100, 8))
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    a = model.sample(100, g1)
    np.testing.assert_array_equal(a, model.sample(100, g2))
    assert not np.array_equal(a, model.sample(100, g1))  # the generator advanced
    assert model.sample(0).shape == (0,)
    assert model.sample(5, 1, dtype=np.float32).dtype == np.float32


def test_normal_sample_moments_and_ks():
    n = 400_000
    loc, scale = -2.0, 3.0
    x = engine.Normal(loc, scale).sample(n, random_state=2026)
    assert abs(x.mean() - loc) < 4 * scale / np.sqrt(n)
    assert abs(x.var() - scale**2) < 4 * scale**2 * np.sqrt(2.0 / n)
    # Kolmogorov-Smirnov at the 0.1% level: critical value 1.95 / sqrt(n)
    assert stats.kstest(x, stats.norm(loc, scale).cdf).statistic < 1.95 / np.sqrt(n)
    # tails: P(|z| > 3) = 0.0027 within 4 binomial standard errors
    p = 2 * stats.norm.sf(3.0)
    frac = np.mean(np.abs(x - loc) > 3 * scale)
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_mvn_sample_mean_and_covariance(rng, covariance_type):
    D, n = 4, 200_000
    mean = rng.normal(size=D)
    full = random_spd(rng, D)
    cov = {"full": full, "diag": np.diag(full).copy(), "spherical": 1.3}[covariance_type]
    dense = {"full": full, "diag": np.diag(np.diag(full)), "spherical": 1.3 * np.eye(D)}[covariance_type]
    X = engine.MultivariateNormal(mean, cov, covariance_type).sample(n, random_state=9)
    se_mean = np.sqrt(np.diag(dense) / n)
    assert np.all(np.abs(X.mean(axis=0) - mean) < 4 * se_mean)
    # SE of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n)
    se_cov = np.sqrt((np.outer(np.diag(dense), np.diag(dense)) + dense**2) / n)
    assert np.all(np.abs(np.cov(X.T, bias=True) - dense) < 4 * se_cov)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_labels_follow_weights(rng, covariance_type):
    K, D, n = 6, 3, 300_000
    w, m, c = random_mixture_params(rng, K, D, covariance_type)
    w = np.array([0.05, 0.3, 0.0, 0.15, 0.2, 0.3])  # a zero weight is never drawn
    model = engine.GaussianMixture.from_params(w, m, c, covariance_type)
    X, labels = model.sample(n, random_state=77)
    counts = np.bincount(labels, minlength=K)
    assert counts[2] == 0
    nz = w > 0
    chi2 = np.sum((counts[nz] - n * w[nz]) ** 2 / (n * w[nz]))
    assert chi2 < stats.chi2.ppf(0.999, nz.sum() - 1)
    # labels are i.i.d., not grouped by component
    assert np.any(np.diff(labels) < 0)
    # each component's points have that component's mean, within 4 standard errors
    variances = {
        "full": lambda k: np.diag(c[k]),
        "tied": lambda k: np.diag(c),
        "diag": lambda k: c[k],
        "spherical": lambda k: np.full(D, c[k]),
    }[covariance_type]
    for k in np.flatnonzero(nz):
        Xk = X[labels == k]
        assert np.all(np.abs(Xk.mean(axis=0) - m[k]) < 4 * np.sqrt(variances(k) / len(Xk)))


def _assert_standard_normal(z):
    """Mean, variance, skewness and kurtosis within 4 standard errors, KS (first 1M) at the 0.1% level, and
    the fractions beyond 3, 4 and 5 sigma within 4 binomial standard errors."""
    n = z.size
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 4 * se
    assert abs(z.var() - 1) < 4 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 4 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24) * se
    assert stats.kstest(z[:1_000_000], "norm").statistic < 1.95 / np.sqrt(1_000_000)
    for k in (3.0, 4.0, 5.0):
        p = 2 * stats.norm.sf(k)
        frac = np.mean(np.abs(z) > k)
        assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n) + 1 / n, k


def test_normals_moments_ks_and_tails():
    """10M standard normals from ``Normal.sample`` (``_assert_standard_normal``)."""
    _assert_standard_normal(engine.Normal().sample(10_000_000, random_state=20261126))


_MASK64 = (1 << 64) - 1


def _unxorshift(y, shift):
    x = y
    for _ in range(64 // shift + 1):
        x = y ^ (x >> shift)
    return x


def _word_with_output(key, output):
    """The word w whose SplitMix64 output under ``key`` is ``output`` (the mix is a bijection: xor-shifts
    and odd multipliers invert), so a test can place a uniform wherever it likes in the stream."""
    from engine.kernels.sampling import _M1, _M2, GAMMA

    z = _unxorshift(output, 31)
    z = _unxorshift((z * pow(int(_M2), -1, 1 << 64)) & _MASK64, 27)
    z = _unxorshift((z * pow(int(_M1), -1, 1 << 64)) & _MASK64, 30)
    return (((z - int(key)) * pow(int(GAMMA), -1, 1 << 64)) - 1) & _MASK64


@pytest.mark.parametrize("sigmas", [3.0, 5.0, 6.0, 7.0, 8.0, 8.5])
def test_box_muller_tails_are_exact_out_to_the_last_uniform(sigmas):
    """Words placed so the radius uniform is exp(-sigmas**2 / 2) (down to the smallest, 2**-53: 8.57
    sigma): both samplers' pair there equals r (cos, sin)(2 pi t) by libm to 1e-13 of r. The 8-lane kernel
    (mixture_sample, D <= 8) and the scalar one (normal_sample) are checked at the same radii."""
    from engine.reference.sampling import _uniform_open

    key = int(stream_key(8))
    k = max(int(np.exp(-sigmas**2 / 2) * 2.0**53) - 1, 0)  # 53-bit integer part of the uniform
    found = {}
    for low in range(1 << 11):  # the 11 low bits are dropped by the uniform: free to choose the word
        w = _word_with_output(key, (k << 11) | low)
        if "mixture" not in found and w % 3 == 1:  # D = 2: point i's pair is words 3 i + 1, 3 i + 2
            found["mixture"] = w
        if "normal" not in found and w % 2 == 0 and w < 1 << 63:  # normal g: words 2 (g // 2), + 1 (int64 offsets)
            found["normal"] = w
        if len(found) == 2:
            break
    for kind, w in found.items():
        words = np.array([w, w + 1], dtype=np.uint64)
        u, t = _uniform_open(np.uint64(key), words)
        assert u == (k + 1) * 2.0**-53
        r = np.sqrt(-2.0 * np.log(u))
        expected = r * np.array([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)])
        if kind == "mixture":
            model = engine.GaussianMixture.from_params(np.ones(1), np.zeros((1, 2)), np.eye(2)[None], "full")
            got = np.empty((1, 2))
            mixture_sample(np.uint64(key), (w - 1) // 3, *model._sampler_params, got, np.empty(1, dtype=np.int64))
            got = got[0]
        else:
            got = np.empty(2)
            normal_sample(np.uint64(key), w, 0.0, 1.0, got)
        assert r >= min(sigmas, 8.57)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * r, err_msg=kind)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_mixture_sampler_normals_moments_ks_and_tails(covariance_type):
    """The 8-lane sampler's normals (one standard component, D = 8: 10M normals): ``_assert_standard_normal``,
    and the 8 coordinates uncorrelated (4 standard errors)."""
    D, n = 8, 1_250_000
    cov = np.eye(D)[None] if covariance_type == "full" else np.ones((1, D))
    model = engine.GaussianMixture.from_params(np.ones(1), np.zeros((1, D)), cov, covariance_type)
    X, _ = model.sample(n, random_state=20261126)
    _assert_standard_normal(X.ravel())
    corr = np.corrcoef(X[:200_000].T)
    assert np.all(np.abs(corr[np.triu_indices(D, 1)]) < 4 / np.sqrt(200_000))


def test_component_search_counts_thresholds_at_most_u(rng):
    """The 4-level search equals a plain count of thresholds <= u, with ties (zero-weight components), +inf
    padding, and u exactly at a threshold."""
    from numba import njit

    from engine.kernels import _simd

    @njit
    def search(u, thresholds, out):
        _simd.vec8_store_at(out, 0, 0, 8, _simd.vec8_count_at_most16(_simd.vec8_load_at(u, 0, 0, 8), thresholds))

    for trial in range(200):
        k = rng.integers(1, 16)
        t = np.sort(rng.choice(rng.uniform(size=6), size=k - 1))  # repeats: ties
        thresholds = np.full(15, np.inf)
        thresholds[:k - 1] = t
        u = np.concatenate([rng.uniform(size=4), rng.choice(np.append(t, 0.0), size=4)])
        out = np.empty(8)
        search(u, thresholds, out)
        np.testing.assert_array_equal(out, (thresholds[None, :] <= u[:, None]).sum(axis=1), err_msg=str(trial))
