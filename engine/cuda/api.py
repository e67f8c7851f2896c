"""Host-side wrappers of ``engine.cuda.kernels``: validation, layouts, launches, reductions."""
import threading
from collections import OrderedDict

import numpy as np
from numba import cuda

from .._dispatch import on_gpu
from . import kernels as K

THREADS = 128
#: fixed grid: partial sums are per block, so a fixed block count makes results identical on every GPU
BLOCKS = 1024


def _as_numba_device_array(X):
    """A GPU array (CuPy, PyTorch, Numba) as a Numba device array over the same memory, without a copy; the
    simulator's device arrays are already Numba's."""
    return X if not hasattr(cuda, "as_cuda_array") or not hasattr(X, "__cuda_array_interface__") else cuda.as_cuda_array(X)


def _device_span(A):
    """(first byte, end byte) of a device array's memory, or None where it is not known (the simulator)."""
    cai = getattr(A, "__cuda_array_interface__", None)
    if cai is None:
        return None
    start = int(cai["data"][0])
    return start, start + int(np.prod(A.shape)) * np.dtype(A.dtype).itemsize


def _device_array(X, name="X"):
    if on_gpu(X):
        A = _as_numba_device_array(X)
        if A.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must hold float32 or float64 values on the GPU, got {A.dtype}")
        return A, True
    from .._validation import as_float_array

    return cuda.to_device(as_float_array(X, name=name)), False


def _check_limits(model):
    Kc, D = model.means_.shape
    if D > K.MAX_D or Kc > K.MAX_K:
        raise ValueError(f"the CUDA kernels support D <= {K.MAX_D} and K <= {K.MAX_K}; got D={D}, K={Kc} (use device='cpu')")


def _factor3d(F):
    """The kernels' factor layout: dense (K or 1, D, D) as is, diagonal (K, D) as (K, 1, D)."""
    F = np.ascontiguousarray(F, dtype=np.float64)
    return F if F.ndim == 3 else F.reshape(F.shape[0], 1, F.shape[1])


#: device copies of recently used models' parameters, keyed by the identity of the host parameter tuple (a
#: model sets a new tuple whenever its parameters change; the entry holds the tuple, so the id is not reused)
_DEVICE_PARAMS = OrderedDict()
_DEVICE_PARAMS_MAX = 16
_DEVICE_PARAMS_LOCK = threading.Lock()


def _on_device(host, upload):
    """``upload(host)``'s device arrays, uploaded once per host parameter tuple: a scoring or sampling call
    otherwise spends more on three small synchronous copies than on a 1M-row kernel."""
    key = id(host)
    with _DEVICE_PARAMS_LOCK:  # threads (a Dask worker's, say) may score on the GPU at once
        hit = _DEVICE_PARAMS.get(key)
        if hit is not None and hit[0] is host:
            _DEVICE_PARAMS.move_to_end(key)
            return hit[1]
    arrays = upload(host)
    with _DEVICE_PARAMS_LOCK:
        _DEVICE_PARAMS[key] = (host, arrays)
        while len(_DEVICE_PARAMS) > _DEVICE_PARAMS_MAX:
            _DEVICE_PARAMS.popitem(last=False)
    return arrays


def _params(model):
    kp = model._kernel_params
    U, shifted, log_norm = kp.prec_chol, kp.shifted_means, kp.log_norm
    dense = U.ndim == 3
    shared = dense and U.shape[0] != shifted.shape[0]
    dU, d_shifted, d_log_norm = _on_device(kp, lambda kp: (cuda.to_device(_factor3d(kp.prec_chol)),
                                                           cuda.to_device(kp.shifted_means),
                                                           cuda.to_device(kp.log_norm)))
    return dU, d_shifted, d_log_norm, dense, shared


class _Output:
    """Where a GPU result goes: ``device`` is the array the kernel writes; ``host`` the caller's NumPy array
    that receives it by one copy (or None); ``returned`` what the call hands back."""

    def __init__(self, device, host, returned):
        self.device, self.host, self.returned = device, host, returned

    def finish(self, to_host):
        if self.host is not None:
            self.device.copy_to_host(self.host)
            return self.host
        if self.returned is not None:
            return self.returned
        return self.device.copy_to_host() if to_host else self.device


def _output(out, shape, dtype, name="out", inputs=()):
    """A caller-owned output for a GPU computation, checked like ``engine._validation.output_array``: a GPU
    array (CuPy, PyTorch, Numba) is written in place and returned as given; a NumPy array receives the result
    by one device-to-host copy into its memory; None allocates a new device array."""
    dtype, shape = np.dtype(dtype), tuple(int(s) for s in shape)
    if out is None:
        return _Output(cuda.device_array(shape, dtype=dtype), None, None)
    if not on_gpu(out):
        from .._validation import output_array

        return _Output(cuda.device_array(shape, dtype=dtype), output_array(out, shape, dtype, name=name), None)
    A = _as_numba_device_array(out)
    if tuple(A.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(A.shape)}")
    if A.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (the input's), got {A.dtype}")
    if not A.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous")
    span = _device_span(A)
    for a in inputs:
        other = _device_span(a) if a is not None else None
        if span and other and span[0] < other[1] and other[0] < span[1]:
            raise ValueError(f"{name} shares memory with the input; pass a separate buffer")
    return _Output(A, None, out)


def _grid(n):
    return max(1, min(BLOCKS, (n + THREADS - 1) // THREADS))


def check_finite(dX, name="X"):
    n = dX.shape[0]
    if n == 0:
        return
    blocks = _grid(n)
    out = cuda.device_array(blocks, dtype=np.int64)
    K.first_nonfinite_row[blocks, 256](dX, out)
    first = int(out.copy_to_host().min())
    if first < n:
        raise ValueError(f"{name} contains NaN or infinity; first offending row: {first}")


def mixture_logpdf(model, X, out=None, generic=False):
    """log p(x) per row on the GPU; a GPU array in gives a GPU array out. ``out``: a caller-owned (n,) array of
    X's dtype, on the GPU (written in place) or on the host (filled by one copy), returned as given.

    D <= SPECIALISED_MAX_D: the kernel compiled for D, one thread per row, with the NaN/inf check inside;
    else (or ``generic``, for benchmarks) the check pass, then the generic kernel."""
    _check_limits(model)
    dX, device_in = _device_array(X)
    if dX.ndim != 2 or dX.shape[1] != model.n_features_in_:
        raise ValueError(f"X must have shape (n_samples, {model.n_features_in_}), got {dX.shape}")
    result = _output(out, (dX.shape[0],), dX.dtype, inputs=(dX,) if device_in else ())
    n, D = dX.shape
    if D <= K.SPECIALISED_MAX_D and not generic:
        if n:
            first_bad = cuda.to_device(np.array([n], dtype=np.int64))
            # no reduction here, so the grid may follow n (one thread per row) without changing any result
            K.log_density_kernel(D)[(n + THREADS - 1) // THREADS, THREADS](dX, *_params(model), result.device,
                                                                          first_bad)
            first = int(first_bad.copy_to_host()[0])
            if first < n:
                raise ValueError(f"X contains NaN or infinity; first offending row: {first}")
    else:
        check_finite(dX)
        if n:
            K.mixture_log_density[_grid(n), THREADS](dX, *_params(model), result.device)
    return result.finish(to_host=not device_in)


def e_step_stats(model, X, sample_weight=None):
    """``engine.estimation.em.e_step_stats`` computed on the GPU (deterministic per-block partials)."""
    from ..estimation.em_stats import SufficientStats, _check_sample_weight, _shift

    _check_limits(model)
    dX, _ = _device_array(X)
    if dX.ndim != 2 or dX.shape[1] != model.n_features_in_:
        raise ValueError(f"X must have shape (n_samples, {model.n_features_in_}), got {dX.shape}")
    check_finite(dX)
    n = dX.shape[0]
    w = np.empty(0) if sample_weight is None else _check_sample_weight(sample_weight, n)
    ct = model.covariance_type
    Kc, D = model.means_.shape
    shift = _shift(model.means_, model.weights_, ct)
    layout = {"full": 0, "tied": 1}.get(ct, 2)
    n_s2 = Kc * D * D if layout == 0 else (D * D if layout == 1 else Kc * D)
    n_entries = 2 + Kc + Kc * D + n_s2
    if n_entries > 63 * THREADS:
        raise ValueError(f"model too large for the CUDA statistics kernel ({n_entries} statistics); use device='cpu'")
    blocks = max(1, min(BLOCKS, (n + THREADS - 1) // THREADS))
    partials = cuda.to_device(np.zeros((blocks, n_entries)))
    shared_bytes = THREADS * (Kc + D + 1) * 8
    K.em_statistics[blocks, THREADS, 0, shared_bytes](
        dX, cuda.to_device(w), *_params(model), cuda.to_device(shift), layout, partials)
    total = partials.copy_to_host().sum(axis=0)  # fixed order
    ll, weight = total[0], total[1]
    nk = total[2 : 2 + Kc]
    s1 = total[2 + Kc : 2 + Kc + Kc * D].reshape(Kc, D)
    s2 = total[2 + Kc + Kc * D :]
    s2 = s2.reshape(Kc, D, D) if layout == 0 else (s2.reshape(D, D) if layout == 1 else s2.reshape(Kc, D))
    return SufficientStats(ct, nk, s1, s2, shift, float(ll), float(weight))


def mixture_sample(model, n, key, offset=0, dtype=np.float64, to_host=True, out=None, labels_out=None):
    """(X, labels) from the same counter-based stream as the CPU sampler (libm transcendental functions,
    so values agree with the CPU's to ~1e-15 relative; labels agree exactly). ``out`` (n, D) of ``dtype`` and
    ``labels_out`` (n,) int64: caller-owned arrays, each on the GPU (written in place) or on the host (filled
    by one copy), returned as given."""
    _check_limits(model)
    sp = model._sampler_params
    cum, means, LT = sp.cum_weights, sp.means, sp.cov_chol_t
    dense = LT.ndim == 3
    shared = dense and LT.shape[0] != means.shape[0]
    X = _output(out, (n, means.shape[1]), dtype)
    labels = _output(labels_out, (n,), np.int64, name="labels_out", inputs=(X.device,))
    if n:
        d_cum, d_means, d_LT = _on_device(sp, lambda sp: (cuda.to_device(sp.cum_weights), cuda.to_device(sp.means),
                                                          cuda.to_device(_factor3d(sp.cov_chol_t))))
        K.mixture_sample[_grid(n), THREADS](np.uint64(key), offset, d_cum, d_means, d_LT, dense, shared, X.device,
                                             labels.device)
    return X.finish(to_host), labels.finish(to_host)


def log_ratio_moments(dX, p, q):
    """Per-block (count, mean, M2) of log p - log q over the rows of a GPU array."""
    blocks = _grid(dX.shape[0])
    partials = cuda.device_array((blocks, 3), dtype=np.float64)
    D = dX.shape[1]
    kernel = K.log_ratio_kernel(D) if D <= K.SPECIALISED_MAX_D else K.log_ratio_moments
    kernel[blocks, 256](dX, *_params(p), *_params(q), partials)
    host = partials.copy_to_host()
    return host[:, 0], host[:, 1], host[:, 2]
