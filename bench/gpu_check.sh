#!/usr/bin/env bash
# One check on a GPU machine, in one go (the device tool's run, from the repository root): the machine, the
# CUDA tests at full size, bench.cuda_compare, and the CPU kernels' own tests on that machine's processor.
# Wheels in .whl/ (e.g. a numpy that the machine's numba-cuda imports with) are installed first. Each step
# has its own time limit, so a slow one still leaves the others' logs; logs go to $OUT (default /tmp/gpu_check).
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    lscpu | grep -E "^Model name|^CPU\(s\)"
    lscpu | grep -o -w -E "avx512f|avx512dq|avx512vl|avx2|fma" | sort -u | tr '\n' ' '; echo
    python3 -c "import numpy, numba, numba_cuda, pyarrow; print('numpy', numpy.__version__, 'numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'pyarrow', pyarrow.__version__)"
} 2>&1 | tee "$OUT/machine.txt"
echo "== tests/gpu"
ENGINE_CUDA_TESTS=1 timeout "${GPU_TESTS_S:-240}" python3 -m pytest -q -p no:cacheprovider tests/gpu 2>&1 | tee "$OUT/gpu_tests.txt"
echo "== bench.cuda_compare"
timeout "${BENCH_S:-150}" python3 -m bench.cuda_compare --repeat 3 2>&1 | tee "$OUT/cuda_compare.txt"
if [ "${CPU_TESTS:-1}" = 1 ]; then  # CPU_TESTS=0 skips them (a rerun on the same kind of machine)
    echo "== CPU kernels on this processor"
    timeout "${CPU_TESTS_S:-150}" python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_fastmath.py \
        tests/test_specialisations.py tests/test_sampling.py tests/test_logdensity.py tests/test_out_buffers.py 2>&1 \
        | tee "$OUT/cpu_tests.txt"
fi
