"""The command line, end to end in subprocesses (as users run it)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def engine_cmd(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_quickstart_main_job():
    r = engine_cmd("quickstart")
    assert r.returncode == 0, r.stderr
    assert "Gaussian (maximum likelihood" in r.stdout and "Gaussian mixture, K=2" in r.stdout
    # the two eruption regimes of Old Faithful: short (~2 min, ~54 min wait) and long (~4.3 min, ~80 min)
    import re

    means = sorted(float(m) for m in re.findall(r"weight [\d.]+\s+mean \[\s*([\d.]+)", r.stdout))
    assert len(means) == 2 and abs(means[0] - 2.04) < 0.05 and abs(means[1] - 4.29) < 0.05


def test_bad_input_gives_one_line_error(tmp_path):
    r = engine_cmd("quickstart", str(tmp_path / "missing.parquet"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no such file" in r.stderr
    r = engine_cmd("quickstart", str(ROOT / "datasets" / "penguins.parquet"))
    assert r.returncode == 2 and "has nulls; first null at input row 3" in r.stderr
    r = engine_cmd("quickstart", str(ROOT / "datasets" / "penguins.parquet"), "--columns", "species")
    assert r.returncode == 2 and "not a number" in r.stderr


def test_demo_kl_asymmetry(tmp_path):
    r = engine_cmd("demo", "kl-asymmetry", "--n-samples", "20000", "--output", str(tmp_path / "f.png"))
    assert r.returncode == 0, r.stderr
    assert "mode seeking" in r.stdout and "KL(q_reverse || p)" in r.stdout
