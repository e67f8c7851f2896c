"""Run the CUDA test module under the Numba CUDA simulator in its own process (the simulator must be
switched on before numba is imported), and check that the CUDA path fails clearly without a GPU."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine

ROOT = Path(__file__).resolve().parents[1]


def test_cuda_module_under_the_simulator():
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'engine[cuda]')")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", ENGINE_CUDA_TESTS="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "gpu")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and " failed" not in r.stdout


def test_without_a_gpu_cuda_fails_clearly_and_auto_falls_back():
    from engine import _dispatch

    if _dispatch.cuda_status()[0]:
        pytest.skip("a CUDA device (or the simulator) is available here")
    model = engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical", device="cuda")
    with pytest.raises(RuntimeError, match="device='cuda' was requested"):
        model.logpdf(np.zeros((2, 1)))
    auto = engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical", device="auto")
    assert auto.logpdf(np.zeros((2, 1))).shape == (2,)
    with pytest.raises(ValueError, match="device must be one of"):
        engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "spherical", device="tpu").logpdf(np.zeros((1, 1)))


class _HostArray(np.ndarray):
    """Stands in for a device array: the wrappers only call copy_to_host on what they allocate."""

    def copy_to_host(self):
        return np.asarray(self)


class _HostCuda:
    """The part of numba.cuda that engine.cuda.api calls, on the host."""

    @staticmethod
    def to_device(a):
        return np.array(a).view(_HostArray)

    @staticmethod
    def device_array(shape, dtype):
        return np.zeros(shape, dtype).view(_HostArray)


def test_every_kernel_compiles_for_a_real_gpu(monkeypatch):
    """The simulator runs kernels as Python, so a branch typed for the wrong array rank passed under it and
    failed on the first real GPU (2026-11-26, H200). Here every host wrapper runs with launches recorded
    instead of executed, and each kernel is compiled (typing and lowering to NVVM IR, which needs no GPU) for
    exactly the argument types that wrapper passed: all covariance types, float64 and float32 data."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'engine[cuda]')")
    from numba import typeof, types
    from numba.cuda.compiler import compile_cuda

    from engine.cuda import api, kernels

    launches = {}

    class Launch:
        def __init__(self, name):
            self.name = name

        def __getitem__(self, config):
            def record(*args):
                launches.setdefault((self.name, tuple(typeof(a) for a in args)), None)
                if self.name == "first_nonfinite_row":
                    args[1][:] = args[0].shape[0]  # "no bad row", so the wrapper goes on to its main kernel
            return record

    names = ["mixture_log_density", "first_nonfinite_row", "em_statistics", "mixture_sample", "log_ratio_moments"]
    specialised = {D: Launch(("log_density_kernel", D)) for D in (4,)}
    specialised_ratio = {D: Launch(("log_ratio_kernel", D)) for D in (4,)}
    monkeypatch.setattr(api, "K", type("RecordedKernels", (), {n: Launch(n) for n in names} |
                                       {"MAX_D": kernels.MAX_D, "MAX_K": kernels.MAX_K,
                                        "SPECIALISED_MAX_D": kernels.SPECIALISED_MAX_D,
                                        "log_density_kernel": staticmethod(specialised.__getitem__),
                                        "log_ratio_kernel": staticmethod(specialised_ratio.__getitem__)}))
    monkeypatch.setattr(api, "cuda", _HostCuda)
    rng = np.random.default_rng(0)
    from conftest import random_mixture_params

    for ct in ("full", "tied", "diag", "spherical"):
        model = engine.GaussianMixture.from_params(*random_mixture_params(rng, 3, 4, ct), ct)
        for dtype in (np.float64, np.float32):
            X = rng.normal(size=(50, 4)).astype(dtype)
            api.mixture_logpdf(model, X)
            api.e_step_stats(model, X)
            api.e_step_stats(model, X, sample_weight=np.ones(50))
            api.log_ratio_moments(_HostCuda.to_device(X), model, model)
            api.mixture_sample(model, 10, 1, dtype=dtype)
    # D = 4 scores with the kernel compiled for D = 4; a D above SPECIALISED_MAX_D with the generic one
    wide = kernels.SPECIALISED_MAX_D + 1
    wide_model = engine.GaussianMixture.from_params(*random_mixture_params(rng, 2, wide, "full"), "full")
    api.mixture_logpdf(wide_model, rng.normal(size=(5, wide)))
    api.log_ratio_moments(_HostCuda.to_device(rng.normal(size=(5, wide))), wide_model, wide_model)
    assert {name for name, _ in launches} == set(names) | {("log_density_kernel", 4), ("log_ratio_kernel", 4)}
    for name, argtypes in launches:
        kernel = getattr(kernels, name[0])(name[1]) if isinstance(name, tuple) else getattr(kernels, name)
        compile_cuda(kernel.py_func, types.void, argtypes, cc=(7, 5))


def test_device_parameters_are_uploaded_once_per_parameter_set():
    """cuda.api keeps device copies keyed by the host tuple's identity: the same tuple is not uploaded again,
    a new tuple (new parameters) is, and only the last _DEVICE_PARAMS_MAX sets are kept."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install 'engine[cuda]')")
    from engine.cuda import api

    uploads = []

    def upload(host):
        uploads.append(host)
        return (object(),)

    first, second = (np.zeros(2),), (np.zeros(2),)
    a = api._on_device(first, upload)
    assert api._on_device(first, upload) is a and len(uploads) == 1
    assert api._on_device(second, upload) is not a and len(uploads) == 2
    for _ in range(api._DEVICE_PARAMS_MAX):
        api._on_device((np.zeros(1),), upload)
    api._on_device(first, upload)  # evicted by the newer sets: uploaded again
    assert len(uploads) == 3 + api._DEVICE_PARAMS_MAX
