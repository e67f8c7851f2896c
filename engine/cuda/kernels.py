"""numba-cuda kernels: the CPU kernels' quantities on the GPU, in the same parametrisation.

Imported only when the CUDA path is used (``engine.cuda`` loads this module lazily), so importing engine
never needs CUDA. Every kernel is deterministic: reductions go through fixed per-block trees and per-block
partials that the host sums in order, never through atomics, so a rerun gives the same bits.

Limits: D <= MAX_D and K <= MAX_K (per-thread local arrays); larger models use the CPU path.

Factor arrays (``U``, ``LT``) are always 3-D: (K or 1, D, D) for dense covariances and (K, 1, D) for
diagonal ones. ``dense`` is a runtime flag, so both branches of a kernel are compiled for one array type;
a 2-D diagonal factor would not type-check in the dense branch (the simulator, which runs kernels as
Python, never sees that: tests/test_cuda_simulator.py also compiles every kernel for real).
"""
import math

from numba import cuda, float64, int64, uint64

MAX_D = 64
MAX_K = 128
_Z_LEN = MAX_D + 1  # local array sizes must be global constants, not expressions
_HALF_LOG_2PI = 0.9189385332046727
_GAMMA = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_U53 = 1.0 / 9007199254740992.0
_TWO_PI = 6.283185307179586


@cuda.jit(device=True, inline=True)
def _component_log_term(x, k, U, shifted, log_norm, dense, shared_factor, D):
    """log(w_k N(x | component k)) in the precision-Cholesky parametrisation (see kernels.gaussian). D: the
    number of features, a runtime value in the generic kernels and a compile-time constant in the kernels
    built per D (inlined, so their feature loops unroll and x stays in registers)."""
    acc = 0.0
    if dense:
        p = 0 if shared_factor else k
        for j in range(D):
            y = 0.0
            for i in range(j + 1):
                y += x[i] * U[p, i, j]
            d = y - shifted[k, j]
            acc += d * d
    else:
        for j in range(D):
            d = x[j] * U[k, 0, j] - shifted[k, j]
            acc += d * d
    return log_norm[k] - 0.5 * acc


@cuda.jit(device=True, inline=True)
def _log_density_and_terms(x, U, shifted, log_norm, dense, shared_factor, terms):
    """Fill terms[:K] with the component log terms; return their log-sum-exp (-inf if all are -inf)."""
    K = shifted.shape[0]
    mx = -math.inf
    for k in range(K):
        t = _component_log_term(x, k, U, shifted, log_norm, dense, shared_factor, shifted.shape[1])
        terms[k] = t
        mx = max(mx, t)
    if mx == -math.inf:
        return -math.inf
    s = 0.0
    for k in range(K):
        s += math.exp(terms[k] - mx)
    return mx + math.log(s)


@cuda.jit
def mixture_log_density(X, U, shifted, log_norm, dense, shared_factor, out):
    """out[i] = log p(X[i]); one thread per point (grid-stride)."""
    x = cuda.local.array(MAX_D, float64)
    terms = cuda.local.array(MAX_K, float64)
    D = X.shape[1]
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, X.shape[0], stride):
        for j in range(D):
            x[j] = X[i, j]
        out[i] = _log_density_and_terms(x, U, shifted, log_norm, dense, shared_factor, terms)


#: up to this D, scoring runs a kernel compiled for the model's D (``log_density_kernel``)
SPECIALISED_MAX_D = 16
_SPECIALISED = {}


def log_density_kernel(D):
    """``mixture_log_density`` compiled for one D (cached per D): with D a compile-time constant the loops
    over features unroll and the point lives in registers instead of a per-thread local array, and the
    log-sum-exp runs online (one pass, no array of K terms)."""
    return _specialised(D).log_density


def log_ratio_kernel(D):
    """``log_ratio_moments`` compiled for one D (cached per D), on the same per-point density."""
    return _specialised(D).log_ratio


class _Specialised:
    def __init__(self, D):
        self.density = _make_point_log_density(D)
        self.log_density = _make_log_density_kernel(D, self.density)
        self.log_ratio = _make_log_ratio_kernel(D, self.density)


def _specialised(D):
    kernels = _SPECIALISED.get(D)
    if kernels is None:
        kernels = _SPECIALISED[D] = _Specialised(D)
    return kernels


def _make_point_log_density(D):
    @cuda.jit(device=True, inline=True)
    def point_log_density(x, U, shifted, log_norm, dense, shared_factor):
        """log p(x) for a point x of exactly D values (registers): the components' terms with an online
        log-sum-exp, s = sum exp(t_k - mx) with mx the running maximum (-inf if every term is)."""
        K = shifted.shape[0]
        mx = -math.inf
        s = 0.0
        for k in range(K):
            t = _component_log_term(x, k, U, shifted, log_norm, dense, shared_factor, D)
            if t > mx:
                s = s * math.exp(mx - t) + 1.0
                mx = t
            elif t > -math.inf:
                s += math.exp(t - mx)
        return mx + math.log(s) if mx > -math.inf else -math.inf

    return point_log_density


def _make_log_density_kernel(D, point_log_density):
    @cuda.jit
    def mixture_log_density_d(X, U, shifted, log_norm, dense, shared_factor, out, first_bad):
        """out[i] = log p(X[i]); one thread per point (grid-stride); X has exactly D columns. The NaN/inf check
        rides along: first_bad[0] (n on entry) becomes the smallest row holding one (an atomic min, so the
        same row whatever the order), which spares a separate pass over X."""
        x = cuda.local.array(D, float64)
        for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
            finite = True
            for j in range(D):
                v = X[i, j]
                x[j] = v
                if not (v - v == 0.0):  # NaN or +-inf
                    finite = False
            if not finite:
                cuda.atomic.min(first_bad, 0, i)
            out[i] = point_log_density(x, U, shifted, log_norm, dense, shared_factor)

    return mixture_log_density_d


def _make_log_ratio_kernel(D, point_log_density):
    @cuda.jit
    def log_ratio_moments_d(X, pU, ps, pl, p_dense, p_shared, qU, qs, ql, q_dense, q_shared, partials):
        """``log_ratio_moments`` for X of exactly D columns: the same Welford per thread and fixed Chan tree,
        so the same grid gives the same partials."""
        x = cuda.local.array(D, float64)
        sh = cuda.shared.array((3, 256), float64)
        tid = cuda.threadIdx.x
        cnt = 0.0
        mean = 0.0
        m2 = 0.0
        for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
            for j in range(D):
                x[j] = X[i, j]
            v = (point_log_density(x, pU, ps, pl, p_dense, p_shared)
                 - point_log_density(x, qU, qs, ql, q_dense, q_shared))
            cnt += 1.0
            d = v - mean
            mean += d / cnt
            m2 += d * (v - mean)
        _block_moments(sh, tid, cnt, mean, m2, partials)

    return log_ratio_moments_d


@cuda.jit
def first_nonfinite_row(X, block_min):
    """block_min[b] = the smallest row index in block b's rows holding NaN/inf (n if none)."""
    n = X.shape[0]
    tid = cuda.threadIdx.x
    best = cuda.shared.array(256, int64)
    mine = n
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        for j in range(X.shape[1]):
            v = X[i, j]
            if not (v - v == 0.0):  # NaN or +-inf
                mine = min(mine, i)
    best[tid] = mine
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            best[tid] = min(best[tid], best[tid + step])
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        block_min[cuda.blockIdx.x] = best[0]


@cuda.jit
def em_statistics(X, weights_in, U, shifted, log_norm, dense, shared_factor, shift, layout, partials):
    """Per-block partial EM statistics (see kernels.em), deterministic.

    Each block walks tiles of blockDim points; per tile, every thread computes one point's weighted
    responsibilities into shared memory, then each thread sums its own statistics entries over the tile
    in a fixed order. Entry layout of a partial row: [loglik, weight, nk (K), s1 (K*D), s2] with s2 of
    K*D*D (layout 0, full), D*D (layout 1, tied, about shift[0]) or K*D (layout 2, diagonal).
    Dynamic shared memory: blockDim * (K + D + 1) float64.
    """
    K, D = shifted.shape
    tpb = cuda.blockDim.x
    tid = cuda.threadIdx.x
    smem = cuda.shared.array(0, float64)
    resp = smem[: tpb * K]
    xs = smem[tpb * K : tpb * (K + D)]
    ws = smem[tpb * (K + D) : tpb * (K + D + 1)]
    x = cuda.local.array(MAX_D, float64)
    terms = cuda.local.array(MAX_K, float64)
    n_s2 = K * D * D if layout == 0 else (D * D if layout == 1 else K * D)
    n_entries = 2 + K + K * D + n_s2
    acc = cuda.local.array(64, float64)  # this thread's entries: tid, tid + tpb, ... (<= 64 of them)
    for e in range(64):
        acc[e] = 0.0
    n = X.shape[0]
    n_tiles = (n + tpb - 1) // tpb
    weighted = weights_in.shape[0] > 0
    for tile in range(cuda.blockIdx.x, n_tiles, cuda.gridDim.x):
        i = tile * tpb + tid
        if i < n:
            for j in range(D):
                x[j] = X[i, j]
                xs[tid * D + j] = x[j]
            w = weights_in[i] if weighted else 1.0
            lse = _log_density_and_terms(x, U, shifted, log_norm, dense, shared_factor, terms)
            for k in range(K):
                resp[tid * K + k] = w * math.exp(terms[k] - lse) if lse > -math.inf else 0.0
            ws[tid] = w
            # the point's log-likelihood contribution is folded into entry 0 below via terms
            terms[0] = w * lse
        else:
            for k in range(K):
                resp[tid * K + k] = 0.0
            ws[tid] = 0.0
            terms[0] = 0.0
        cuda.syncthreads()
        # entry 0 (loglik) needs each point's own value: tree-free fixed order through shared memory
        xs_l = terms[0]
        cuda.syncthreads()
        m = min(tpb, n - tile * tpb)
        slot = 0
        for e in range(tid, n_entries, tpb):
            total = 0.0
            if e == 1:
                for b in range(m):
                    total += ws[b]
            elif e >= 2 and e < 2 + K:
                k = e - 2
                for b in range(m):
                    total += resp[b * K + k]
            elif e >= 2 + K and e < 2 + K + K * D:
                r = e - 2 - K
                k = r // D
                j = r % D
                c = shift[k, j]
                for b in range(m):
                    total += resp[b * K + k] * (xs[b * D + j] - c)
            elif e >= 2 + K + K * D:
                r = e - 2 - K - K * D
                if layout == 0:
                    k = r // (D * D)
                    q = r % (D * D)
                    a = q // D
                    c2 = q % D
                    for b in range(m):
                        total += resp[b * K + k] * (xs[b * D + a] - shift[k, a]) * (xs[b * D + c2] - shift[k, c2])
                elif layout == 1:
                    a = r // D
                    c2 = r % D
                    for b in range(m):
                        total += ws[b] * (xs[b * D + a] - shift[0, a]) * (xs[b * D + c2] - shift[0, c2])
                else:
                    k = r // D
                    j = r % D
                    for b in range(m):
                        v = xs[b * D + j] - shift[k, j]
                        total += resp[b * K + k] * v * v
            acc[slot] += total
            slot += 1
        cuda.syncthreads()
        # log-likelihood: reuse the weight slots for each point's w * lse, summed by thread 0 in order
        ws[tid] = xs_l
        cuda.syncthreads()
        if tid == 0:
            total = 0.0
            for b in range(m):
                total += ws[b]
            acc[63] += total
        cuda.syncthreads()
    slot = 0
    for e in range(tid, n_entries, tpb):
        if e != 0:
            partials[cuda.blockIdx.x, e] = acc[slot]
        slot += 1
    if tid == 0:
        partials[cuda.blockIdx.x, 0] = acc[63]


@cuda.jit(device=True, inline=True)
def _splitmix64(key, u):
    z = key + (u + uint64(1)) * _GAMMA
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@cuda.jit(device=True, inline=True)
def _uniform_open(key, u):
    return (float64(_splitmix64(key, u) >> uint64(11)) + 1.0) * _U53


@cuda.jit
def mixture_sample(key, offset, cum_weights, means, LT, dense, shared_factor, out, labels):
    """Same stream layout as the CPU sampler (kernels.sampling): point i owns words [iS, (i+1)S)."""
    n, D = out.shape
    K = means.shape[0]
    n_pairs = (D + 1) // 2
    stride = uint64(1 + 2 * n_pairs)
    z = cuda.local.array(_Z_LEN, float64)
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        base = uint64(offset + i) * stride
        u = _uniform_open(key, base) - _U53
        k = 0
        for c in range(K - 1):
            if u >= cum_weights[c]:
                k += 1
        labels[i] = k
        for j in range(n_pairs):
            w = base + uint64(1 + 2 * j)
            r = math.sqrt(-2.0 * math.log(_uniform_open(key, w)))
            t = _TWO_PI * _uniform_open(key, w + uint64(1))
            z[2 * j] = r * math.cos(t)
            z[2 * j + 1] = r * math.sin(t)
        if dense:
            p = 0 if shared_factor else k
            for j in range(D):
                acc = means[k, j]
                for l in range(j + 1):
                    acc += LT[p, l, j] * z[l]
                out[i, j] = acc
        else:
            for j in range(D):
                out[i, j] = means[k, j] + LT[k, 0, j] * z[j]


@cuda.jit
def log_ratio_moments(X, pU, ps, pl, p_dense, p_shared, qU, qs, ql, q_dense, q_shared, partials):
    """Per-block (count, mean, M2) of log p(x) - log q(x): sequential Welford per thread, then a fixed
    Chan tree over the block's threads. partials: (blocks, 3)."""
    x = cuda.local.array(MAX_D, float64)
    terms = cuda.local.array(MAX_K, float64)
    sh = cuda.shared.array((3, 256), float64)
    tid = cuda.threadIdx.x
    cnt = 0.0
    mean = 0.0
    m2 = 0.0
    D = X.shape[1]
    for i in range(cuda.grid(1), X.shape[0], cuda.gridsize(1)):
        for j in range(D):
            x[j] = X[i, j]
        v = _log_density_and_terms(x, pU, ps, pl, p_dense, p_shared, terms) - _log_density_and_terms(
            x, qU, qs, ql, q_dense, q_shared, terms)
        cnt += 1.0
        d = v - mean
        mean += d / cnt
        m2 += d * (v - mean)
    _block_moments(sh, tid, cnt, mean, m2, partials)


@cuda.jit(device=True, inline=True)
def _block_moments(sh, tid, cnt, mean, m2, partials):
    """Each thread's (count, mean, M2) merged by a fixed Chan tree over the block; the block's row of
    partials written by thread 0."""
    sh[0, tid] = cnt
    sh[1, tid] = mean
    sh[2, tid] = m2
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            na, nb = sh[0, tid], sh[0, tid + step]
            tot = na + nb
            if nb > 0:
                delta = sh[1, tid + step] - sh[1, tid]
                sh[1, tid] = sh[1, tid] + delta * nb / tot
                sh[2, tid] = sh[2, tid] + sh[2, tid + step] + delta * delta * na * nb / tot
                sh[0, tid] = tot
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        partials[cuda.blockIdx.x, 0] = sh[0, 0]
        partials[cuda.blockIdx.x, 1] = sh[1, 0]
        partials[cuda.blockIdx.x, 2] = sh[2, 0]
