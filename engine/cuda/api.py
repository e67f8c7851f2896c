"""Host-side wrappers of ``engine.cuda.kernels``: validation, layouts, launches, reductions."""
import numpy as np
from numba import cuda

from .._dispatch import on_gpu
from . import kernels as K

THREADS = 128
#: fixed grid: partial sums are per block, so a fixed block count makes results identical on every GPU
BLOCKS = 1024


def _device_array(X, name="X"):
    if on_gpu(X):
        # the simulator's device arrays are already Numba's; real ones are wrapped without a copy
        A = X if not hasattr(cuda, "as_cuda_array") or not hasattr(X, "__cuda_array_interface__") else cuda.as_cuda_array(X)
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


def _params(model):
    kp = model._kernel_params
    U, shifted, log_norm = kp.prec_chol, kp.shifted_means, kp.log_norm
    dense = U.ndim == 3
    shared = dense and U.shape[0] != shifted.shape[0]
    return cuda.to_device(_factor3d(U)), cuda.to_device(shifted), cuda.to_device(log_norm), dense, shared


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


def mixture_logpdf(model, X):
    """log p(x) per row on the GPU; a GPU array in gives a GPU array out."""
    _check_limits(model)
    dX, device_in = _device_array(X)
    if dX.ndim != 2 or dX.shape[1] != model.n_features_in_:
        raise ValueError(f"X must have shape (n_samples, {model.n_features_in_}), got {dX.shape}")
    check_finite(dX)
    out = cuda.device_array(dX.shape[0], dtype=dX.dtype)
    if dX.shape[0]:
        K.mixture_log_density[_grid(dX.shape[0]), THREADS](dX, *_params(model), out)
    return out if device_in else out.copy_to_host()


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


def mixture_sample(model, n, key, offset=0, dtype=np.float64, to_host=True):
    """(X, labels) from the same counter-based stream as the CPU sampler (libm transcendental functions,
    so values agree with the CPU's to ~1e-15 relative; labels agree exactly)."""
    _check_limits(model)
    sp = model._sampler_params
    cum, means, LT = sp.cum_weights, sp.means, sp.cov_chol_t
    dense = LT.ndim == 3
    shared = dense and LT.shape[0] != means.shape[0]
    out = cuda.device_array((n, means.shape[1]), dtype=dtype)
    labels = cuda.device_array(n, dtype=np.int64)
    if n:
        K.mixture_sample[_grid(n), THREADS](np.uint64(key), offset, cuda.to_device(cum), cuda.to_device(means),
                                             cuda.to_device(_factor3d(LT)), dense, shared, out, labels)
    return (out.copy_to_host(), labels.copy_to_host()) if to_host else (out, labels)


def log_ratio_moments(dX, p, q):
    """Per-block (count, mean, M2) of log p - log q over the rows of a GPU array."""
    blocks = _grid(dX.shape[0])
    partials = cuda.device_array((blocks, 3), dtype=np.float64)
    K.log_ratio_moments[blocks, 256](dX, *_params(p), *_params(q), partials)
    host = partials.copy_to_host()
    return host[:, 0], host[:, 1], host[:, 2]
