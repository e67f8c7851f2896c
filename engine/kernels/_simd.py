"""Eight float64 lanes as one Numba value, for recursions that LLVM cannot vectorise on its own.

Numba never runs LLVM's SLP vectoriser (``NUMBA_SLP_VECTORIZE`` defaults to 0, and the switch is process-wide),
so a short fixed-width recursion such as the Viterbi max-product step over 8 states stays scalar: ~136
dependent adds and maxima per step. ``F64x8`` is an LLVM ``<8 x double>`` held in registers across loop
iterations; the intrinsics below are the handful of operations the recursion needs. The Viterbi step is
IEEE-exact per lane (plain ``fadd``, ordered comparisons, no fast-math flags), so a kernel written with
it gives the same bits as its scalar twin. The block arithmetic further down (the Gaussian kernels'
log-sum-exp and D = 8 quadratic forms), the samplers' SplitMix64 words and Box-Muller pairs and the D = 8
E-step's moment sums use fused multiply-adds: as accurate as the scalar ``_fastmath`` functions, not
bit-identical to them. On AVX-512 a value is one zmm register; elsewhere LLVM splits it into narrower
registers (two ymm, four xmm, or scalars): slower, and different in the last bits only where an
operation has an AVX-512 form of its own (the log-sum-exp's exp by a table lookup, Box-Muller's square
root by ``vrsqrt14pd`` and Newton steps).

Rows shorter than 8 are read and written with masked loads and stores (``llvm.masked.*``), so nothing past
a row is touched; missing lanes read as -inf, the max-product identity.
"""
import math

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8


def _target_has_512_bit_vectors():
    """Whether the CPU Numba compiles for has AVX-512 (its own target features: NUMBA_CPU_NAME and
    NUMBA_CPU_FEATURES are respected). Without it an 8-lane value is split into 2-4 registers, and a kernel
    that keeps many of them live spills: the D = 8 quadratic forms measured 44.7 -> 53.8 ms on AVX2."""
    try:
        from numba.core.registry import cpu_target

        features = cpu_target.target_context.codegen()._tm_features
    except Exception:  # pragma: no cover - a Numba without that internal: ask LLVM about the host
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


#: eight float64 lanes fit one register (AVX-512): kernels that keep many vector values live use them only then
WIDE = _target_has_512_bit_vectors()

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_VEC = ir.VectorType(_F64, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)
_I64V = ir.VectorType(_I64, LANES)
_IDX = ir.VectorType(ir.IntType(8), LANES)


class F64x8(types.Type):
    """Eight float64 lanes (an LLVM ``<8 x double>`` value)."""

    def __init__(self):
        super().__init__(name="F64x8")


f64x8 = F64x8()


@register_model(F64x8)
class _F64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _lanes_address(context, builder, arrty, arr, row, col, elem=_VEC):
    """Pointer (to ``elem``, 8 float64 lanes by default) to arr[row, col] (arr[col] for a 1-D array); rows
    may have any stride, a row's elements are contiguous (the callers' type check)."""
    a = context.make_array(arrty)(context, builder, arr)
    item = ir.Constant(_I64, context.get_abi_sizeof(context.get_data_type(arrty.dtype)))
    addr = builder.add(builder.ptrtoint(a.data, _I64), builder.mul(col, item))
    if arrty.ndim == 2:
        addr = builder.add(addr, builder.mul(row, builder.extract_value(a.strides, 0)))
    return builder.inttoptr(addr, elem.as_pointer())


def _first_lanes(builder, n):
    """Mask of lanes 0..n-1."""
    lanes = ir.Constant(ir.VectorType(_I64, LANES), list(range(LANES)))
    nv = builder.insert_element(ir.Constant(ir.VectorType(_I64, LANES), ir.Undefined), n, ir.Constant(_I32, 0))
    nv = builder.shuffle_vector(nv, nv, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))
    return builder.icmp_signed("<", lanes, nv)


def _splat(builder, x):
    """All eight lanes = the scalar x."""
    v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


def _masked_store(context, builder, arrty, arr, row, col, mask, v):
    """arr[row, col + lane] = v[lane] where mask (arr[col + lane] for a 1-D array), v 8 float64 lanes in the
    array's dtype: float32 rounded once, int64 truncated (whole numbers). Nothing else is written."""
    if arrty.dtype == types.float32:
        elem, v = ir.VectorType(ir.FloatType(), LANES), builder.fptrunc(v, ir.VectorType(ir.FloatType(), LANES))
    elif arrty.dtype == types.int64:
        elem, v = ir.VectorType(_I64, LANES), builder.fptosi(v, ir.VectorType(_I64, LANES))
    else:
        elem = _VEC
    suffix = {types.float32: "v8f32", types.int64: "v8i64"}.get(arrty.dtype, "v8f64")
    fnty = ir.FunctionType(ir.VoidType(), [elem, elem.as_pointer(), _I32, _MASK])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.store.{suffix}.p0")
    align = context.get_abi_sizeof(context.get_data_type(arrty.dtype))
    builder.call(fn, [v, _lanes_address(context, builder, arrty, arr, row, col, elem), ir.Constant(_I32, align), mask])


def _masked_load(builder, ptr, mask, fill, single=False):
    """The lanes of ptr where mask, fill elsewhere: 8 float64, or 8 float32 (``single``; fill float32 too)."""
    vec = ir.VectorType(ir.FloatType(), LANES) if single else _VEC
    fnty = ir.FunctionType(vec, [vec.as_pointer(), _I32, _MASK, vec])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.load.{'v8f32' if single else 'v8f64'}.p0")
    return builder.call(fn, [ptr, ir.Constant(_I32, 4 if single else 8), mask, fill])


def _check_lanes(arr, what, dtype=types.float64, ndims=(1, 2)):
    # lanes are read and written as contiguous runs of a row: only C-contiguous arrays qualify
    dtypes = dtype if isinstance(dtype, tuple) else (dtype,)
    if not (isinstance(arr, types.Array) and arr.ndim in ndims and arr.dtype in dtypes and arr.layout == "C"):
        dtype = "/".join(str(d) for d in dtypes)
        raise TypeError(f"{what} must be a C-contiguous {' or '.join(f'{d}-D' for d in ndims)} {dtype} array, "
                        f"got {arr}")


@intrinsic
def vec8_fill(typingctx, value):
    """All eight lanes = value."""
    def codegen(context, builder, sig, args):
        return _splat(builder, args[0])
    return f64x8(types.float64), codegen


@intrinsic
def vec8_add(typingctx, a, b):
    """Lane-wise a + b."""
    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return f64x8(f64x8, f64x8), codegen


@intrinsic
def vec8_lane(typingctx, v, i):
    """Lane i of v."""
    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], args[1])
    return types.float64(f64x8, types.int64), codegen


def _argmax_node(builder, m_lo, i_lo, m_hi, i_hi):
    """(max, argmax) of two candidates; a tie keeps the lower one (strict comparison)."""
    higher = builder.fcmp_ordered(">", m_hi, m_lo)
    return builder.select(higher, m_hi, m_lo), builder.select(higher, i_hi, i_lo)


@intrinsic
def max_plus_step8(typingctx, p, r0, r1, r2, r3, r4, r5, r6, r7, frame, t, n, back):
    """One max-product (Viterbi) step over up to 8 states.

    p: the previous step's best log-probabilities; r_i: row i of log A (lane j = log A[i, j]; -inf beyond
    the states). Returns q with lane j = max_i (p[i] + r_i[j]) + frame[t, j] (frame read for lanes < n,
    -inf beyond), and writes the maximising i of each lane to back[t, 0:8] (uint8): a tree of strict
    comparisons of depth 3, so among equal candidates the lowest i wins, as a scan finds it.
    """
    _check_lanes(frame, "max_plus_step8's frame", ndims=(2,))
    _check_lanes(back, "max_plus_step8's back-pointers", dtype=types.uint8, ndims=(2,))

    def codegen(context, builder, sig, args):
        p = args[0]
        cand = []
        for i in range(LANES):
            bcast = builder.shuffle_vector(p, p, ir.Constant(ir.VectorType(_I32, LANES), [i] * LANES))
            cand.append(builder.fadd(bcast, args[1 + i]))
        idx = [ir.Constant(_IDX, [i] * LANES) for i in range(LANES)]
        m01, i01 = _argmax_node(builder, cand[0], idx[0], cand[1], idx[1])
        m23, i23 = _argmax_node(builder, cand[2], idx[2], cand[3], idx[3])
        m45, i45 = _argmax_node(builder, cand[4], idx[4], cand[5], idx[5])
        m67, i67 = _argmax_node(builder, cand[6], idx[6], cand[7], idx[7])
        m03, i03 = _argmax_node(builder, m01, i01, m23, i23)
        m47, i47 = _argmax_node(builder, m45, i45, m67, i67)
        best, arg = _argmax_node(builder, m03, i03, m47, i47)
        fptr = _lanes_address(context, builder, sig.args[9], args[9], args[10], ir.Constant(_I64, 0))
        f = _masked_load(builder, fptr, _first_lanes(builder, args[11]), ir.Constant(_VEC, [float("-inf")] * LANES))
        builder.store(arg, _lanes_address(context, builder, sig.args[12], args[12], args[10], ir.Constant(_I64, 0),
                                          _IDX), align=1)
        return builder.fadd(best, f)
    return f64x8(f64x8, *([f64x8] * LANES), frame, types.int64, types.int64, back), codegen


# ------------------------------------------------------------------------------ block arithmetic
# Lanes at a column offset of a 1-D array or of a row of a 2-D one, masked to the first n lanes (a block's
# last columns), and the elementary functions of ``_fastmath`` emitted lane-wise (same reduction and
# polynomials), for the Gaussian kernels' log-sum-exp and quadratic forms.

@intrinsic
def vec8_load_at(typingctx, arr, row, col, n):
    """arr[row, col:col + n] (arr[col:col + n] for 1-D arr) in lanes 0..n-1, -inf in the others."""
    _check_lanes(arr, "vec8_load_at's array")

    def codegen(context, builder, sig, args):
        ptr = _lanes_address(context, builder, sig.args[0], args[0], args[1], args[2])
        return _masked_load(builder, ptr, _first_lanes(builder, args[3]), ir.Constant(_VEC, [float("-inf")] * LANES))
    return f64x8(arr, types.int64, types.int64, types.int64), codegen


@intrinsic
def vec8_store_at(typingctx, arr, row, col, n, v):
    """arr[row, col:col + n] = lanes 0..n-1 of v (arr[col:col + n] for 1-D arr); nothing else is written.
    arr: float64, float32 (each value rounded once) or int64 (whole numbers, such as the samplers' component
    counts)."""
    _check_lanes(arr, "vec8_store_at's array", (types.float64, types.float32, types.int64))

    def codegen(context, builder, sig, args):
        _masked_store(context, builder, sig.args[0], args[0], args[1], args[2], _first_lanes(builder, args[3]),
                      args[4])
        return context.get_dummy_value()
    return types.none(arr, types.int64, types.int64, types.int64, f64x8), codegen


def _const(x):
    return ir.Constant(_VEC, [float(x)] * LANES)


def _fma(builder, a, b, c):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), "llvm.fmuladd.v8f64")
    return builder.call(fn, [a, b, c])


def _floor(builder, a):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC]), "llvm.floor.v8f64")
    return builder.call(fn, [a])


def _select_max(builder, a, b):
    """a where a > b else b: a NaN in a gives b."""
    return builder.select(builder.fcmp_ordered(">", a, b), a, b)


# exp_poly's Horner chain, as in _fastmath
_EXP_COEFFICIENTS = [2.08767569878680989792e-09, 2.50521083854417187751e-08, 2.75573192239858906526e-07,
                     2.75573192239858906526e-06, 2.48015873015873015873e-05, 1.98412698412698412698e-04,
                     1.38888888888888888889e-03, 8.33333333333333333333e-03, 4.16666666666666666667e-02,
                     1.66666666666666666667e-01, 0.5, 1.0, 1.0]


def _exp2_sixteenths():
    """2**(j/16) for j = 0..15, each correctly rounded (50-digit decimal powers, then one rounding)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 50
        return tuple(float(Decimal(2) ** (Decimal(j) / 16)) for j in range(16))


_EXP2_SIXTEENTHS = _exp2_sixteenths()
#: q(r) = (e**r - 1)/r to degree 6, Horner order: 1/7!, 1/6!, ..., 1/2, 1
_EXP_TAYLOR7 = tuple(1.0 / math.factorial(i) for i in range(7, 0, -1))

#: fdlibm's e_log.c Lg1..Lg7: R(z) = Lg1 z + ... + Lg7 z**7 ~ (log((1 + s)/(1 - s)) - 2 s)/s, z = s**2
_LOG_MINIMAX = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
                2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
                1.479819860511658591e-01)


def _divide_fma(builder, a, b):
    """a / b lane-wise for normal b, within 1 ulp (not correctly rounded). On AVX-512 without ``vdivpd``,
    which issues one 8-lane divide per 16 cycles (Box-Muller's log has one per 8 pairs, and 8M normals
    took 5-7% less time without it): y ~ 1/b from ``vrcp14pd`` (14 bits), one Newton step (28 bits),
    q = a y and one correction q + y (a - b q), all on the FMA ports. Elsewhere a divide."""
    if not WIDE:
        return builder.fdiv(a, b)
    rcp14 = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, ir.IntType(8)]),
                                           "llvm.x86.avx512.rcp14.pd.512")
    y = builder.call(rcp14, [b, _const(0.0), ir.Constant(ir.IntType(8), -1)])
    neg_b = builder.fneg(b)
    y = _fma(builder, y, _fma(builder, neg_b, y, _const(1.0)), y)
    q = builder.fmul(a, y)
    return _fma(builder, _fma(builder, neg_b, q, a), y, q)


def _log(builder, x, positive=False, reciprocal_divide=False):
    """log(x) lane-wise for positive normal x; lanes with x <= 0 give -inf (``positive``: the caller's x are
    all > 0, and that test is left out). ``_fastmath.fast_log``'s reduction (x = 2**e f, f in [sqrt(1/2),
    sqrt(2)), s = (f - 1)/(f + 1)), then fdlibm's minimax polynomial in s**2 (``_LOG_MINIMAX``) where the
    scalar function sums the series: as accurate, 4 operations shorter (Box-Muller's pairs measured 7% faster).
    On AVX-512 the exponent and the mantissa in [1, 2) come from ``vgetexppd``/``vgetmantpd`` (the same
    values as the bit manipulation, in 2 operations instead of 5). reciprocal_divide: s by ``_divide_fma``
    (within 1 ulp, not correctly rounded) instead of a divide: Box-Muller's log, where the divider's
    throughput was the limit."""
    from ._fastmath import _EXP_ONE, _LN2, _MANT_MASK, _SQRT2

    if WIDE:
        rounding, all_lanes = ir.Constant(_I32, 4), ir.Constant(ir.IntType(8), -1)
        getexp = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, ir.IntType(8), _I32]),
                                                "llvm.x86.avx512.mask.getexp.pd.512")
        getmant = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VEC, [_VEC, _I32, _VEC, ir.IntType(8), _I32]),
            "llvm.x86.avx512.mask.getmant.pd.512")
        undef = ir.Constant(_VEC, ir.Undefined)
        e = builder.call(getexp, [x, undef, all_lanes, rounding])
        f = builder.call(getmant, [x, ir.Constant(_I32, 0), undef, all_lanes, rounding])  # interval [1, 2)
    else:
        b = builder.bitcast(x, _I64V)
        f = builder.bitcast(builder.or_(builder.and_(b, _i64s(_MANT_MASK)), _i64s(_EXP_ONE)), _VEC)
        e = builder.sitofp(builder.sub(builder.ashr(b, _i64s(52)), _i64s(1023)), _VEC)
    big = builder.fcmp_ordered(">", f, _const(_SQRT2))
    f = builder.select(big, builder.fmul(f, _const(0.5)), f)
    e = builder.select(big, builder.fadd(e, _const(1.0)), e)
    num, den = builder.fsub(f, _const(1.0)), builder.fadd(f, _const(1.0))
    s = _divide_fma(builder, num, den) if reciprocal_divide else builder.fdiv(num, den)
    # log f = 2 s + s R(s**2), R fdlibm's minimax polynomial (Lg1..Lg7, |error| < 2**-58.45 for |s| < 0.1716):
    # 7 terms where the s**2 Taylor series needs 11, and a shorter chain ahead of Box-Muller's square root
    z = builder.fmul(s, s)
    p = _const(_LOG_MINIMAX[-1])
    for c in reversed(_LOG_MINIMAX[:-1]):
        p = _fma(builder, p, z, _const(c))
    out = _fma(builder, e, _const(_LN2), _fma(builder, builder.fmul(s, z), p, builder.fadd(s, s)))
    if positive:
        return out
    return builder.select(builder.fcmp_ordered(">", x, _const(0.0)), out, _const(float("-inf")))


@intrinsic
def vec8_max(typingctx, a, b):
    """Lane-wise max (exact; a NaN lane of a gives b's)."""
    def codegen(context, builder, sig, args):
        return _select_max(builder, args[0], args[1])
    return f64x8(f64x8, f64x8), codegen


def _exp_nonpositive(builder, x):
    """e**x lane-wise for x <= 0, as a log-sum-exp's shifted terms are (relative error below 5e-16, as
    ``_fastmath.fast_exp``).

    On AVX-512, by sixteenths of a power of two: x = (16 k + j) ln2/16 + r, |r| <= ln2/32, so
    e**x = 2**k * 2**(j/16) * e**r, with 2**(j/16) one ``vpermi2pd`` from a 16-entry table (``_table16``),
    e**r a degree-7 Taylor polynomial (its first omitted term is 1.2e-18 relative), and 2**k one
    ``vscalefpd``, which also rounds the results below 2**-1022 to subnormals and zero (x below -1000 is
    taken as -1000, so -inf and NaN lanes give 0). 17 vector operations where the plain reduction by ln 2
    needs a degree-12 polynomial and 21: the K exps per point are a third of a full-covariance scoring
    pass, nearly all of a diagonal one.

    Elsewhere ``_fastmath.fast_exp``'s reduction by ln 2 and polynomial (no table lookup instruction):
    0 below -708 (NaN lanes give e**-708)."""
    from ._fastmath import _EXP_LO, _LN2_HI, _LN2_LO, _LOG2E

    if WIDE:
        xc = _select_max(builder, x, _const(-1000.0))
        # n = rint(16 x / ln 2) in the low bits of y (|n| < 2**15), n as a float by the integer difference
        # (see _sincos_turns: unsafe-math folds can undo a float one)
        y = _fma(builder, xc, _const(16.0 * _LOG2E), _const(_ROUND_MAGIC))
        index = builder.sub(builder.bitcast(y, _I64V), _i64s(_ROUND_MAGIC_BITS))
        n = builder.sitofp(index, _VEC)
        r = _fma(builder, n, _const(-_LN2_HI / 16.0), xc)  # n * LN2_HI/16 is exact (LN2_HI's low bits are 0)
        r = _fma(builder, n, _const(-_LN2_LO / 16.0), r)
        # e**r = 1 + r q(r), q = 1 + r/2 + ... + r**6/7!; times the table entry t as t + (t r) q
        q = _const(_EXP_TAYLOR7[0])
        for c in _EXP_TAYLOR7[1:]:
            q = _fma(builder, q, r, _const(c))
        t = _table16(builder, _EXP2_SIXTEENTHS, index)  # 2**(j/16), j = n mod 16 (the low 4 bits)
        m = _fma(builder, builder.fmul(t, r), q, t)
        fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC, ir.IntType(8), _I32])
        scalef = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.mask.scalef.pd.512")
        # m * 2**floor(n/16): n/16 is exact, vscalefpd takes the floor
        return builder.call(scalef, [m, builder.fmul(n, _const(0.0625)), ir.Constant(_VEC, ir.Undefined),
                                     ir.Constant(ir.IntType(8), -1), ir.Constant(_I32, 4)])
    xc = _select_max(builder, x, _const(_EXP_LO))
    k = _floor(builder, _fma(builder, xc, _const(_LOG2E), _const(0.5)))
    r = _fma(builder, k, _const(-_LN2_HI), xc)
    r = _fma(builder, k, _const(-_LN2_LO), r)
    p = _const(_EXP_COEFFICIENTS[0])
    for c in _EXP_COEFFICIENTS[1:]:
        p = _fma(builder, p, r, _const(c))
    bits = builder.shl(builder.add(builder.fptosi(k, _I64V), _i64s(1023)), _i64s(52))
    e = builder.fmul(p, builder.bitcast(bits, _VEC))
    return builder.select(builder.fcmp_ordered("<", x, _const(_EXP_LO)), _const(0.0), e)


@intrinsic
def vec8_exp_diff(typingctx, a, b):
    """Lane-wise e**(a - b) as ``_fastmath.fast_exp``, for a <= b (a log-sum-exp's terms less their max)."""
    def codegen(context, builder, sig, args):
        return _exp_nonpositive(builder, builder.fsub(args[0], args[1]))
    return f64x8(f64x8, f64x8), codegen


@intrinsic
def vec8_finite_or_zero(typingctx, a):
    """Lane-wise a, with -inf (and NaN) lanes as 0: the shift of a log-sum-exp whose terms are all -inf."""
    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], _const(float("-inf"))), args[0], _const(0.0))
    return f64x8(f64x8), codegen


@intrinsic
def vec8_log_plus(typingctx, shift, total):
    """Lane-wise shift + log(total) (``_fastmath.fast_log``; total <= 0 gives -inf)."""
    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], _log(builder, args[1]))
    return f64x8(f64x8, f64x8), codegen


@intrinsic
def vec8_recip_or_zero(typingctx, a):
    """Lane-wise 1 / a, 0 where a <= 0."""
    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], _const(0.0)), builder.fdiv(_const(1.0), args[0]),
                              _const(0.0))
    return f64x8(f64x8), codegen


_POINTS8 = types.UniTuple(f64x8, LANES)
_PAIR = types.UniTuple(f64x8, 2)


@intrinsic
def vec8_columns8(typingctx, xt, col):
    """The 8 coordinates of the 8 points xt[:, col:col + 8] (xt: (8, >= col + 8) float64, coordinate-major) as
    8 vectors: vector i holds coordinate i of the points."""
    if not (isinstance(xt, types.Array) and xt.ndim == 2 and xt.dtype == types.float64 and xt.layout == "C"):
        raise TypeError(f"vec8_columns8's points must be a C-contiguous (8, m) float64 array, got {xt}")

    def codegen(context, builder, sig, args):
        xa = context.make_array(sig.args[0])(context, builder, args[0])
        stride = builder.extract_value(xa.strides, 0)
        base = builder.add(builder.ptrtoint(xa.data, _I64), builder.mul(args[1], ir.Constant(_I64, 8)))
        xs = [builder.load(builder.inttoptr(builder.add(base, builder.mul(stride, ir.Constant(_I64, i))),
                                            _VEC.as_pointer()), align=8) for i in range(LANES)]
        return context.make_tuple(builder, sig.return_type, xs)
    return _POINTS8(xt, types.int64), codegen


def _shuffle(builder, a, b, lanes):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, LANES), lanes))


def _transpose8(builder, rows):
    """The 8 x 8 transpose of 8 vectors (vector i of the result: lane i of each): three rounds of 8 shuffles."""
    # round 1: rows 2i, 2i+1 -> even and odd columns interleaved
    t = []
    for i in range(0, LANES, 2):
        t.append(_shuffle(builder, rows[i], rows[i + 1], [0, 8, 2, 10, 4, 12, 6, 14]))
        t.append(_shuffle(builder, rows[i], rows[i + 1], [1, 9, 3, 11, 5, 13, 7, 15]))
    # round 2: four rows per vector, columns {0, 4}, {2, 6} (from the even ones), {1, 5}, {3, 7} (odd)
    u = []
    for half in (0, 4):
        for parity in (0, 1):
            a, b = t[half + parity], t[half + 2 + parity]
            u.append(_shuffle(builder, a, b, [0, 1, 8, 9, 4, 5, 12, 13]))
            u.append(_shuffle(builder, a, b, [2, 3, 10, 11, 6, 7, 14, 15]))
    # round 3: rows 0-3 with rows 4-7
    out = [None] * LANES
    for q, (c_lo, c_hi) in enumerate(((0, 4), (2, 6), (1, 5), (3, 7))):
        out[c_lo] = _shuffle(builder, u[q], u[4 + q], [0, 1, 2, 3, 8, 9, 10, 11])
        out[c_hi] = _shuffle(builder, u[q], u[4 + q], [4, 5, 6, 7, 12, 13, 14, 15])
    return out


@intrinsic
def vec8_rows8(typingctx, X, row0, n_rows):
    """The points X[row0:row0 + min(n_rows, 8)] of an (n, D) array, D <= 8 (rows contiguous: X.strides[1] ==
    itemsize; float64 or float32, widened) as 8 coordinate vectors (lane b: point row0 + b), the
    coordinates past D and the lanes past n_rows zero: an 8 x 8 transpose in registers (three rounds of 8
    shuffles), so the points need no transposed scratch. Reads exactly the D entries of those rows (masked
    loads; a row past n_rows is not touched), so a chunk's last few rows go through the same lane
    arithmetic as whole groups."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.dtype in (types.float64, types.float32)):
        raise TypeError(f"vec8_rows8's points must be a 2-D float64/float32 array, got {X}")

    def codegen(context, builder, sig, args):
        xa = context.make_array(sig.args[0])(context, builder, args[0])
        stride = builder.extract_value(xa.strides, 0)
        base = builder.add(builder.ptrtoint(xa.data, _I64), builder.mul(args[1], stride))
        single = sig.args[0].dtype == types.float32
        row_type = ir.VectorType(ir.FloatType(), LANES) if single else _VEC
        columns = _first_lanes(builder, builder.extract_value(xa.shape, 1))
        none = ir.Constant(_MASK, [0] * LANES)
        zero = ir.Constant(row_type, [0.0] * LANES)
        rows = []
        for i in range(LANES):
            ptr = builder.inttoptr(builder.add(base, builder.mul(stride, ir.Constant(_I64, i))), row_type.as_pointer())
            present = builder.icmp_signed(">", args[2], ir.Constant(_I64, i))
            r = _masked_load(builder, ptr, builder.select(present, columns, none), zero, single)
            rows.append(builder.fpext(r, _VEC) if single else r)
        out = _transpose8(builder, rows)
        return context.make_tuple(builder, sig.return_type, out)
    return _POINTS8(X, types.int64, types.int64), codegen


@intrinsic
def vec8_nonfinite(typingctx, acc, xs):
    """acc + sum_i xs[i] * 0: a lane becomes NaN once any coordinate of its point is NaN or +-inf (the
    branch-free finiteness check of ``gaussian.load_block``)."""
    def codegen(context, builder, sig, args):
        out = args[0]
        for i in range(LANES):
            out = _fma(builder, builder.extract_value(args[1], i), _const(0.0), out)
        return out
    return f64x8(f64x8, _POINTS8), codegen


def _quad_terms8(context, builder, U_type, U, c_type, c, log_norm_k, groups):
    """``vec8_quad_term8`` for each group of 8 coordinate vectors in ``groups``, sharing each broadcast entry
    of U and c among the groups (one load feeds len(groups) FMAs). A 1-D U holds diagonal factors s:
    y_j = x_j s_j - c_j, 16 FMAs per group instead of 44."""
    Ua = context.make_array(U_type)(context, builder, U)
    ca = context.make_array(c_type)(context, builder, c)
    diagonal = U_type.ndim == 1
    # C-contiguous operands (the kernels' (8, 8) factor slices and mean rows): constant offsets, so each
    # entry is one broadcast load off a base register; others: their strides
    if diagonal:
        u_stride = [ir.Constant(_I64, 8)] if U_type.layout == "C" else [builder.extract_value(Ua.strides, 0)]
    else:
        u_stride = ([ir.Constant(_I64, 8 * LANES), ir.Constant(_I64, 8)] if U_type.layout == "C"
                    else [builder.extract_value(Ua.strides, d) for d in range(2)])
    c_stride = ir.Constant(_I64, 8) if c_type.layout == "C" else builder.extract_value(ca.strides, 0)

    def scalar(arr, offset_bytes):
        addr = builder.add(builder.ptrtoint(arr.data, _I64), offset_bytes)
        return builder.load(builder.inttoptr(addr, _F64.as_pointer()))

    parts = [[None] * len(groups), [None] * len(groups)]
    for j in range(LANES):
        neg_cj = _splat(builder, builder.fneg(scalar(ca, builder.mul(c_stride, ir.Constant(_I64, j)))))
        ys = [neg_cj] * len(groups)
        for i in ([j] if diagonal else range(j + 1)):
            if diagonal:
                off = builder.mul(u_stride[0], ir.Constant(_I64, j))
            else:
                off = builder.add(builder.mul(u_stride[0], ir.Constant(_I64, i)),
                                  builder.mul(u_stride[1], ir.Constant(_I64, j)))
            u_ij = _splat(builder, scalar(Ua, off))
            ys = [_fma(builder, xs[i], u_ij, y) for xs, y in zip(groups, ys)]
        # the squares into two sums (even and odd j), so the chain of 8 dependent FMAs is two of 4 and an
        # add: measured 2-3% (median) faster full scoring, in-process A/Bs in both orders
        parts[j % 2] = [builder.fmul(y, y) if acc is None else _fma(builder, y, y, acc)
                        for y, acc in zip(ys, parts[j % 2])]
    accs = [builder.fadd(a, b) for a, b in zip(*parts)]
    return [_fma(builder, acc, _const(-0.5), _splat(builder, log_norm_k)) for acc in accs]


@intrinsic
def vec8_quad_term8(typingctx, xs, U, c, log_norm_k):
    """lane b: log_norm_k - 0.5 * || x_b @ U - c ||^2 for the 8 points whose coordinates are the 8 vectors xs
    (``vec8_columns8`` / ``vec8_rows8``), U (8, 8) float64 upper triangular (entries below the diagonal are
    not read), c (8,) float64; exactly those shapes (not checked: the callers' D == 8).

    y_j = sum_{i <= j} x_i U[i, j] - c_j is a chain of FMAs with U's entries broadcast from memory: 44
    vector FMAs per 8 points, nothing written but the result."""
    def codegen(context, builder, sig, args):
        xs = [builder.extract_value(args[0], i) for i in range(LANES)]
        return _quad_terms8(context, builder, sig.args[1], args[1], sig.args[2], args[2], args[3], [xs])[0]
    return f64x8(_POINTS8, U, c, types.float64), codegen


@intrinsic
def vec8_quad_terms8x2(typingctx, xs_a, xs_b, U, c, log_norm_k):
    """``vec8_quad_term8`` of two groups of 8 points at once, (terms of xs_a, terms of xs_b): each entry of U
    and c is loaded once for both, so the 44 FMAs per group are no longer paired with 44 loads (the two
    load ports, not the FMA units, bounded the one-group form). U (8,) instead: diagonal factors s, the
    terms log_norm_k - 0.5 * || x_b * s - c ||^2."""
    def codegen(context, builder, sig, args):
        groups = [[builder.extract_value(args[g], i) for i in range(LANES)] for g in (0, 1)]
        terms = _quad_terms8(context, builder, sig.args[2], args[2], sig.args[3], args[3], args[4], groups)
        return context.make_tuple(builder, sig.return_type, terms)
    return _PAIR(_POINTS8, _POINTS8, U, c, types.float64), codegen


# ------------------------------------------------------------------------------ counter-based sampling
# The samplers' SplitMix64 words, uniforms and Box-Muller pairs for 8 points at once: the integer steps are
# exact (the same words as ``sampling.splitmix64``), the floating-point ones follow ``_fastmath``'s
# reductions and polynomials with fused multiply-adds, like the rest of this block arithmetic. Inside a
# kernel compiled with contraction the scalar functions are fused by LLVM too, so the two agree to
# rounding; a kernel that uses these for every point gives each point the same bits whatever the chunking
# or thread count.



def _i64s(x):
    x = int(x)
    return ir.Constant(_I64V, [x - (1 << 64) if x >= 1 << 63 else x] * LANES)  # the same 64 bits, as LLVM's signed i64


def _splat_int(builder, x):
    v = builder.insert_element(ir.Constant(_I64V, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


def _states(builder, key, w0, stride):
    """Lane b: the SplitMix64 state of word w0 + b * stride, key + (w0 + b * stride + 1) * GAMMA (wrapping),
    as a scalar plus a lane term: b * (stride * GAMMA) does not change from call to call in a loop, so
    LLVM hoists it, and the loop pays one vector add per word instead of a 64-bit vector multiply."""
    from .sampling import GAMMA

    gamma = ir.Constant(_I64, int(GAMMA) - (1 << 64))
    first = builder.add(key, builder.mul(builder.add(w0, ir.Constant(_I64, 1)), gamma))
    step = builder.mul(stride, gamma)
    return builder.add(_splat_int(builder, first),
                       builder.mul(ir.Constant(_I64V, list(range(LANES))), _splat_int(builder, step)))


def _splitmix64(builder, z):
    """``sampling.splitmix64`` lane-wise from the states z (``_states``): wrapping 64-bit arithmetic,
    logical shifts."""
    from .sampling import _M1, _M2

    z = builder.mul(builder.xor(z, builder.lshr(z, _i64s(30))), _i64s(_M1))
    z = builder.mul(builder.xor(z, builder.lshr(z, _i64s(27))), _i64s(_M2))
    return builder.xor(z, builder.lshr(z, _i64s(31)))


def _uniform_open(builder, z):
    """``sampling.uniform_open`` lane-wise from the states z: (0, 1] with 53 random bits (an exact
    conversion: < 2**53)."""
    from .sampling import _U53

    top = builder.sitofp(builder.lshr(_splitmix64(builder, z), _i64s(11)), _VEC)
    return builder.fmul(builder.fadd(top, _const(1.0)), _const(_U53))


_ROUND_MAGIC = 6755399441055744.0  # 1.5 * 2**52: x + it rounds x (|x| < 2**51) to an integer in the low bits
_ROUND_MAGIC_BITS = 0x4338000000000000  # its bits: (x + it) minus them, as integers, is that integer


def _table16(builder, values, index):
    """Lane b: values[index_b % 16] (16 float64 constants). On AVX-512 one ``vpermi2pd`` across two
    registers (it reads the low 4 bits); elsewhere lane by lane."""
    if WIDE:
        permute = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _I64V, _VEC]),
                                                 "llvm.x86.avx512.vpermi2var.pd.512")
        return builder.call(permute, [ir.Constant(_VEC, [float(v) for v in values[:LANES]]), index,
                                      ir.Constant(_VEC, [float(v) for v in values[LANES:]])])
    table = ir.Constant(ir.VectorType(_F64, 16), [float(v) for v in values])
    index = builder.and_(index, _i64s(15))
    out = ir.Constant(_VEC, ir.Undefined)
    for b in range(LANES):
        lane = ir.Constant(_I32, b)
        out = builder.insert_element(out, builder.extract_element(table, builder.extract_element(index, lane)), lane)
    return out


def _sincos_turns(builder, t):
    """``_fastmath.sincos_turns`` lane-wise for t in [0, 1]: j = rint(16 t) by the 1.5 * 2**52 addition, its
    low bits the index of the sixteenths' cos and sin (``_table16``)."""
    from ._fastmath import _TWO_PI, COS_TAYLOR, SIN_TAYLOR, TURN16_COS, TURN16_SIN

    y = _fma(builder, t, _const(16.0), _const(_ROUND_MAGIC))  # 16 t is exact: one rounding, to nearest even
    # j = y - 1.5 * 2**52 in integers: as floats, the unsafe-math folds that Numba's kernels allow turned
    # (16 t + c) - c back into 16 t where the addition was not fused (SSE2)
    index = builder.sub(builder.bitcast(y, _I64V), _i64s(_ROUND_MAGIC_BITS))
    j = builder.sitofp(index, _VEC)
    a = builder.fmul(_fma(builder, j, _const(-0.0625), t), _const(_TWO_PI))  # t - j/16 is exact
    a2 = builder.fmul(a, a)
    ps = _const(SIN_TAYLOR[0])
    for c in SIN_TAYLOR[1:]:
        ps = _fma(builder, ps, a2, _const(c))
    sa = _fma(builder, builder.fmul(a, a2), ps, a)
    pc = _const(COS_TAYLOR[0])
    for c in COS_TAYLOR[1:]:
        pc = _fma(builder, pc, a2, _const(c))
    ca = _fma(builder, a2, pc, _const(1.0))
    c16, s16 = _table16(builder, TURN16_COS, index), _table16(builder, TURN16_SIN, index)
    return (_fma(builder, c16, ca, builder.fneg(builder.fmul(s16, sa))),
            _fma(builder, s16, ca, builder.fmul(c16, sa)))


@intrinsic
def vec8_sincos_turns(typingctx, t):
    """(cos(2 pi t), sin(2 pi t)) lane-wise for t in [0, 1], as Box-Muller computes them (for tests)."""
    def codegen(context, builder, sig, args):
        return context.make_tuple(builder, sig.return_type, list(_sincos_turns(builder, args[0])))
    return types.UniTuple(f64x8, 2)(f64x8), codegen


@intrinsic
def vec8_sqrt_nonnegative(typingctx, x):
    """sqrt(x) lane-wise for x = 0 or normal x > 0, as Box-Muller computes it (``_sqrt_nonnegative``; for
    tests)."""
    def codegen(context, builder, sig, args):
        return _sqrt_nonnegative(builder, args[0])
    return f64x8(f64x8), codegen


@intrinsic
def vec8_uniform(typingctx, key, w0, stride):
    """Lane b: ``sampling.uniform_open(key, w0 + b * stride)`` (uint64 key and words; exact)."""
    if not all(isinstance(a, types.Integer) for a in (key, w0, stride)):
        return None

    def codegen(context, builder, sig, args):
        return _uniform_open(builder, _states(builder, args[0], args[1], args[2]))
    return f64x8(types.uint64, types.uint64, types.uint64), codegen




class _Both:
    """Independent values of the same computation, carried through the helpers in lockstep (``_Lockstep``)."""
    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts


class _Lockstep:
    """A builder whose every operation applies to each part of its ``_Both`` operands in turn, so that the
    helpers above, written for one vector, emit several independent computations interleaved instruction
    by instruction. A Box-Muller pair's chain of dependent operations (two 64-bit multiplies, a divide, a
    square root, Horner polynomials) is about 170 cycles long, too long for the out-of-order window to
    overlap one step with the next on its own; interleaved, two steps fill each other's waits."""

    def __init__(self, builder, n):
        self._builder = builder
        self._n = n

    @property
    def module(self):
        return self._builder.module

    def __getattr__(self, name):
        op = getattr(self._builder, name)

        def part(a, i):
            if isinstance(a, _Both):
                return a.parts[i]
            if isinstance(a, list):
                return [part(x, i) for x in a]
            return a

        def apply(*args, **kwargs):
            return _Both([op(*[part(a, i) for a in args], **kwargs) for i in range(self._n)])
        return apply


def _sqrt_nonnegative(builder, x, neg_half_x=None):
    """sqrt(x) lane-wise for x = 0 or normal x > 0; on AVX-512 not correctly rounded (Box-Muller's radii stay
    within 2.2 ulps of libm's, as they were). There ``vsqrtpd`` occupies the divider, which the log's ``vdivpd`` shares
    (without the square root 8M normals took 4.1 ms instead of 4.8), so instead: y ~ 1/sqrt(x) from
    ``vrsqrt14pd`` (14 bits), one Newton step (28 bits), r = x y and one correction r + (y/2)(x - r**2),
    all on the FMA ports. y comes from max(x, 2**-1022), so x = 0 gives r = 0 exactly. neg_half_x: -x/2
    where the caller has it (Box-Muller's log u), one multiply fewer."""
    if not WIDE:
        sqrt = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC]), "llvm.sqrt.v8f64")
        return builder.call(sqrt, [x])
    rsqrt14 = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, ir.IntType(8)]),
                                             "llvm.x86.avx512.rsqrt14.pd.512")
    all_lanes = ir.Constant(ir.IntType(8), -1)
    y = builder.call(rsqrt14, [_select_max(builder, x, _const(2.0**-1022)), _const(0.0), all_lanes])
    if neg_half_x is None:
        neg_half_x = builder.fmul(x, _const(-0.5))
    y = _fma(builder, y, _fma(builder, neg_half_x, builder.fmul(y, y), _const(0.5)), y)
    r = builder.fmul(x, y)
    return _fma(builder, builder.fmul(y, _const(0.5)), _fma(builder, builder.fneg(r), r, x), r)


def _box_muller(builder, key, w0s, stride):
    """The Box-Muller pairs (za, zb) of ``len(w0s)`` steps, lane b of step s from words w0s[s] + b * stride
    and the next one, interleaved (``_Lockstep``)."""
    from .sampling import GAMMA

    both = _Lockstep(builder, len(w0s))
    z = _Both([_states(builder, key, w0, stride) for w0 in w0s])
    u = _uniform_open(both, z)
    t = _uniform_open(both, both.add(z, _i64s(GAMMA)))  # word w + 1's state
    log_u = _log(both, u, positive=True, reciprocal_divide=True)  # u in (0, 1]
    r = _sqrt_nonnegative(both, both.fmul(_const(-2.0), log_u), neg_half_x=log_u)
    c, s = _sincos_turns(both, t)
    za, zb = both.fmul(r, c), both.fmul(r, s)
    return [(za.parts[i], zb.parts[i]) for i in range(len(w0s))]


#: the step counts ``vec8_box_muller_steps`` takes (its tuple types)
BOX_MULLER_STEPS = (1, 2, 4)
_STEP_TUPLES = {k: types.UniTuple(f64x8, 2 * k) for k in BOX_MULLER_STEPS}


@intrinsic
def vec8_box_muller_steps(typingctx, key, w0, step_words, stride, steps):
    """(za_0, zb_0, ..., za_{steps-1}, zb_{steps-1}): lanes b of step i are ``sampling.box_muller(key, w0 +
    i * step_words + b * stride)``, the standard normal pair from that word and the next (``_log``,
    ``_sqrt_nonnegative`` and ``_fastmath.sincos_turns``' angle sum, with fused multiply-adds: within a few
    ulps of the NumPy twin's libm values, not bit-identical to them); the steps computed in lockstep
    (``_Lockstep``: 2 steps measured 10% faster than one at a time, 4 steps 20%). steps: a literal in
    ``BOX_MULLER_STEPS``."""
    if not all(isinstance(a, types.Integer) for a in (key, w0, step_words, stride)):
        return None
    if not isinstance(steps, types.IntegerLiteral):
        return None  # Numba retries with the literal
    if steps.literal_value not in BOX_MULLER_STEPS:
        raise TypeError(f"vec8_box_muller_steps' steps must be a literal in {BOX_MULLER_STEPS}, got {steps}")
    k = steps.literal_value

    def codegen(context, builder, sig, args):
        key_, w0_, step_words_, stride_ = args[:4]
        w0s = [builder.add(w0_, builder.mul(step_words_, ir.Constant(_I64, i))) for i in range(k)]
        pairs = _box_muller(builder, key_, w0s, stride_)
        return context.make_tuple(builder, sig.return_type, [v for pair in pairs for v in pair])
    return _STEP_TUPLES[k](types.uint64, types.uint64, types.uint64, types.uint64, steps), codegen


@intrinsic
def vec8_at_least(typingctx, u, c):
    """Lane-wise 1.0 where u >= c, else 0.0 (a component count: the number of cumulative weights <= u)."""
    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">=", args[0], _splat(builder, args[1])), _const(1.0), _const(0.0))
    return f64x8(f64x8, types.float64), codegen


@intrinsic
def vec8_sub_scalar(typingctx, a, c):
    """Lane-wise a - c (one rounding)."""
    def codegen(context, builder, sig, args):
        return builder.fsub(args[0], _splat(builder, args[1]))
    return f64x8(f64x8, types.float64), codegen


def _check_points8(zt, means8, factors8, out):
    for arr, what in ((zt, "coordinates"), (means8, "means"), (factors8, "factors")):
        _check_lanes(arr, f"vec8_mixture_points8's {what}", ndims=(2,))
    if not (isinstance(out, types.Array) and out.ndim == 2 and out.dtype in (types.float64, types.float32)
            and out.layout == "C"):
        raise TypeError(f"vec8_mixture_points8's output must be a C-contiguous 2-D float64/float32 array, got {out}")


@intrinsic
def vec8_mixture_points8(typingctx, zt, count, means8, factors8, dense, out, row0, m):
    """The affine maps of a group of 8 sampled points: for b < m, out[row0 + b, :D] = means8[k] + L z with
    k = lane b of ``count`` (whole numbers), z = column b of zt (8 x 8, coordinate-major), D = out's columns.

    dense: L z = sum_l z_l factors8[8 k + l] (rows of L_k^T, zero-padded to 8), each
    z_l broadcast, alternately from memory and from a register (a load-port and a shuffle-port operation, so
    neither port carries all 8), in two FMA chains; otherwise L z = factors8[k] * z (standard deviations),
    z from an in-register transpose. All 8 points are computed (a lane past m reads valid rows: its count is a
    component) and stored under a mask, so the code is the same for every point of a stream. means8,
    factors8, zt: C-contiguous float64 with 8 columns (the caller's)."""
    _check_points8(zt, means8, factors8, out)

    def codegen(context, builder, sig, args):
        zt_, count, means8_, factors8_, dense_, out_, row0, m = args
        za = context.make_array(sig.args[0])(context, builder, zt_)
        z_stride = builder.extract_value(za.strides, 0)
        z_base = builder.ptrtoint(za.data, _I64)
        zs = [builder.load(builder.inttoptr(builder.add(z_base, builder.mul(z_stride, ir.Constant(_I64, l))),
                                            _VEC.as_pointer()), align=8) for l in range(LANES)]
        fa = context.make_array(sig.args[3])(context, builder, factors8_)
        f_stride = builder.extract_value(fa.strides, 0)
        f_base = builder.ptrtoint(fa.data, _I64)
        n_cols = builder.extract_value(context.make_array(sig.args[5])(context, builder, out_).shape, 1)
        col_mask = _first_lanes(builder, n_cols)
        zero = ir.Constant(_I64, 0)

        def component_and_mean(b):
            k = builder.fptosi(builder.extract_element(count, ir.Constant(_I32, b)), _I64)
            return k, builder.load(_lanes_address(context, builder, sig.args[2], means8_, k, zero), align=8)

        def store_point(b, x):
            keep = builder.icmp_signed("<", ir.Constant(_I64, b), m)  # lanes past m: computed, not stored
            mask = builder.and_(col_mask, builder.select(keep, ir.Constant(_MASK, [1] * LANES),
                                                         ir.Constant(_MASK, [0] * LANES)))
            _masked_store(context, builder, sig.args[5], out_, builder.add(row0, ir.Constant(_I64, b)), zero, mask, x)

        with builder.if_else(dense_) as (then, otherwise):
            with then:
                for b in range(LANES):
                    k, x = component_and_mean(b)
                    r_addr = builder.add(f_base, builder.mul(builder.mul(k, ir.Constant(_I64, LANES)), f_stride))
                    chains = [x, ir.Constant(_VEC, [0.0] * LANES)]
                    for l in range(LANES):
                        if l % 2:
                            zl = _shuffle(builder, zs[l], zs[l], [b] * LANES)
                        else:
                            addr = builder.add(z_base, builder.add(builder.mul(z_stride, ir.Constant(_I64, l)),
                                                                   ir.Constant(_I64, 8 * b)))
                            zl = _splat(builder, builder.load(builder.inttoptr(addr, _F64.as_pointer())))
                        row_addr = builder.add(r_addr, builder.mul(f_stride, ir.Constant(_I64, l)))
                        row = builder.load(builder.inttoptr(row_addr, _VEC.as_pointer()), align=8)
                        chains[l % 2] = _fma(builder, zl, row, chains[l % 2])
                    store_point(b, builder.fadd(chains[0], chains[1]))
            with otherwise:
                points = _transpose8(builder, zs)
                for b in range(LANES):
                    k, x = component_and_mean(b)
                    sd = builder.load(_lanes_address(context, builder, sig.args[3], factors8_, k, zero), align=8)
                    store_point(b, _fma(builder, sd, points[b], x))
        return context.get_dummy_value()
    return types.none(zt, f64x8, means8, factors8, types.boolean, out, types.int64, types.int64), codegen


@intrinsic
def vec8_store_pairs(typingctx, out, start, n, loc, scale, za, zb):
    """out[start + 2 p] = loc + scale * za[p], out[start + 2 p + 1] = loc + scale * zb[p] for the first
    min(n, 16) of those 16 positions (the pairs interleaved by two shuffles); out: a contiguous 1-D float64
    or float32 array (float32: each value rounded once). Nothing else is written."""
    if not (isinstance(out, types.Array) and out.ndim == 1 and out.dtype in (types.float64, types.float32)
            and out.layout == "C"):
        raise TypeError(f"vec8_store_pairs' output must be a contiguous 1-D float64/float32 array, got {out}")

    def codegen(context, builder, sig, args):
        out_, start, n, loc, scale, za, zb = args
        for half, lanes in enumerate(([0, 8, 1, 9, 2, 10, 3, 11], [4, 12, 5, 13, 6, 14, 7, 15])):
            z = _shuffle(builder, za, zb, lanes)
            v = _fma(builder, _splat(builder, scale), z, _splat(builder, loc))
            offset = ir.Constant(_I64, LANES * half)
            _masked_store(context, builder, sig.args[0], out_, ir.Constant(_I64, 0), builder.add(start, offset),
                          _first_lanes(builder, builder.sub(n, offset)), v)
        return context.get_dummy_value()
    return types.none(out, types.int64, types.int64, types.float64, types.float64, f64x8, f64x8), codegen


# ------------------------------------------------------------------------------ E-step statistics, D = 8
# One component's weighted sums over groups of 8 points (lanes = points), 45 in all: q = 0: sum r;
# 1 + j: sum r d_j; 9 + i (i + 1) / 2 + j (j <= i): sum r d_i d_j, with d = x - c. They go in three parts of
# 15 (a part's sums, the 8 differences and two temporaries fit the 32 vector registers; all 45 at once
# spilled: 160 instructions per step instead of ~60).

_MOMENT_TERMS = ([("n",)] + [("s1", j) for j in range(LANES)]
                 + [("s2", i, j) for i in range(LANES) for j in range(i + 1)])
N_MOMENTS8 = len(_MOMENT_TERMS)  # 45
MOMENT_PARTS8 = 3
MOMENTS_PER_PART8 = _PART = N_MOMENTS8 // MOMENT_PARTS8  # 15
#: diagonal covariances need 17 of the sums (r, r d_j, r d_j**2): one part of its own, the literal 3
DIAG_PART8 = MOMENT_PARTS8
_DIAG_MOMENT_TERMS = [("n",)] + [("s1", j) for j in range(LANES)] + [("s2", j, j) for j in range(LANES)]
N_DIAG_MOMENTS8 = len(_DIAG_MOMENT_TERMS)  # 17


def _part_terms(part, what):
    """The moment terms of ``part`` (a literal 0..2 of the 45 dense sums, or DIAG_PART8), or None to have
    Numba retry with the literal."""
    if not isinstance(part, types.IntegerLiteral):
        return None
    if not 0 <= part.literal_value <= DIAG_PART8:
        raise TypeError(f"{what}'s part must be a literal 0..{DIAG_PART8}, got {part}")
    if part.literal_value == DIAG_PART8:
        return _DIAG_MOMENT_TERMS
    return _MOMENT_TERMS[_PART * part.literal_value:_PART * (part.literal_value + 1)]


@intrinsic
def vec8_moments8_zero(typingctx, part):
    """The moment sums of part ``part`` (a literal, as in ``vec8_moments8_add``) at zero."""
    terms = _part_terms(part, "vec8_moments8_zero")
    if terms is None:
        return None
    tuple_type = types.UniTuple(f64x8, len(terms))

    def codegen(context, builder, sig, args):
        return context.make_tuple(builder, sig.return_type, [ir.Constant(_VEC, [0.0] * LANES)] * len(terms))
    return tuple_type(part), codegen


@intrinsic
def vec8_moments8_add(typingctx, acc, r, xt, col, c, part):
    """acc (part ``part`` of the moment sums: a literal 0-2 for the dense ones, DIAG_PART8 for the 17
    diagonal ones) plus one group's terms: r (the 8 points' weighted responsibilities),
    d_j = xt[j, col:col + 8] - c[j] (xt: C-contiguous (8, >= col + 8) float64, coordinate-major; c: (8,)
    float64), r d_j, (r d_i) d_j (FMAs)."""
    _check_lanes(xt, "vec8_moments8_add's points", ndims=(2,))
    if not (isinstance(c, types.Array) and c.ndim == 1 and c.dtype == types.float64):
        raise TypeError(f"vec8_moments8_add's shift must be a 1-D float64 array, got {c}")
    terms = _part_terms(part, "vec8_moments8_add")
    if terms is None:
        return None  # Numba retries with the literal
    tuple_type = types.UniTuple(f64x8, len(terms))

    def codegen(context, builder, sig, args):
        acc, r, xt_, col, c_ = args[:5]
        xa = context.make_array(sig.args[2])(context, builder, xt_)
        ca = context.make_array(sig.args[4])(context, builder, c_)
        x_stride = builder.extract_value(xa.strides, 0)
        x_base = builder.add(builder.ptrtoint(xa.data, _I64), builder.mul(col, ir.Constant(_I64, 8)))
        c_stride = builder.extract_value(ca.strides, 0)
        c_base = builder.ptrtoint(ca.data, _I64)
        d, rd = {}, {}

        def diff(j):
            if j not in d:
                x = builder.load(builder.inttoptr(builder.add(x_base, builder.mul(x_stride, ir.Constant(_I64, j))),
                                                  _VEC.as_pointer()), align=8)
                cj = builder.load(builder.inttoptr(builder.add(c_base, builder.mul(c_stride, ir.Constant(_I64, j))),
                                                   _F64.as_pointer()))
                d[j] = builder.fsub(x, _splat(builder, cj))
            return d[j]

        def weighted(i):
            if i not in rd:
                rd[i] = builder.fmul(r, diff(i))
            return rd[i]

        sums = []
        for q, term in enumerate(terms):
            a = builder.extract_value(acc, q)
            if term[0] == "n":
                sums.append(builder.fadd(a, r))
            elif term[0] == "s1":
                sums.append(builder.fadd(a, weighted(term[1])))
            else:
                sums.append(_fma(builder, weighted(term[1]), diff(term[2]), a))
        return context.make_tuple(builder, sig.return_type, sums)
    return tuple_type(tuple_type, f64x8, xt, types.int64, c, part), codegen


@intrinsic
def vec8_moments8_flush(typingctx, acc, lanes, row0):
    """lanes[row0 + q, :] += acc[q] for the part's sums (15, or 17 diagonal; lanes: C-contiguous float64
    with 8 columns and rows [row0, row0 + len(acc)): per-lane partial sums)."""
    _check_lanes(lanes, "vec8_moments8_flush's partial sums", ndims=(2,))
    if not (isinstance(acc, types.UniTuple) and acc.dtype == f64x8):
        raise TypeError(f"vec8_moments8_flush's sums must be a tuple of F64x8, got {acc}")
    count = acc.count

    def codegen(context, builder, sig, args):
        for q in range(count):
            ptr = _lanes_address(context, builder, sig.args[1], args[1], builder.add(args[2], ir.Constant(_I64, q)),
                                 ir.Constant(_I64, 0))
            builder.store(builder.fadd(builder.load(ptr, align=8), builder.extract_value(args[0], q)), ptr, align=8)
        return context.get_dummy_value()
    return types.none(acc, lanes, types.int64), codegen


@intrinsic
def vec8_store_columns8(typingctx, xt, col, xs):
    """xt[j, col:col + 8] = xs[j] for the 8 coordinate vectors xs (xt: C-contiguous (8, >= col + 8) float64)."""
    _check_lanes(xt, "vec8_store_columns8's points", ndims=(2,))

    def codegen(context, builder, sig, args):
        xa = context.make_array(sig.args[0])(context, builder, args[0])
        stride = builder.extract_value(xa.strides, 0)
        base = builder.add(builder.ptrtoint(xa.data, _I64), builder.mul(args[1], ir.Constant(_I64, 8)))
        for j in range(LANES):
            ptr = builder.inttoptr(builder.add(base, builder.mul(stride, ir.Constant(_I64, j))), _VEC.as_pointer())
            builder.store(builder.extract_value(args[2], j), ptr, align=8)
        return context.get_dummy_value()
    return types.none(xt, types.int64, _POINTS8), codegen


@intrinsic
def vec8_mul(typingctx, a, b):
    """Lane-wise a * b."""
    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])
    return f64x8(f64x8, f64x8), codegen


@intrinsic
def vec8_count_at_most16(typingctx, u, thresholds):
    """Lane-wise the number of thresholds <= u, for 15 non-decreasing thresholds (pad with +inf): a binary
    search of depth 4 whose candidates are chosen by blends of broadcast thresholds (4 compares, 11 blends),
    instead of 15 compares and 15 adds. thresholds: (15,) float64, C-contiguous."""
    _check_lanes(thresholds, "vec8_count_at_most16's thresholds", ndims=(1,))

    def codegen(context, builder, sig, args):
        u_ = args[0]
        ta = context.make_array(sig.args[1])(context, builder, args[1])
        c = [_splat(builder, builder.load(builder.gep(ta.data, [ir.Constant(_I64, i)]))) for i in range(15)]
        # level by level: the candidates of a level are the thresholds at the middle of each remaining range
        count = _const(0.0)
        bits = []  # the comparisons so far, first (most significant) first
        for level, span in enumerate((8, 4, 2, 1)):
            # candidate index for each path of earlier bits: sum of earlier bits * their spans + span - 1
            def pick(depth, base):
                if depth == len(bits):
                    return c[base + span - 1]
                half = (8, 4, 2, 1)[depth]
                return builder.select(bits[depth], pick(depth + 1, base + half), pick(depth + 1, base))
            t = pick(0, 0)
            b = builder.fcmp_ordered(">=", u_, t)
            bits.append(b)
            count = builder.select(b, builder.fadd(count, _const(float(span))), count)
        return count
    return f64x8(f64x8, thresholds), codegen


# ------------------------------------------------------------------------------ streaming 1-D kernels
# A memory-bound kernel that writes a large output once (a batch scored into a caller's buffer) pays for the
# output twice with ordinary stores: each line is read into the cache before it is overwritten. Non-temporal
# stores write whole lines straight to memory. They need aligned addresses, so a kernel writes its span's
# head up to a 64-byte line and its tail with ordinary (masked) stores, and the same vector arithmetic for
# every element, so a value's bits do not depend on where the output's lines begin.

def _check_vector_1d(arr, what, dtypes=(types.float64, types.float32)):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype in dtypes):
        raise TypeError(f"{what} must be a 1-D {'/'.join(str(d) for d in dtypes)} array, got {arr}")


@intrinsic
def vec8_fma(typingctx, a, b, c):
    """Lane-wise a * b + c, fused."""
    def codegen(context, builder, sig, args):
        return _fma(builder, *args)
    return f64x8(f64x8, f64x8, f64x8), codegen


@intrinsic
def vec8_load_any(typingctx, arr, i, n):
    """float64(arr[i + b]) in lanes b < n, 0 in the others, for a 1-D float64/float32 array of any stride
    (contiguous: one masked load; strided: a masked gather). Reads nothing past lane n - 1."""
    _check_vector_1d(arr, "vec8_load_any's array")

    def codegen(context, builder, sig, args):
        arrty = sig.args[0]
        a = context.make_array(arrty)(context, builder, args[0])
        single = arrty.dtype == types.float32
        elem = ir.FloatType() if single else _F64
        velem = ir.VectorType(elem, LANES)
        mask = _first_lanes(builder, args[2])
        size = ir.Constant(_I64, 4 if single else 8)
        base = builder.ptrtoint(a.data, _I64)
        stride = size if arrty.layout == "C" else builder.extract_value(a.strides, 0)
        start = builder.add(base, builder.mul(args[1], stride))
        zero = ir.Constant(velem, [0.0] * LANES)
        align = ir.Constant(_I32, 4 if single else 8)
        if arrty.layout == "C":
            v = _masked_load(builder, builder.inttoptr(start, velem.as_pointer()), mask, zero, single)
        else:
            offsets = builder.mul(ir.Constant(_I64V, list(range(LANES))), _splat_int(builder, stride))
            ptrs = builder.inttoptr(builder.add(_splat_int(builder, start), offsets),
                                    ir.VectorType(elem.as_pointer(), LANES))
            fnty = ir.FunctionType(velem, [ir.VectorType(elem.as_pointer(), LANES), _I32, _MASK, velem])
            name = f"llvm.masked.gather.{'v8f32' if single else 'v8f64'}.v8p0"
            v = builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), [ptrs, align, mask, zero])
        return builder.fpext(v, _VEC) if single else v
    return f64x8(arr, types.int64, types.int64), codegen


@intrinsic
def vec8_stream_at(typingctx, arr, i, v):
    """arr[i:i + 8] = v with a non-temporal store (float32: rounded once). arr: C-contiguous 1-D
    float64/float32; &arr[i] must be aligned to the 8 lanes' size (``lanes_to_line`` gives such i)."""
    _check_vector_1d(arr, "vec8_stream_at's array")
    if arr.layout != "C":
        raise TypeError(f"vec8_stream_at's array must be C-contiguous, got {arr}")

    def codegen(context, builder, sig, args):
        single = sig.args[0].dtype == types.float32
        elem = ir.VectorType(ir.FloatType(), LANES) if single else _VEC
        value = builder.fptrunc(args[2], elem) if single else args[2]
        ptr = _lanes_address(context, builder, sig.args[0], args[0], ir.Constant(_I64, 0), args[1], elem)
        store = builder.store(value, ptr, align=32 if single else 64)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(_I32, 1)]))
        return context.get_dummy_value()
    return types.none(arr, types.int64, f64x8), codegen


@intrinsic
def lanes_to_line(typingctx, arr, i):
    """How many elements from arr[i] to the next 64-byte line (0 if &arr[i] is on one); -1 when the array's
    data is not aligned to its item size (then it must not be streamed)."""
    _check_vector_1d(arr, "lanes_to_line's array")

    def codegen(context, builder, sig, args):
        size = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
        a = context.make_array(sig.args[0])(context, builder, args[0])
        addr = builder.add(builder.ptrtoint(a.data, _I64), builder.mul(args[1], ir.Constant(_I64, size)))
        to_line = builder.and_(builder.sub(ir.Constant(_I64, 0), addr), ir.Constant(_I64, 63))
        aligned = builder.icmp_unsigned("==", builder.and_(addr, ir.Constant(_I64, size - 1)), ir.Constant(_I64, 0))
        return builder.select(aligned, builder.udiv(to_line, ir.Constant(_I64, size)), ir.Constant(_I64, -1))
    return types.int64(arr, types.int64), codegen


@intrinsic
def stream_fence(typingctx):
    """A full memory fence: the thread's non-temporal stores are visible before it reports its work done."""
    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.none(), codegen
