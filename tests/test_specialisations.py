"""Start-up cost: each heavy kernel is compiled for one argument type per parameter layout, whatever the input.

A float32, read-only or strided input, or a read-only parameter array, used to give every kernel another
Numba specialisation, i.e. another full compile on a cold start (10-20 s each on 2 cores). This runs in a
fresh process, so it counts exactly the specialisations that the calls below create."""
import subprocess
import sys

CODE = r"""
import warnings
import numpy as np
import engine
from engine.estimation.em import e_step_stats
from engine.kernels.em import em_statistics
from engine.kernels.gaussian import mixture_log_density
from engine.kernels.kmeans import kmeans_plusplus
from engine.kernels.sampling import _mixture_sample_rows8, mixture_sample_tiled

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 3))
readonly = X.copy()
readonly.flags.writeable = False
for ct in ("full", "tied", "diag", "spherical"):
    for data in (X, X.astype(np.float32), readonly, np.asfortranarray(X), X[::2]):
        for init in ("kmeans", "k-means++", "random", "random_from_data"):
            g = engine.GaussianMixture(2, covariance_type=ct, init_params=init, max_iter=3, random_state=0).fit(data)
        g.score_samples(data)
        g.predict_proba(data)
        e_step_stats(g, data)
    g.sample(100)
    g.sample(100, dtype=np.float32)
print(len(em_statistics.signatures), len(mixture_log_density.signatures), len(kmeans_plusplus.signatures),
      len(_mixture_sample_rows8.signatures) + len(mixture_sample_tiled.signatures))
"""


def test_one_specialisation_per_parameter_layout():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
    # em_statistics / mixture_log_density: dense (P, D, D) and diagonal (K, D) precision layouts;
    # k-means++: contiguous candidates only (the strided view appears above 2^20 rows);
    # the sampler (D <= 8): one, its factors padded to (rows, 8) whatever the covariance type
    assert [int(v) for v in out] == [2, 2, 1, 1], out


def test_cache_state_is_read_without_compiling(tmp_path):
    """engine._warmup tells a cold cache from a warm one by Numba's index alone (no compile): cold in a fresh
    cache directory, warm once the kernels have run."""
    import os

    code = ("from engine import _warmup\n"
            "print(_warmup.scoring_kernel_cached(True), _warmup.fit_kernels_cached(True))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]

    import numpy as np

    import engine
    from engine import _warmup

    engine.GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(500, 2))).score_samples(
        np.zeros((3, 2)))
    assert _warmup.scoring_kernel_cached(True) and _warmup.fit_kernels_cached(True)


def test_fit_cache_check_covers_the_kernel_the_fit_runs(monkeypatch):
    """A full- or diagonal-covariance fit with D = 8 on AVX-512 runs ``em_statistics_rows8`` besides
    ``em_statistics``: with only the latter cached, the fit is cold there (and warm for every other shape,
    tied included)."""
    from engine import _warmup
    from engine.kernels import _simd
    from engine.kernels.em import em_statistics

    monkeypatch.setattr(_warmup, "is_cached", lambda dispatcher, args: dispatcher is em_statistics)
    assert _warmup.fit_kernels_cached(True) and _warmup.fit_kernels_cached(True, 2, True)
    assert _warmup.fit_kernels_cached(True, 8, False) and _warmup.fit_kernels_cached(False, 2, False)
    assert _warmup.fit_kernels_cached(True, 8, True) is (not _simd.WIDE)
    assert _warmup.fit_kernels_cached(False, 8, False) is (not _simd.WIDE)
    monkeypatch.setattr(_warmup, "is_cached", lambda dispatcher, args: True)
    assert _warmup.fit_kernels_cached(True, 8, True)


def test_cli_says_once_that_it_compiles_on_first_use(monkeypatch, capsys):
    from types import SimpleNamespace

    from engine import _warmup
    from engine.cli import commands

    started = []
    monkeypatch.setattr(_warmup, "scoring_kernel_cached", lambda dense: False)
    monkeypatch.setattr(_warmup, "compile_scoring_kernel_in_background", lambda dense: started.append(dense))
    rep = commands.Reporter(SimpleNamespace(quiet=False, json=False))
    commands._first_use(rep, "full", fit=True)
    err = capsys.readouterr().err
    assert err.count("compiling kernels for first use") == 1 and "cached" in err
    assert started == [True]
    monkeypatch.setattr(_warmup, "scoring_kernel_cached", lambda dense: True)
    monkeypatch.setattr(_warmup, "fit_kernels_cached", lambda dense, n_features=None, full=False: True)
    commands._first_use(rep, "diag", fit=True)
    assert capsys.readouterr().err == "" and started == [True]  # warm: no note, no helper


def test_helper_imports_the_same_engine(monkeypatch):
    """The helper must compile into the cache of the engine that runs (an installed console script run from
    a source checkout's root would otherwise have the helper import the checkout's copy)."""
    import os

    import engine
    from engine import _warmup

    calls = []
    monkeypatch.setattr(_warmup, "scoring_kernel_cached", lambda dense: False)
    monkeypatch.setattr(_warmup.subprocess, "Popen", lambda args, **kw: calls.append((args, kw)))
    _warmup.compile_scoring_kernel_in_background(True)
    (args, kw), = calls
    assert args[1:] == ["-m", "engine._warmup", "dense"]
    assert kw["cwd"] == os.path.dirname(os.path.dirname(os.path.abspath(engine.__file__)))
