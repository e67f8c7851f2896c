"""The branch-free elementary functions against NumPy's libm-based ones."""
import numpy as np
from numba import njit

from engine.kernels import _simd
from engine.kernels._fastmath import fast_exp, log_block, sincos_turns_block
from engine.kernels.gaussian import component_terms, logsumexp_block


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


@njit(cache=True)
def _lse(terms, m, keep_exp):
    mx = np.full(terms.shape[1], 7.0)
    acc = np.full(terms.shape[1], 7.0)
    logsumexp_block(terms, m, mx, acc, keep_exp)
    return acc, mx


def test_vector_logsumexp_block_against_scipy():
    """The 8-lane log-sum-exp (``_simd``'s exp and log, masked for a block's last columns): against scipy on
    spreads the exp range cannot hold (differences below -708), rows of -inf, single finite terms, and a
    column count that is not a multiple of 8; columns past m are never written."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(3)
    K, m = 5, 21
    terms = rng.normal(scale=300.0, size=(K, 24)) - 100.0
    terms[:, 2] = -np.inf  # every component impossible
    terms[1:, 3] = -np.inf  # one finite term
    terms[:, 4] = [0.0, -800.0, -1e4, 3.0, -np.inf]
    with np.errstate(divide="ignore"):
        want = logsumexp(terms[:, :m], axis=0)
    acc, _ = _lse(terms.copy(), m, False)
    np.testing.assert_allclose(acc[:m], want, rtol=2e-15, atol=0)
    assert acc[2] == -np.inf and np.all(acc[m:] == 7.0)
    kept = terms.copy()
    acc2, norm = _lse(kept, m, True)
    np.testing.assert_array_equal(acc2[:m], acc[:m])
    with np.errstate(invalid="ignore"):
        resp = kept[:, :m] * norm[:m]
        want_resp = np.exp(terms[:, :m] - want)
    # exp(t - lse) carries the rounding of t - lse: |t| up to ~1000 here, so ~1000 eps relative
    cols = [0, 1, 3, 4] + list(range(5, m))
    np.testing.assert_allclose(resp[:, cols], want_resp[:, cols], rtol=2000 * np.finfo(float).eps, atol=1e-300)
    assert norm[2] == 0.0 and np.all(resp[:, 2] == 0.0) and np.all(norm[m:] == 7.0)
    np.testing.assert_array_equal(kept[:, m:], terms[:, m:])


@njit(cache=True)
def _terms(xt, m, U, shifted, log_norm):
    terms = np.full((shifted.shape[0], xt.shape[1]), 7.0)
    component_terms(xt, m, U, shifted, log_norm, terms, np.empty_like(xt))
    return terms


def test_d8_quadratic_forms_against_numpy():
    """D = 8 full covariances take the register-resident vector forms: log_norm - |x U - c|^2 / 2 per
    component, for a block whose last group of 8 points is partial; entries of U below the diagonal are
    never read (NaN there changes nothing)."""
    rng = np.random.default_rng(4)
    K, m = 3, 13
    xt = rng.normal(size=(8, 16))
    U = np.triu(rng.normal(size=(K, 8, 8))) + 2 * np.eye(8)
    c = rng.normal(size=(K, 8))
    log_norm = rng.normal(size=K)
    want = log_norm[:, None] - 0.5 * ((np.einsum("ib,kij->kbj", xt[:, :m], U) - c[:, None, :]) ** 2).sum(axis=2)
    U_poisoned = U + np.tril(np.full((8, 8), np.nan), -1)
    got = _terms(xt, m, U_poisoned, c, log_norm)
    np.testing.assert_allclose(got[:, :m], want, rtol=1e-13)
    assert np.all(got[:, m:] == 7.0)



def test_diagonal_terms_against_numpy():
    """Diagonal factors (any D, four coordinates a pass): log_norm - |x * s - c|^2 / 2 per component, for
    blocks whose point count is not a multiple of 8; columns past m are never written."""
    rng = np.random.default_rng(5)
    for D, m in ((1, 13), (3, 8), (8, 21), (9, 5)):
        K = 4
        xt = rng.normal(size=(D, 24))
        s = rng.uniform(0.5, 2.0, size=(K, D))
        c = rng.normal(size=(K, D))
        log_norm = rng.normal(size=K)
        want = log_norm[:, None] - 0.5 * ((xt[None, :, :m] * s[:, :, None] - c[:, :, None]) ** 2).sum(axis=1)
        got = _terms(xt, m, s, c, log_norm)
        np.testing.assert_allclose(got[:, :m], want, rtol=1e-14, atol=1e-14, err_msg=f"D={D}")
        assert np.all(got[:, m:] == 7.0)


@njit(cache=True)
def _vector_log_sqrt_sincos(x, t, log_x, sqrt_x, cos_t, sin_t):
    """The 8-lane log, square root and sin/cos of the Box-Muller kernels over whole groups of 8."""
    for i in range(0, x.shape[0], 8):
        _simd.vec8_store_at(log_x, 0, i, 8, _simd.vec8_log_plus(_simd.vec8_fill(0.0), _simd.vec8_load_at(x, 0, i, 8)))
        _simd.vec8_store_at(sqrt_x, 0, i, 8, _simd.vec8_sqrt_nonnegative(_simd.vec8_load_at(x, 0, i, 8)))
        c, s = _simd.vec8_sincos_turns(_simd.vec8_load_at(t, 0, i, 8))
        _simd.vec8_store_at(cos_t, 0, i, 8, c)
        _simd.vec8_store_at(sin_t, 0, i, 8, s)


def test_vector_log_sqrt_and_sincos_against_libm():
    """The vector forms (fdlibm's minimax log, the square root by rsqrt14 and Newton on AVX-512, sin/cos by
    the 16-entry table) against libm: a few ulps over the whole range, exact where the answer is; the turns
    at and beside every sixteenth, the ties of rint(16 t), and t = 0 and 1."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.exp(rng.uniform(-700, 700, 40_000)), rng.uniform(0.5, 2.0, 40_000),
                        1.0 + rng.uniform(-1e-6, 1e-6, 1_000), [2.0**-1022, 2.0**-53, 1.0 - 2.0**-53, 1.0, 2.0, 1e300]])
    x = np.concatenate([x, np.ones(-x.size % 8)])
    sixteenths = np.arange(17) / 16.0
    t = np.concatenate([rng.uniform(0, 1, x.size - 5 * 17 - 16 - 2), sixteenths, np.nextafter(sixteenths[1:], 0),
                        np.nextafter(sixteenths, 2)[:16], sixteenths + 1 / 32, sixteenths + 2.0**-40, [0.0, 1.0]])
    t = t[t <= 1.0]
    t = np.concatenate([t, np.zeros(x.size - t.size)])
    log_x, sqrt_x, cos_t, sin_t = (np.empty(x.size) for _ in range(4))
    _vector_log_sqrt_sincos(x, t, log_x, sqrt_x, cos_t, sin_t)
    np.testing.assert_allclose(log_x, np.log(x), rtol=4.5e-16, atol=1e-300)
    np.testing.assert_allclose(sqrt_x, np.sqrt(x), rtol=3.4e-16, atol=0)
    assert log_x[x == 1.0].max() == 0.0 and np.all(sqrt_x[x == 1.0] == 1.0)
    # 2 pi t in double carries its own rounding (~4.4e-16 at t = 1): an absolute bound, as for the scalar form
    np.testing.assert_allclose(cos_t, np.cos(2 * np.pi * t), atol=1.5e-15, rtol=0)
    np.testing.assert_allclose(sin_t, np.sin(2 * np.pi * t), atol=1.5e-15, rtol=0)
    quarters = np.isin(t, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(np.round(cos_t[quarters]), cos_t[quarters])  # exactly 0 or +-1
    np.testing.assert_array_equal(np.round(sin_t[quarters]), sin_t[quarters])
    zeros = np.zeros(8)
    _vector_log_sqrt_sincos(zeros, zeros, np.empty(8), sqrt_x[:8], cos_t[:8], sin_t[:8])
    assert np.all(sqrt_x[:8] == 0.0)


@njit(cache=True)
def _vector_exp(x, out):
    """The log-sum-exp's 8-lane e**x (``vec8_exp_diff`` with a zero shift) over whole groups of 8."""
    zero = _simd.vec8_fill(0.0)
    for i in range(0, x.shape[0], 8):
        _simd.vec8_store_at(out, 0, i, 8, _simd.vec8_exp_diff(_simd.vec8_load_at(x, 0, i, 8), zero))


def test_vector_exp_against_libm():
    """The log-sum-exp's exp for x <= 0 (on AVX-512 by sixteenths of a power of two: a 16-entry table and a
    degree-7 polynomial) against libm: within 5e-16 relative where e**x is normal, within one subnormal step
    below (where the table form rounds to subnormals, and the ln 2 form flushes to 0 below -708), exactly 1
    at 0, and 0 for -inf, NaN and x far below the range. Inputs at, beside and halfway between the
    sixteenths n ln2/16 (the table's switch points, where |r| is largest)."""
    rng = np.random.default_rng(11)
    n = np.arange(-16_400, 1)
    steps = n * (np.log(2.0) / 16)
    x = np.concatenate([-rng.uniform(0, 1, 20_000), -rng.uniform(0, 50, 20_000), -rng.uniform(0, 760, 20_000),
                        steps, np.nextafter(steps, -np.inf), steps - np.log(2.0) / 32, steps + np.log(2.0) / 32,
                        [0.0, -0.0, -5e-324, -1e-300, -1e-17, -708.0, -708.5, -744.4, -745.2, -1000.0, -1e5]])
    x = x[x <= 0.0]
    x = np.concatenate([x, np.zeros(-x.size % 8)])
    got = np.empty(x.size)
    _vector_exp(x, got)
    want = np.exp(x)
    normal = want >= np.finfo(float).tiny
    np.testing.assert_allclose(got[normal], want[normal], rtol=5e-16, atol=0)
    assert np.all(np.abs(got[~normal] - want[~normal]) <= (5e-324 if _simd.WIDE else np.finfo(float).tiny))
    assert np.all(got[x == 0.0] == 1.0) and np.all(got[x <= -746.0] == 0.0)
    specials = np.array([-np.inf, np.nan, -np.inf, -1e308, -np.inf, np.nan, -2000.0, -np.inf])
    _vector_exp(specials, got[:8])
    assert np.all(got[:8] == 0.0) if _simd.WIDE else np.all(got[:8] < 1e-300)


def test_exp_table_is_correctly_rounded():
    """Each entry t_j of the sixteenths table is 2**(j/16) rounded to nearest: (t_j -+ half an ulp)**16
    bracket 2**j, in exact rational arithmetic."""
    from fractions import Fraction

    for j, t in enumerate(_simd._EXP2_SIXTEENTHS):
        half_ulp = Fraction(np.spacing(t)) / 2
        assert (Fraction(t) - half_ulp) ** 16 < 2**j < (Fraction(t) + half_ulp) ** 16, j
