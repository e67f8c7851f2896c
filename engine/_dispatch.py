"""The one place that chooses where a computation runs: device="cpu" | "cuda" | "auto".

"cuda" needs numba-cuda and a GPU (or the Numba CUDA simulator, NUMBA_ENABLE_CUDASIM=1, for tests);
without them it raises a clear error. "auto" picks cuda when the input already lives on the GPU
(``__cuda_array_interface__``, e.g. CuPy or Numba device arrays) or a real GPU is present, else cpu - the
simulator never counts for "auto". Importing engine never imports CUDA.
"""
import os

DEVICES = ("cpu", "cuda", "auto")


def on_gpu(X):
    """Whether X lives on the GPU: it exports ``__cuda_array_interface__`` (CuPy, Numba, PyTorch), or it is
    the CUDA simulator's stand-in for a device array."""
    if hasattr(X, "__cuda_array_interface__"):
        return True
    return type(X).__name__ == "FakeCUDAArray"


def _simulator():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_status():
    """(usable, why not): whether device="cuda" can run here."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba always has the shim; numba-cuda may be missing
        return False, "numba-cuda is not installed (pip install 'engine[cuda]')"
    try:
        if cuda.is_available():
            return True, ""
    except Exception as exc:  # driver problems surface here
        return False, f"CUDA is not usable: {exc}"
    return False, "no CUDA GPU or driver was found (and the CUDA simulator is off)"


def real_gpu_available():
    return not _simulator() and cuda_status()[0]


def resolve(device, X=None):
    """'cpu' or 'cuda' for a computation on X."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if (X is not None and on_gpu(X)) or real_gpu_available() else "cpu"
    if device == "cuda":
        ok, why = cuda_status()
        if not ok:
            raise RuntimeError(f"device='cuda' was requested but {why}; use device='cpu' or 'auto'")
        return "cuda"
    if X is not None and on_gpu(X):
        raise ValueError("X is a GPU array but device='cpu': use device='cuda' (or 'auto'), or copy X to the host")
    return "cpu"
