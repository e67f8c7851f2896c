"""The branch-free elementary functions against NumPy's libm-based ones."""
import numpy as np
from numba import njit

from engine.kernels._fastmath import fast_exp, log_block, sincos_turns_block


@njit(cache=True)
def _exp_all(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])


def test_fast_exp():
    x = np.random.default_rng(0).uniform(-708, 709, 200_000)
    out = np.empty_like(x)
    _exp_all(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=5e-16, atol=0)
    edges = np.array([-np.inf, -1e300, -708.5, 0.0, 1e-300, 800.0, np.inf])
    out = np.empty_like(edges)
    _exp_all(edges, out)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 1.0, 1.0, np.inf, np.inf])


def test_log_and_sincos_blocks():
    rng = np.random.default_rng(1)
    u = np.concatenate([rng.uniform(0, 1, 100_000), [2.0**-53, 0.5, 1.0]])
    out = np.empty_like(u)
    log_block(u, out, u.size)
    np.testing.assert_allclose(out, np.log(u), rtol=1e-15, atol=1e-16)
    c, s = np.empty_like(u), np.empty_like(u)
    sincos_turns_block(u, c, s, u.size)
    np.testing.assert_allclose(c, np.cos(2 * np.pi * u), atol=2e-15)
    np.testing.assert_allclose(s, np.sin(2 * np.pi * u), atol=2e-15)
