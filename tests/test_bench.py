"""The benchmark suite stays runnable: asv validates it, and one benchmark per file runs (smallest size)."""
import importlib
import itertools
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_asv_check_passes():
    pytest.importorskip("asv", reason="asv is not installed (pip install '.[bench]')")
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], cwd=ROOT, capture_output=True, timeout=120)
    r = subprocess.run([sys.executable, "-m", "asv", "check", "-E", "existing:same"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and "No problems found" in r.stdout, r.stdout + r.stderr


def bench_modules():
    import bench

    return [importlib.import_module(f"bench.{m.name}") for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]


def test_every_area_has_a_benchmark_file():
    names = {m.__name__.split(".")[-1] for m in bench_modules()}
    assert {"bench_logdensity", "bench_sampling", "bench_em", "bench_kl", "bench_io"} <= names


@pytest.mark.parametrize("module", [m.__name__ for m in bench_modules()])
def test_smoke_run_one_benchmark_per_file(module):
    """The first (smallest) parameter combination of the file's first benchmark class, every method once."""
    mod = importlib.import_module(module)
    classes = [c for c in vars(mod).values() if isinstance(c, type) and c.__module__ == mod.__name__
               and any(a.startswith(("time_", "track_")) for a in dir(c))]
    assert classes, f"{module} has no benchmarks"
    cls = classes[0]
    params = getattr(cls, "params", None)
    combos = list(itertools.product(*params)) if params and isinstance(params[0], (list, tuple)) else ([(p,) for p in params] if params else [()])
    args = combos[0]
    bench = cls()
    if hasattr(bench, "setup"):
        bench.setup(*args)
    try:
        for name in dir(bench):
            if name.startswith(("time_", "track_")):
                result = getattr(bench, name)(*args)
                if name.startswith("track_"):
                    assert result > 0
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*args)


def test_compare_script_quick_run(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "table.json"
    r = subprocess.run([sys.executable, "-m", "bench.compare", "--quick", "--repeat", "1", "--only", "GMM score_samples diag",
                        "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    import json

    rows = json.loads(out.read_text())["rows"]
    assert rows and rows[0]["vs_sklearn"] > 0 and rows[0]["vs_numpy"] > 0


def test_ab_script_times_two_trees(tmp_path):
    """bench.ab imports two engine trees side by side and prints a line per case with both trees' times."""
    import shutil

    for name in ("a", "b"):
        shutil.copytree(ROOT / "engine", tmp_path / name / "engine",
                        ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "bench.ab", str(tmp_path / "a"), str(tmp_path / "b"), "--cases", "normal",
                        "--rounds", "1", "--n", "4096"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert line.startswith("normal out=") and str(tmp_path / "a") in line and str(tmp_path / "b") in line
