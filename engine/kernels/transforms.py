"""Elementwise bijections and their log-Jacobians, per column, as a *program* the kernels run per block.

A transform of D columns compiles (``engine.transforms``) to a program: ``codes`` (D, L) int64 and
``params`` (D, L, 2) float64 — for column j, the elementary maps codes[j, 0], codes[j, 1], … applied in that
order (NONE pads a short chain). Every map is one of

    AFFINE(a, b)     y = a + b x                              log|dy/dx| = log|b|
    LOG              y = log x                 (x > 0)         = -y
    LOGIT(lo, hi)    y = log(x - lo) - log(hi - x)  (lo < x < hi)  = log(hi - lo) - log(x - lo) - log(hi - x)
    BOXCOX(l)        y = (x**l - 1)/l, log x at l = 0  (x > 0)      = (l - 1) log x
    YEOJOHNSON(l)    x >= 0: ((1 + x)**l - 1)/l (log1p x at l = 0); x < 0: -((1 - x)**(2-l) - 1)/(2-l)
                     (-log1p(-x) at l = 2)                          = (l - 1) sign(x) log1p|x|

Yeo–Johnson and Box–Cox are written as one symmetric form: with a = |x|, l_eff = l (x >= 0) or 2 - l
(x < 0), |y| = expm1(l_eff log1p a)/l_eff, so the loop has no branches and vectorises.

``apply_block`` runs on the (D, BLOCK) transposed block the mixture kernels already load (so a transformed
model costs no extra pass and no n x D temporary); ``transform_rows`` is the same over an array, in
parallel over fixed chunks. NaN is *missing*: it passes through unchanged and adds nothing to the
log-Jacobian (the base model decides whether to marginalise it). A finite value outside a map's domain, an
infinite input, or a result that overflows makes the point invalid: reported as the first bad row, or,
with ``zero_density``, given log-Jacobian -inf (its values set to 0 so the base model stays finite).

These functions are compiled *without* reassociation: log1p's correction term (a - (u - 1)) / u would be
simplified to 0 by it. Contraction (FMA) only.
"""
import numpy as np
from numba import njit, prange

from ._config import BLOCK, CHUNK, FASTMATH
from ._fastmath import (_EXP_ONE, _LN2, _LN2_HI, _LN2_LO, _LOG2E, _MANT_MASK, _SQRT2, atanh_log_series,
                        exp_series_quotient, fast_exp, fast_log, float64_bits_as_int64, int64_bits_as_float64)

NONE, AFFINE, LOG, LOGIT, BOXCOX, YEOJOHNSON = 0, 1, 2, 3, 4, 5

_EXACT = dict(nogil=True, cache=True, fastmath={"contract", "nsz", "arcp"}, error_model="numpy")
_EXACT_PARALLEL = dict(parallel=True, **_EXACT)

_TINY = 2.2250738585072014e-308  # smallest normal float64
_TWO54 = 18014398509481984.0
_LN2_54 = 54.0 * 0.6931471805599453
#: a power transform's lambda (or 2 - lambda) below this in magnitude is 0 (the log limit), as in scipy
_LAMBDA_ZERO = 2.220446049250313e-16
_EXP_MAX = 709.0  # above this expm1 reports overflow (e**709 = 8.2e307)


@njit(inline="always", **_EXACT)
def log_pos(x):
    """log x for any positive finite x (subnormals are scaled into the normal range first)."""
    small = x < _TINY
    xs = x * _TWO54 if small else x
    return fast_log(xs) - (_LN2_54 if small else 0.0)


@njit(inline="always", **_EXACT)
def log1p_pos(a):
    """log(1 + a) for a >= 0 to full relative precision, with one division: u = 1 + a rounds away
    c = a - (u - 1); writing u = 2**e f, log(1 + a) = e ln 2 + log(f + c 2**-e), and the atanh series of
    ``fast_log`` takes f + c' directly: s = (f - 1 + c') / (f + 1 + c')."""
    u = 1.0 + a
    c = a - (u - 1.0)
    b = float64_bits_as_int64(u)
    f = int64_bits_as_float64((b & _MANT_MASK) | _EXP_ONE)
    eb = b >> 52  # the biased exponent (u >= 1 is positive): u = 2**(eb - 1023) f
    cp = c * int64_bits_as_float64((2046 - eb) << 52)  # c * 2**-e, exact (u >= 1 keeps 2046 - eb >= 0)
    big = f > _SQRT2
    f = f * 0.5 if big else f
    cp = cp * 0.5 if big else cp
    ef = np.float64(eb - 1023) + (1.0 if big else 0.0)
    return ef * _LN2 + atanh_log_series((f - 1.0 + cp) / (f + 1.0 + cp))


@njit(inline="always", **_EXACT)
def expm1(z):
    """e**z - 1 to full relative precision, one polynomial: z = k ln 2 + r (|r| <= ln2/2),
    e**z - 1 = 2**k (e**r - 1) + (2**k - 1), with e**r - 1 by its Taylor polynomial (no leading 1, so
    small z keep every digit). -1 below z = -60; inf above 709 (e**709 = 8.2e307: values beyond count as
    overflow)."""
    zc = min(max(z, -60.0), 709.0)
    k = np.floor(zc * _LOG2E + 0.5)
    r = (zc - k * _LN2_HI) - k * _LN2_LO
    p = exp_series_quotient(r)
    two_k = int64_bits_as_float64((np.int64(k) + 1023) << 52)
    out = two_k * (p * r) + (two_k - 1.0)
    return np.inf if z > _EXP_MAX else out


@njit(inline="always", **_EXACT)
def _inverse_power_abs(t, lam):
    """The inverse of ``_power_abs``: a = expm1(log1p(lam t)/lam) (expm1 t at lam = 0); NaN where
    1 + lam t <= 0 (t outside the map's range)."""
    u = lam * t
    ok = u > -1.0
    uu = u if ok else 0.0
    q = lam if abs(lam) >= _LAMBDA_ZERO else 1.0
    L = log1p_pos(uu) if uu >= 0.0 else log_pos(1.0 + uu)
    a = expm1(L / q) if abs(lam) >= _LAMBDA_ZERO else expm1(t)
    return a if ok else np.nan


@njit(**_EXACT)
def _forward_row_fast(v, m, code, p0, p1, ld):
    """v[:m] = map(v[:m]) in place, ld[:m] += log|map'|: no per-value checks but a count of values that are
    NaN, infinite, outside the domain or overflow (an integer sum, which vectorises without reassociation).
    Returns that count; ``apply_block`` redoes a block with a bad value from its input, value by value."""
    nbad = 0
    if code == AFFINE:
        lb = np.log(abs(p1))
        for b in range(m):
            x = v[b]
            v[b] = p0 + p1 * x
            ld[b] += lb
            nbad += 0 if abs(x) < np.inf else 1
    elif code == LOG:
        for b in range(m):
            x = v[b]
            y = log_pos(x)
            v[b] = y
            ld[b] += -y
            nbad += 0 if (x > 0.0) & (x < np.inf) else 1
    elif code == LOGIT:
        width = np.log(p1 - p0)
        for b in range(m):
            x = v[b]
            lo = log_pos(x - p0)
            hi = log_pos(p1 - x)
            v[b] = lo - hi
            ld[b] += width - lo - hi
            nbad += 0 if (x > p0) & (x < p1) else 1
    elif code == BOXCOX:
        inv = 1.0 / p0 if abs(p0) >= _LAMBDA_ZERO else 1.0
        for b in range(m):
            x = v[b]
            L = log_pos(x)
            t = expm1(p0 * L) * inv
            y = t if abs(p0) >= _LAMBDA_ZERO else L
            v[b] = y
            ld[b] += (p0 - 1.0) * L
            nbad += 0 if (x > 0.0) & (x < np.inf) & (abs(y) < np.inf) else 1
    elif code == YEOJOHNSON:
        lam_neg = 2.0 - p0
        inv_pos = 1.0 / p0 if abs(p0) >= _LAMBDA_ZERO else 1.0
        inv_neg = 1.0 / lam_neg if abs(lam_neg) >= _LAMBDA_ZERO else 1.0
        for b in range(m):
            x = v[b]
            neg = x < 0.0
            lam = lam_neg if neg else p0
            L = log1p_pos(abs(x))
            t = expm1(lam * L) * (inv_neg if neg else inv_pos)
            t = t if abs(lam) >= _LAMBDA_ZERO else L
            v[b] = -t if neg else t
            ld[b] += (p0 - 1.0) * (-L if neg else L)
            nbad += 0 if abs(t) < np.inf else 1  # NaN or +-inf in x make t NaN or inf
    return nbad


@njit(**_EXACT)
def _forward_row_careful(v, m, code, p0, p1, ld, ok):
    """v[:m] = map(v[:m]) in place; ld[:m] += log|map'|; ok[:m] *= 0 where a point is invalid. NaN passes.
    Every value is checked (selects per value); ``apply_block`` runs this only for a block with a bad value."""
    if code == AFFINE:
        lb = np.log(abs(p1))
        for b in range(m):
            x = v[b]
            v[b] = p0 + p1 * x
            ld[b] += lb if x == x else 0.0
    elif code == LOG:
        for b in range(m):
            x = v[b]
            good = (x > 0.0) & (x < np.inf)
            y = log_pos(x if good else 1.0)
            v[b] = y if good else (x if x != x else 0.0)
            ld[b] -= y if good else 0.0
            ok[b] *= 1.0 if (good | (x != x)) else 0.0
    elif code == LOGIT:
        width = np.log(p1 - p0)
        for b in range(m):
            x = v[b]
            good = (x > p0) & (x < p1)
            lo = log_pos((x - p0) if good else 1.0)
            hi = log_pos((p1 - x) if good else 1.0)
            v[b] = (lo - hi) if good else (x if x != x else 0.0)
            ld[b] += (width - lo - hi) if good else 0.0
            ok[b] *= 1.0 if (good | (x != x)) else 0.0
    elif code == BOXCOX:
        inv = 1.0 / p0 if abs(p0) >= _LAMBDA_ZERO else 1.0
        for b in range(m):
            x = v[b]
            good = (x > 0.0) & (x < np.inf)
            L = log_pos(x if good else 1.0)
            t = expm1(p0 * L) * inv
            y = t if abs(p0) >= _LAMBDA_ZERO else L
            good = good & (abs(y) < np.inf)
            v[b] = y if good else (x if x != x else 0.0)
            ld[b] += (p0 - 1.0) * L if good else 0.0
            ok[b] *= 1.0 if (good | (x != x)) else 0.0
    elif code == YEOJOHNSON:
        # x >= 0 uses lambda, x < 0 uses 2 - lambda; reciprocals once per row, not a division per value
        lam_neg = 2.0 - p0
        inv_pos = 1.0 / p0 if abs(p0) >= _LAMBDA_ZERO else 1.0
        inv_neg = 1.0 / lam_neg if abs(lam_neg) >= _LAMBDA_ZERO else 1.0
        for b in range(m):
            x = v[b]
            finite = abs(x) < np.inf
            a = abs(x) if finite else 0.0
            neg = x < 0.0
            lam = lam_neg if neg else p0
            L = log1p_pos(a)
            t = expm1(lam * L) * (inv_neg if neg else inv_pos)
            t = t if abs(lam) >= _LAMBDA_ZERO else L
            # bitwise & / | (not and / or): short-circuit operators become branches and stop vectorisation
            good = finite & (abs(t) < np.inf)
            v[b] = ((-t if neg else t) if good else 0.0) if x == x else x
            ld[b] += ((p0 - 1.0) * (-L if neg else L)) if good else 0.0
            ok[b] *= 1.0 if (good | (x != x)) else 0.0


@njit(**_EXACT)
def inverse_row(v, m, code, p0, p1):
    """v[:m] = map^-1(v[:m]) in place; NaN where a value has no preimage (outside the map's range)."""
    if code == AFFINE:
        inv = 1.0 / p1
        for b in range(m):
            v[b] = (v[b] - p0) * inv
    elif code == LOG:
        for b in range(m):
            y = v[b]
            x = fast_exp(y)
            v[b] = x if (x < np.inf and y == y) else np.nan
    elif code == LOGIT:
        w = p1 - p0
        for b in range(m):
            y = v[b]
            # the logistic function without overflow: e^{-|y|} in (0, 1]
            e = fast_exp(-abs(y))
            s = 1.0 / (1.0 + e) if y >= 0.0 else e / (1.0 + e)
            v[b] = p0 + w * s if y == y else np.nan
    elif code == BOXCOX:
        for b in range(m):
            y = v[b]
            u = p0 * y
            ok = u > -1.0
            uu = u if ok else 0.0
            L = (log1p_pos(uu) if uu >= 0.0 else log_pos(1.0 + uu)) / (p0 if abs(p0) >= _LAMBDA_ZERO else 1.0)
            x = fast_exp(L if abs(p0) >= _LAMBDA_ZERO else y)
            v[b] = x if (ok and x < np.inf) else np.nan
    elif code == YEOJOHNSON:
        for b in range(m):
            y = v[b]
            neg = y < 0.0
            lam = (2.0 - p0) if neg else p0
            a = _inverse_power_abs(abs(y), lam)
            v[b] = (-a if neg else a) if abs(a) < np.inf else np.nan


@njit(**_EXACT)
def apply_block(X, start, xt, m, codes, params, ld, ok, zero_density):
    """Forward program over the m points of a transposed block xt (D, BLOCK) = X[start:start+m].T, in
    place; ld[:m] = the log-Jacobian of each point (summed over columns). Returns the index (in the block)
    of the first invalid point, or -1. With zero_density, invalid points get ld = -inf and values 0
    instead, and -1 is returned. ld, ok: (>= m,) scratch.

    Every map runs its fast loop; only if some value was bad (NaN, infinite, outside a domain, overflow)
    is the block reloaded from X and redone value by value (NaN kept as missing, the rest flagged)."""
    D, L = codes.shape
    for b in range(m):
        ld[b] = 0.0
    n_bad = 0
    for j in range(D):
        row = xt[j]
        for s in range(L):
            code = codes[j, s]
            if code != NONE:
                n_bad += _forward_row_fast(row, m, code, params[j, s, 0], params[j, s, 1], ld)
    if n_bad == 0:
        return -1
    Xb = X[start:start + m]
    for b in range(m):
        ld[b] = 0.0
        ok[b] = 1.0
        for j in range(D):
            xt[j, b] = np.float64(Xb[b, j])
    for j in range(D):
        row = xt[j]
        for s in range(L):
            code = codes[j, s]
            if code != NONE:
                _forward_row_careful(row, m, code, params[j, s, 0], params[j, s, 1], ld, ok)
    for b in range(m):
        if ok[b] == 0.0:
            if not zero_density:
                return b
            ld[b] = -np.inf
            for j in range(D):
                xt[j, b] = 0.0
    return -1


@njit(**_EXACT)
def inverse_block(xt, m, codes, params):
    D, L = codes.shape
    for j in range(D):
        row = xt[j]
        for s in range(L - 1, -1, -1):
            code = codes[j, s]
            if code != NONE:
                inverse_row(row, m, code, params[j, s, 0], params[j, s, 1])


@njit(**_EXACT_PARALLEL)
def transform_rows(X, codes, params, inverse, zero_density, out, logdet):
    """out = program(X) (or its inverse), logdet[i] = log|det J| at X[i] (forward only; pass an empty
    array to skip). X, out: (n, D) float64. Returns the first invalid row, or -1 (forward); the inverse
    writes NaN where a value has no preimage and returns -1."""
    n, D = X.shape
    n_chunks = (n + CHUNK - 1) // CHUNK
    bad = np.full(n_chunks, -1, dtype=np.int64)
    want_ld = logdet.shape[0] > 0
    for c in prange(n_chunks):
        xt = np.empty((D, BLOCK))
        ld = np.empty(BLOCK)
        ok = np.empty(BLOCK)
        c_stop = min(n, (c + 1) * CHUNK)
        for start in range(c * CHUNK, c_stop, BLOCK):
            m = min(BLOCK, c_stop - start)
            Xb = X[start:start + m]
            for b in range(m):
                for j in range(D):
                    xt[j, b] = Xb[b, j]
            if inverse:
                inverse_block(xt, m, codes, params)
            else:
                r = apply_block(X, start, xt, m, codes, params, ld, ok, zero_density)
                if r >= 0:
                    bad[c] = start + r
                    break
                if want_ld:
                    ldb = logdet[start:start + m]
                    for b in range(m):
                        ldb[b] = ld[b]
            ob = out[start:start + m]
            for b in range(m):
                for j in range(D):
                    ob[b, j] = xt[j, b]
    for c in range(n_chunks):
        if bad[c] >= 0:
            return bad[c]
    return -1


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def _sum(y, m):
    """sum(y[:m]) with reassociation (vectorised): this module's own flags exclude it, which would make every
    sum a serial chain."""
    s = 0.0
    for b in range(m):
        s += y[b]
    return s


#: rows per chunk of the lambda profile (moments are merged across chunks in a fixed order)
PROFILE_CHUNK = 4096


@njit(**_EXACT_PARALLEL)
def power_profile(X, kinds, lambdas):
    """Sufficient statistics of the profile log-likelihood of a power transform, for a grid of lambdas.

    X (n, D) float64; kinds (D,) BOXCOX / YEOJOHNSON / NONE (column not fitted); lambdas (D, G).
    For each column j and lambda g: count[j], mean[j, g] and M2[j, g] (centred sum of squares) of the
    transformed non-NaN values, and jac[j] = sum of log x (Box–Cox) or sign(x) log1p|x| (Yeo–Johnson), so
    that the profile log-likelihood is  -count/2 log(M2/count) + (lambda - 1) jac.  Chunk moments are
    two-pass (exact) and merged by Chan's update in chunk order (bit-identical at any thread count).
    Returns (count, mean, M2, jac, first_bad_row): a bad row holds +-inf or (Box–Cox) a value <= 0.
    """
    n, D = X.shape
    G = lambdas.shape[1]
    n_chunks = (n + PROFILE_CHUNK - 1) // PROFILE_CHUNK
    c_count = np.zeros((n_chunks, D))
    c_mean = np.zeros((n_chunks, D, G))
    c_m2 = np.zeros((n_chunks, D, G))
    c_jac = np.zeros((n_chunks, D))
    bad = np.full(n_chunks, -1, dtype=np.int64)
    for c in prange(n_chunks):
        lo = c * PROFILE_CHUNK
        m = min(n, lo + PROFILE_CHUNK) - lo
        Xc = X[lo:lo + m]
        a = np.empty(m)
        L = np.empty(m)
        w = np.empty(m)
        neg = np.empty(m)
        y = np.empty(m)
        for j in range(D):
            kind = kinds[j]
            if kind == NONE:
                continue
            cnt = 0.0
            jac = 0.0
            for b in range(m):
                x = Xc[b, j]
                miss = x != x
                good = abs(x) < np.inf and (kind == YEOJOHNSON or x > 0.0)
                if not (good or miss):
                    bad[c] = lo + b
                    break
                w[b] = 0.0 if miss else 1.0
                cnt += w[b]
                xv = 0.0 if miss else x
                if kind == BOXCOX:
                    L[b] = log_pos(xv if xv > 0.0 else 1.0)
                    neg[b] = 0.0
                    jac += L[b]
                else:
                    a[b] = abs(xv)
                    L[b] = log1p_pos(a[b])
                    neg[b] = 1.0 if xv < 0.0 else 0.0
                    jac += -L[b] if xv < 0.0 else L[b]
            if bad[c] >= 0:
                break
            c_count[c, j] = cnt
            c_jac[c, j] = jac
            if cnt == 0.0:
                continue
            for g in range(G):
                lam = lambdas[j, g]
                lam_neg = 2.0 - lam
                inv_pos = 1.0 / lam if abs(lam) >= _LAMBDA_ZERO else 1.0
                inv_neg = 1.0 / lam_neg if abs(lam_neg) >= _LAMBDA_ZERO else 1.0
                for b in range(m):
                    isneg = neg[b] > 0.0
                    ln = lam_neg if isneg else lam
                    t = expm1(ln * L[b]) * (inv_neg if isneg else inv_pos)
                    t = t if abs(ln) >= _LAMBDA_ZERO else L[b]
                    y[b] = (-t if neg[b] > 0.0 else t) * w[b]
                mu = _sum(y, m) / cnt
                for b in range(m):
                    d = (y[b] - mu) * w[b]
                    y[b] = d * d
                s2 = _sum(y, m)
                c_mean[c, j, g] = mu
                c_m2[c, j, g] = s2
    count = np.zeros(D)
    mean = np.zeros((D, G))
    m2 = np.zeros((D, G))
    jac = np.zeros(D)
    first_bad = -1
    for c in range(n_chunks):
        if bad[c] >= 0:
            first_bad = bad[c]
            break
        for j in range(D):
            nb = c_count[c, j]
            if nb == 0.0:
                continue
            na = count[j]
            tot = na + nb
            jac[j] += c_jac[c, j]
            for g in range(G):
                delta = c_mean[c, j, g] - mean[j, g]
                mean[j, g] += delta * nb / tot
                m2[j, g] += c_m2[c, j, g] + delta * delta * na * nb / tot
            count[j] = tot
    return count, mean, m2, jac, first_bad

