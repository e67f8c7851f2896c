"""The CUDA target against the CPU kernels and the NumPy twins.

Runs in CI under the Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported: see
tests/test_cuda_simulator.py, which launches this module in its own pytest process) on small inputs, and
on a real GPU on large inputs: ENGINE_CUDA_TESTS=1 python -m pytest tests/gpu
"""

import numpy as np
import pytest
from numba import config, cuda

import engine
from engine import reference
from engine.estimation.em import e_step_stats, m_step
from conftest import random_mixture_params

if not cuda.is_available():
    pytest.skip("no CUDA GPU and the CUDA simulator is off", allow_module_level=True)

SIM = bool(config.ENABLE_CUDASIM)
N = 300 if SIM else 200_000  # the simulator runs kernels as Python threads: keep it small
TYPES = ("full", "tied", "diag", "spherical")
# the simulator evaluates the uint64 hash in NumPy scalars, which warn on the (intended) wrap-around
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
gpu_only = pytest.mark.skipif(SIM, reason="needs a real GPU (the simulator is too slow for this size)")


def params(rng, K, D, ct):
    return random_mixture_params(rng, K, D, ct, spread=2.0)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("ct", TYPES)
def test_logpdf_equals_cpu_and_twin(rng, ct):
    w, m, c = params(rng, 3, 4, ct)
    cpu = engine.GaussianMixture.from_params(w, m, c, ct)
    gpu = engine.GaussianMixture.from_params(w, m, c, ct, device="cuda")
    X = rng.normal(scale=3, size=(N, 4))
    got = gpu.logpdf(X)
    np.testing.assert_allclose(got, cpu.logpdf(X), rtol=1e-12)
    np.testing.assert_allclose(got, reference.mixture_log_density(X, *cpu._kernel_params), rtol=1e-12)
    X32 = X.astype(np.float32)
    got32 = gpu.logpdf(X32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, cpu.logpdf(X32), rtol=2e-7, atol=1e-6)


@pytest.mark.parametrize("D", [1, 16, 17])
@pytest.mark.parametrize("ct", ["full", "diag"])
def test_logpdf_for_each_kernel_shape(rng, ct, D):
    """D <= SPECIALISED_MAX_D (16) scores with a kernel compiled for that D, larger D with the generic one;
    a component of zero weight (log weight -inf) is skipped by the online log-sum-exp."""
    w, m, c = params(rng, 3, D, ct)
    w = np.array([0.0, w[1] + w[0], w[2]])
    cpu = engine.GaussianMixture.from_params(w, m, c, ct)
    gpu = engine.GaussianMixture.from_params(w, m, c, ct, device="cuda")
    X = rng.normal(scale=3, size=(N, D))
    np.testing.assert_allclose(gpu.logpdf(X), cpu.logpdf(X), rtol=1e-12)
    X[[N - 2, 7], D - 1] = [np.nan, -np.inf]  # the D kernel's own check and the generic path's pass agree
    with pytest.raises(ValueError, match="first offending row: 7$"):
        gpu.logpdf(X.astype(np.float32))


def test_device_arrays_stay_on_the_device(rng):
    w, m, c = params(rng, 2, 3, "diag")
    gpu = engine.GaussianMixture.from_params(w, m, c, "diag", device="cuda")
    X = rng.normal(size=(N, 3))
    dX = cuda.to_device(X)
    out = gpu.logpdf(dX)
    assert hasattr(out, "copy_to_host") and not isinstance(out, np.ndarray)
    np.testing.assert_allclose(out.copy_to_host(), gpu.logpdf(X), rtol=1e-14)
    auto = engine.GaussianMixture.from_params(w, m, c, "diag", device="auto")
    assert hasattr(auto.logpdf(dX), "copy_to_host")  # auto follows the data onto the GPU


def test_logpdf_into_caller_owned_outputs_on_the_gpu_and_the_host(rng):
    w, m, c = params(rng, 3, 4, "full")
    gpu = engine.GaussianMixture.from_params(w, m, c, "full", device="cuda")
    X = rng.normal(scale=3, size=(N, 4))
    expected = engine.GaussianMixture.from_params(w, m, c, "full").logpdf(X)
    host = np.full(N, np.nan)
    assert gpu.logpdf(X, out=host) is host  # a NumPy buffer is filled by one copy from the GPU
    np.testing.assert_allclose(host, expected, rtol=1e-12)
    dX = cuda.to_device(X)
    for data in (X, dX):  # a GPU buffer is written in place, whether X is on the host or the GPU
        dev = cuda.to_device(np.full(N, np.nan))
        assert gpu.logpdf(data, out=dev) is dev
        np.testing.assert_array_equal(dev.copy_to_host(), host)
    with pytest.raises(ValueError, match=r"out must have shape \(%d,\)" % N):
        gpu.logpdf(dX, out=cuda.device_array(N - 1))
    with pytest.raises(ValueError, match="out must have dtype float64"):
        gpu.logpdf(dX, out=cuda.device_array(N, dtype=np.float32))
    with pytest.raises(ValueError, match="out must have dtype float32"):
        gpu.logpdf(X.astype(np.float32), out=np.empty(N))
    with pytest.raises(ValueError, match="C-contiguous"):
        gpu.logpdf(dX, out=cuda.device_array((N, 2))[:, 0])


@gpu_only
def test_a_gpu_output_that_overlaps_the_input_is_refused(rng):
    gpu = engine.MultivariateNormal([0.0], [1.0], "diag", device="cuda")
    dX = cuda.to_device(rng.normal(size=(N, 1)))
    with pytest.raises(ValueError, match="shares memory with the input"):
        gpu.logpdf(dX, out=dX.reshape(N))


def test_sampling_into_caller_owned_outputs(rng):
    w, m, c = params(rng, 3, 5, "full")
    gpu = engine.GaussianMixture.from_params(w, m, c, "full", device="cuda")
    X, labels = gpu.sample(N, random_state=4)
    hX, hl = np.empty((N, 5)), np.empty(N, dtype=np.int64)
    got = gpu.sample(N, random_state=4, out=hX, labels_out=hl)
    assert got[0] is hX and got[1] is hl
    np.testing.assert_array_equal(hX, X)
    np.testing.assert_array_equal(hl, labels)
    dX, dl = cuda.device_array((N, 5)), cuda.device_array(N, dtype=np.int64)
    got = gpu.sample(N, random_state=4, out=dX, labels_out=hl)  # one on the GPU, one on the host
    assert got[0] is dX and got[1] is hl
    np.testing.assert_array_equal(dX.copy_to_host(), X)
    got = gpu.sample(N, random_state=4, labels_out=dl)  # X comes back to the host as a new array
    assert isinstance(got[0], np.ndarray) and got[1] is dl
    np.testing.assert_array_equal(dl.copy_to_host(), labels)
    d32 = cuda.device_array((N, 5), dtype=np.float32)  # out's dtype chooses the output's
    assert gpu.sample(N, random_state=4, out=d32)[0] is d32
    np.testing.assert_allclose(d32.copy_to_host(), X.astype(np.float32), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="labels_out must have dtype int64"):
        gpu.sample(N, random_state=4, labels_out=cuda.device_array(N, dtype=np.int32))
    with pytest.raises(ValueError, match=r"out must have shape \(%d, 5\)" % N):
        gpu.sample(N, random_state=4, out=np.empty((N, 4)))


def test_bad_rows_are_reported(rng):
    gpu = engine.MultivariateNormal([0.0, 0.0], [1.0, 2.0], "diag", device="cuda")
    X = rng.normal(size=(N, 2))
    X[N // 2, 1] = np.nan
    X[N - 1, 0] = np.inf
    with pytest.raises(ValueError, match=f"row: {N // 2}"):
        gpu.logpdf(X)


@pytest.mark.parametrize("ct", TYPES)
def test_em_statistics_equal_cpu(rng, ct):
    w, m, c = params(rng, 3, 3, ct)
    model = engine.GaussianMixture.from_params(w, m, c, ct)
    X = rng.normal(scale=2, size=(N, 3))
    weights = rng.uniform(0.5, 2.0, N)
    for sw in (None, weights):
        cpu = e_step_stats(model, X, sw, device="cpu")
        gpu = e_step_stats(model, X, sw, device="cuda")
        for f in ("nk", "s1", "s2"):
            np.testing.assert_allclose(getattr(gpu, f), getattr(cpu, f), rtol=1e-10, atol=1e-10)
        assert gpu.log_likelihood == pytest.approx(cpu.log_likelihood, rel=1e-12)
        assert gpu.weight == pytest.approx(cpu.weight, rel=1e-14)
        for a, b in zip(m_step(gpu, ct), m_step(cpu, ct)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # deterministic: a rerun gives the same bits
    again = e_step_stats(model, X, device="cuda")
    np.testing.assert_array_equal(again.s2, e_step_stats(model, X, device="cuda").s2)


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_fit_on_gpu_equals_fit_on_cpu(rng, ct):
    w, m, c = params(rng, 2, 2, ct)
    X, _ = engine.GaussianMixture.from_params(w, m, c, ct).sample(N, random_state=1)
    kw = dict(covariance_type=ct, random_state=0, tol=1e-8, max_iter=20)
    cpu = engine.GaussianMixture(2, **kw).fit(X)
    gpu = engine.GaussianMixture(2, device="cuda", **kw).fit(X)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.means_, cpu.means_, rtol=1e-8)
    np.testing.assert_allclose(gpu.covariances_, cpu.covariances_, rtol=1e-8)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("ct", ["tied"] if SIM else ["full", "tied", "diag", "spherical"])
def test_bayesian_fit_on_gpu_equals_fit_on_cpu(rng, ct):
    """The variational fit runs the same E-step kernel; on the GPU its default priors take one extra pass."""
    w, m, c = params(rng, 3, 2, "full")
    X, _ = engine.GaussianMixture.from_params(w, m, c, "full").sample(N, random_state=2)
    kw = dict(n_components=3, covariance_type=ct, random_state=0, tol=1e-8, max_iter=5 if SIM else 30)
    cpu = engine.BayesianGaussianMixture(**kw).fit(X)
    gpu = engine.BayesianGaussianMixture(device="cuda", **kw).fit(X)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.lower_bounds_, cpu.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(gpu.means_, cpu.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gpu.covariances_, cpu.covariances_, rtol=1e-8)


@pytest.mark.parametrize("ct", ["full", "tied", "diag"])
def test_sampling_matches_cpu_stream(rng, ct):
    w, m, c = params(rng, 3, 5, ct)
    cpu = engine.GaussianMixture.from_params(w, m, c, ct)
    gpu = engine.GaussianMixture.from_params(w, m, c, ct, device="cuda")
    Xc, lc = cpu.sample(N, random_state=3)
    Xg, lg = gpu.sample(N, random_state=3)
    np.testing.assert_array_equal(lg, lc)
    np.testing.assert_allclose(Xg, Xc, rtol=1e-12, atol=1e-12)
    Xg2, _ = gpu.sample(N, random_state=3)
    np.testing.assert_array_equal(Xg, Xg2)  # same seed, same samples on every run


def test_kl_mc_on_gpu_equals_cpu():
    p = engine.GaussianMixture.from_params([0.3, 0.7], [[-1.0, 0.0], [1.0, 1.0]], [0.5, 1.0], "spherical")
    q = engine.MultivariateNormal([0.0, 0.5], [[1.5, 0.2], [0.2, 1.0]])
    cpu = engine.kl_divergence(p, q, method="mc", n_samples=N * 4, random_state=2)
    gpu = engine.kl_divergence(p, q, method="mc", n_samples=N * 4, random_state=2, device="cuda")
    assert gpu.estimate == pytest.approx(cpu.estimate, rel=1e-10)
    assert gpu.stderr == pytest.approx(cpu.stderr, rel=1e-8)


@gpu_only
def test_large_scoring_and_statistics_on_gpu(rng):
    w, m, c = params(rng, 16, 8, "full")
    cpu = engine.GaussianMixture.from_params(w, m, c, "full")
    gpu = engine.GaussianMixture.from_params(w, m, c, "full", device="cuda")
    X = rng.normal(scale=3, size=(2_000_000, 8))
    np.testing.assert_allclose(gpu.logpdf(X), cpu.logpdf(X), rtol=1e-11)
    a, b = e_step_stats(gpu, X), e_step_stats(cpu, X)
    np.testing.assert_allclose(a.s2, b.s2, rtol=1e-9)
