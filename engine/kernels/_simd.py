"""Eight float64 lanes as one Numba value, for recursions that LLVM cannot vectorise on its own.

Numba never runs LLVM's SLP vectoriser (``NUMBA_SLP_VECTORIZE`` defaults to 0, and the switch is process-wide),
so a short fixed-width recursion such as the Viterbi max-product step over 8 states stays scalar: ~136
dependent adds and maxima per step. ``F64x8`` is an LLVM ``<8 x double>`` held in registers across loop
iterations; the intrinsics below are the handful of operations the recursion needs. The arithmetic is
IEEE-exact per lane (plain ``fadd``, ordered comparisons, no fast-math flags), so a kernel written with
them gives the same bits as its scalar twin. On AVX-512 a value is one zmm register; elsewhere LLVM splits
it into narrower registers (two ymm, four xmm, or scalars): slower, never different.

Rows shorter than 8 are read and written with masked loads and stores (``llvm.masked.*``), so nothing past
a row is touched; missing lanes read as -inf, the max-product identity.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8
_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_VEC = ir.VectorType(_F64, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)
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


def _row_address(context, builder, arrty, arr, row, elem):
    """Pointer (to ``elem``) to the start of row ``row`` of a 2-D array (any row stride)."""
    a = context.make_array(arrty)(context, builder, arr)
    stride = builder.extract_value(a.strides, 0)
    addr = builder.add(builder.ptrtoint(a.data, _I64), builder.mul(row, stride))
    return builder.inttoptr(addr, elem.as_pointer())


def _first_lanes(builder, n):
    """Mask of lanes 0..n-1."""
    lanes = ir.Constant(ir.VectorType(_I64, LANES), list(range(LANES)))
    nv = builder.insert_element(ir.Constant(ir.VectorType(_I64, LANES), ir.Undefined), n, ir.Constant(_I32, 0))
    nv = builder.shuffle_vector(nv, nv, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))
    return builder.icmp_signed("<", lanes, nv)


def _masked_load(builder, ptr, mask, fill):
    fnty = ir.FunctionType(_VEC, [_VEC.as_pointer(), _I32, _MASK, _VEC])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.load.v8f64.p0")
    return builder.call(fn, [ptr, ir.Constant(_I32, 8), mask, fill])


def _check_rows(arr, dtype, what):
    # rows are read and written as contiguous runs of lanes: only C-contiguous arrays qualify
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and arr.dtype == dtype and arr.layout == "C"):
        raise TypeError(f"{what} must be a C-contiguous 2-D {dtype} array, got {arr}")


@intrinsic
def vec8_fill(typingctx, value):
    """All eight lanes = value."""
    def codegen(context, builder, sig, args):
        v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), args[0], ir.Constant(_I32, 0))
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))
    return f64x8(types.float64), codegen


@intrinsic
def vec8_load(typingctx, arr, row, n):
    """arr[row, :n] in lanes 0..n-1 (n <= 8), -inf in the others; reads nothing past arr[row, n - 1]."""
    _check_rows(arr, types.float64, "vec8_load's array")

    def codegen(context, builder, sig, args):
        ptr = _row_address(context, builder, sig.args[0], args[0], args[1], _VEC)
        return _masked_load(builder, ptr, _first_lanes(builder, args[2]),
                            ir.Constant(_VEC, [float("-inf")] * LANES))
    return f64x8(arr, types.int64, types.int64), codegen


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
    _check_rows(frame, types.float64, "max_plus_step8's frame")
    _check_rows(back, types.uint8, "max_plus_step8's back-pointers")

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
        fptr = _row_address(context, builder, sig.args[9], args[9], args[10], _VEC)
        f = _masked_load(builder, fptr, _first_lanes(builder, args[11]), ir.Constant(_VEC, [float("-inf")] * LANES))
        builder.store(arg, _row_address(context, builder, sig.args[12], args[12], args[10], _IDX), align=1)
        return builder.fadd(best, f)
    return f64x8(f64x8, *([f64x8] * LANES), frame, types.int64, types.int64, back), codegen
