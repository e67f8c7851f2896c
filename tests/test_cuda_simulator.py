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
