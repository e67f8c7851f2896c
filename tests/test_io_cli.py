"""Arrow-backed data sets and the batch-job CLI: streamed EM and scoring equal in-memory, outputs are
atomic, and bad input gives a one-line error with a non-zero exit code."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import engine
from engine.io.dataset import FeatureSource

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, check=False):
    r = subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd or ROOT, capture_output=True,
                       text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def one_line_error(r):
    assert r.returncode != 0
    lines = [l for l in r.stderr.replace("\r", "\n").splitlines() if l.strip() and "it/s" not in l and "rows/s" not in l]
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in r.stderr, (r.args, r.returncode, r.stdout, r.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Three Parquet files (uneven sizes, small row groups) from a known 3-component mixture, with ids."""
    d = tmp_path_factory.mktemp("multi")
    truth = engine.GaussianMixture.from_params([0.3, 0.5, 0.2], [[0, 0, 0], [4, 4, 0], [0, 4, 4]], [1.0, 0.7, 1.3], "spherical")
    X, _ = truth.sample(9000, random_state=1)
    cuts = [0, 2000, 6500, 9000]
    for i in range(3):
        part = X[cuts[i] : cuts[i + 1]]
        t = pa.table({"id": np.arange(cuts[i], cuts[i + 1]), "a": part[:, 0], "b": part[:, 1],
                      "c": part[:, 2].astype(np.float32), "name": [f"r{j}" for j in range(cuts[i], cuts[i + 1])]})
        pq.write_table(t, d / f"part-{i}.parquet", row_group_size=1000)
    return d, X


def test_streamed_em_equals_in_memory_em(data_dir):
    d, X = data_dir
    X = X.astype(np.float32).astype(np.float64)[:, :3]  # column c is stored as float32
    X[:, :2] = data_dir[1][:, :2]
    start = engine.GaussianMixture(3, covariance_type="full", max_iter=1, random_state=0).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    kw = dict(covariance_type="full", tol=1e-8, max_iter=30, **init)
    in_memory = engine.GaussianMixture(3, **kw).fit(X)
    source = FeatureSource(d, columns=["a", "b", "c"], batch_size=700)
    streamed = engine.GaussianMixture(3, **kw).fit_stream(source.arrays)
    assert streamed.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=1e-9)
    np.testing.assert_allclose(streamed.covariances_, in_memory.covariances_, rtol=1e-9)
    np.testing.assert_allclose(streamed.weights_, in_memory.weights_, rtol=1e-9)
    assert streamed.lower_bound_ == pytest.approx(in_memory.lower_bound_, rel=1e-12)


def test_reservoir_sample_does_not_depend_on_batching(data_dir):
    from engine.estimation.sampling import reservoir_sample

    _, X = data_dir
    a, n, _ = reservoir_sample(np.array_split(X, 7), 500, 3)
    b, _, _ = reservoir_sample(np.array_split(X, 2), 500, 3)
    assert n == len(X) and a.shape == (500, 3)
    np.testing.assert_array_equal(a, b)


def test_cli_fit_score_sample_kl_end_to_end(data_dir, tmp_path):
    d, X = data_dir
    model = tmp_path / "m.arrow"
    r = run("fit", d, "--columns", "a,b,c", "--components", "3", "--model-out", model, "--json", "--in-memory", "no",
            "--batch-size", "1000", check=True)
    summary = json.loads(r.stdout)
    assert summary["components"] == 3 and summary["rows"] == 9000 and not summary["in_memory"]
    fitted = engine.load(model)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]

    out = tmp_path / "scores.parquet"
    r = run("score", d, "--model", model, "--output", out, "--id-column", "id,name", "--responsibilities", "--labels",
            "--anomaly-quantile", "0.05", "--batch-size", "777", "--json", check=True)
    s = json.loads(r.stdout)
    assert s["rows"] == 9000
    table = pq.read_table(out)
    np.testing.assert_array_equal(table.column("id").to_numpy(), np.arange(9000))  # order and ids kept
    assert table.column("name")[1234].as_py() == "r1234"
    Xf = np.column_stack([X[:, 0], X[:, 1], X[:, 2].astype(np.float32)])
    np.testing.assert_allclose(table.column("log_density").to_numpy(), fitted.score_samples(Xf), rtol=1e-12)
    resp = np.column_stack([table.column(f"resp_{k}").to_numpy() for k in range(3)])
    np.testing.assert_allclose(resp, fitted.predict_proba(Xf), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(table.column("label").to_numpy(), fitted.predict(Xf))
    flags = table.column("is_anomaly").to_numpy()
    assert flags.sum() == s["anomalies"] and 0.02 < flags.mean() < 0.08  # about the 5% quantile

    samples = tmp_path / "samples.parquet"
    r = run("sample", "--model", model, "-n", 5000, "--output", samples, "--seed", 4, "--batch-size", 999, "--json", check=True)
    st = pq.read_table(samples)
    assert st.num_rows == 5000 and st.column_names == ["a", "b", "c", "component"]
    whole, labels = fitted.sample(5000, random_state=4)  # streamed batches continue one stream
    np.testing.assert_array_equal(st.column("b").to_numpy(), whole[:, 1])
    np.testing.assert_array_equal(st.column("component").to_numpy(), labels)

    r = run("kl", "--p", model, "--q", model, "--n-samples", 1000, "--json", check=True)
    assert json.loads(r.stdout)["estimate"] == 0.0
    r = run("info", model, "--json", check=True)
    assert json.loads(r.stdout)["kind"] == "GaussianMixture"
    r = run("info", d, "--json", check=True)
    assert json.loads(r.stdout)["rows"] == 9000


def test_other_formats_and_layouts(tmp_path, rng):
    X = rng.normal(size=(500, 3))
    t = pa.table({"x": X[:, 0], "y": X[:, 1], "z": X[:, 2]})
    feather.write_feather(t, tmp_path / "d.feather")
    pacsv.write_csv(t, tmp_path / "d.csv")
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 3)
    pq.write_table(pa.table({"features": fsl}), tmp_path / "fsl.parquet")
    for name in ("d.feather", "d.csv", "fsl.parquet"):
        src = FeatureSource(tmp_path / name, batch_size=128)
        got = np.concatenate(list(src.arrays()))
        np.testing.assert_allclose(got, X, rtol=1e-15)
    # a sliced FixedSizeList (offset != 0) still yields the right rows (apache/arrow#41672)
    pq.write_table(pa.table({"features": fsl.slice(100, 50)}), tmp_path / "sliced.parquet")
    np.testing.assert_allclose(np.concatenate(list(FeatureSource(tmp_path / "sliced.parquet").arrays())), X[100:150])
    glob_src = FeatureSource(str(tmp_path / "*.feather"))
    assert glob_src.count_rows() == 500


def test_null_policies(tmp_path, rng):
    X = rng.normal(size=(100, 2))
    a = pa.array(X[:, 0], mask=np.isin(np.arange(100), [7, 50]))
    pq.write_table(pa.table({"a": a, "b": X[:, 1]}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match="column 'a' has nulls; first null at input row 7"):
        list(FeatureSource(tmp_path / "n.parquet", batch_size=30).batches())
    dropped = list(FeatureSource(tmp_path / "n.parquet", nulls="drop", batch_size=30).batches())
    assert sum(b.dropped for b in dropped) == 2 and sum(len(b.X) for b in dropped) == 98
    model = engine.GaussianMixture.from_params([1.0], [[0.0, 0.0]], [1.0], "spherical")
    model.save(tmp_path / "m.arrow")
    out = tmp_path / "o.parquet"
    r = run("score", tmp_path / "n.parquet", "--model", tmp_path / "m.arrow", "--output", out, "--nulls", "keep", check=True)
    ld = pq.read_table(out).column("log_density")
    assert ld.null_count == 2 and ld[7].as_py() is None and ld[8].as_py() is not None
    r = run("score", tmp_path / "n.parquet", "--model", tmp_path / "m.arrow", "--output", tmp_path / "o2.parquet", "--nulls", "drop", check=True)
    assert "dropped 2 rows" in r.stdout and pq.read_table(tmp_path / "o2.parquet").num_rows == 98


def test_bad_input_one_line_errors(data_dir, tmp_path):
    d, _ = data_dir
    model = tmp_path / "m.arrow"
    run("fit", d, "--columns", "a,b", "--components", "2", "--model-out", model, check=True)
    src = d / "part-0.parquet"
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"a": pa.array([1.0, None, 2.0]), "b": [1.0, 2.0, 3.0]}), nulls)
    out = tmp_path / "o.parquet"
    cases = {
        "no such file": run("score", tmp_path / "missing.parquet", "--model", model, "--output", out),
        "cannot read": run("score", truncated, "--model", model, "--output", out),
        "is not in": run("score", d, "--model", model, "--output", out, "--columns", "a,zzz"),
        "not a number": run("score", d, "--model", model, "--output", out, "--columns", "a,name"),
        "first null at input row 1": run("score", nulls, "--model", model, "--output", out),
        "model has 2": run("score", d, "--model", model, "--output", out, "--columns", "a,b,c"),
        "not a valid engine model file": run("score", d, "--model", truncated, "--output", out),
        "does not exist": run("score", d, "--model", model, "--output", tmp_path / "nowhere" / "o.parquet"),
    }
    for expected, r in cases.items():
        assert expected in one_line_error(r), (expected, r.stderr)
    out.write_bytes(b"previous")
    assert "exists; pass --overwrite" in one_line_error(run("score", d, "--model", model, "--output", out))
    assert out.read_bytes() == b"previous"
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if not os.access(readonly, os.W_OK):  # root can write anywhere
            assert "not writable" in one_line_error(run("score", d, "--model", model, "--output", readonly / "o.parquet"))
    finally:
        readonly.chmod(0o700)


def test_killed_score_leaves_previous_output_intact(tmp_path):
    data = tmp_path / "big.parquet"
    run("datasets", "make", "blobs-diag", "--rows", 3_000_000, "--output", data, "--quiet", check=True)
    truth = tmp_path / "big.truth.arrow"
    assert truth.exists()
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"previous output")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "score", str(data), "--model", str(truth), "--output", str(out),
                             "--overwrite", "--batch-size", "2000", "--responsibilities", "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        time.sleep(0.05)  # wait until the job is writing its temporary output
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), "the score job never started writing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert out.read_bytes() == b"previous output"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_termination_whose_exception_was_swallowed_still_commits_nothing(tmp_path, monkeypatch):
    """Python runs the SIGTERM handler wherever the main thread is; if that is a finaliser or a GC callback,
    its SystemExit is printed and dropped and the job runs on. The recorded request must still stop every
    commit: here the handler runs inside a write and its exception is swallowed, as a finaliser would."""
    from engine import _termination
    from engine.cli.main import _terminate, main
    from engine.io import writer

    data = tmp_path / "small.parquet"
    run("datasets", "make", "blobs-diag", "--rows", 20_000, "--output", data, "--quiet", check=True)
    out = tmp_path / "scores.parquet"
    out.write_bytes(b"previous output")
    monkeypatch.setattr(_termination, "_signum", None)
    real_write = writer.AtomicParquetWriter.write

    def write_then_lose_a_sigterm(self, batch):
        real_write(self, batch)
        try:
            _terminate(signal.SIGTERM, None)
        except SystemExit:
            pass  # what Python does with an exception raised in a finaliser

    monkeypatch.setattr(writer.AtomicParquetWriter, "write", write_then_lose_a_sigterm)
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(data), "--model", str(tmp_path / "small.truth.arrow"), "--output", str(out),
              "--overwrite", "--batch-size", "5000", "--quiet"])
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert out.read_bytes() == b"previous output"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def _cli_error(capsys, *args):
    """Run the CLI in this process: exit status 2 and exactly one line on stderr naming the problem (an
    unexpected exception would propagate here and fail the test: no tracebacks)."""
    from engine.cli.main import main

    capsys.readouterr()
    assert main([str(a) for a in args]) == 2, args
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [l for l in err.splitlines() if l.strip() and "it/s" not in l and "rows/s" not in l]
    assert len(lines) == 1 and "error:" in lines[0], lines
    return lines[0]


@pytest.fixture(scope="module")
def nan_at_250(tmp_path_factory):
    """600 rows; a at row 2 and 3 null; b at input row 250 NaN (so 248 rows after the dropped ones)."""
    d = tmp_path_factory.mktemp("nan250")
    rng = np.random.default_rng(0)
    a = rng.normal(size=600)
    b = rng.normal(size=600)
    b[250] = np.nan
    mask = np.zeros(600, dtype=bool)
    mask[[2, 3]] = True
    pq.write_table(pa.table({"a": pa.array(a, mask=mask), "b": pa.array(b, from_pandas=False)}), d / "x.parquet")
    clean = b.copy()
    clean[250] = 0.5
    pq.write_table(pa.table({"a": pa.array(a, mask=mask), "b": clean}), d / "clean.parquet")
    return d


def test_nan_is_reported_at_its_input_row_whatever_the_batching(nan_at_250, tmp_path, capsys):
    """Issue 14, defects 4-6: the row is the input's own 0-based row, whatever the batch size, null policy or
    streaming mode, with the file and the column."""
    src = nan_at_250 / "x.parquet"
    model = tmp_path / "m.arrow"
    from engine.cli.main import main

    assert main(["fit", str(nan_at_250 / "clean.parquet"), "--nulls", "drop", "--components", "2",
                 "--model-out", str(model), "--quiet"]) == 0
    variants = [
        ("score", src, "--model", model, "--output", tmp_path / "o.parquet", "--batch-size", 100, "--nulls", "keep"),
        ("score", src, "--model", model, "--output", tmp_path / "o.parquet", "--batch-size", 7, "--nulls", "drop"),
        ("fit", src, "--nulls", "drop", "--model-out", tmp_path / "f.arrow"),
        ("fit", src, "--nulls", "drop", "--model-out", tmp_path / "f.arrow", "--in-memory", "no", "--batch-size", 64),
        ("fit", src, "--nulls", "drop", "--model-out", tmp_path / "f.arrow", "--in-memory", "yes", "--batch-size", 33),
    ]
    for args in variants:
        line = _cli_error(capsys, *args)
        assert "input row 250" in line and "'b'" in line and "x.parquet" in line, (args, line)


def test_fit_summary_counts_the_rows_used(nan_at_250, tmp_path, capsys):
    from engine.cli.main import main

    for mode in ("yes", "no"):
        capsys.readouterr()
        assert main(["fit", str(nan_at_250 / "clean.parquet"), "--nulls", "drop", "--components", "2", "--json",
                     "--in-memory", mode, "--model-out", str(tmp_path / f"m{mode}.arrow")]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["rows"] == 598 and summary["dropped_null_rows"] == 2
        assert engine.load(tmp_path / f"m{mode}.arrow").training_["rows"] == 598


def test_cli_bad_input_defects(tmp_path, capsys):
    """Issue 14, defects 3 and 7-12: each a one-line error naming the parameter or the file and column."""
    d = tmp_path / "dir"
    d.mkdir()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.5, 3.0]}), d / "part-0.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0, 4.0]}), d / "part-1.parquet")
    t = tmp_path / "text"
    t.mkdir()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.5, 3.0]}), t / "part-0.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0, 4.0], "b": ["1.5", "2", "x"]}), t / "part-1.parquet")
    good = tmp_path / "good.parquet"
    rng = np.random.default_rng(1)
    pq.write_table(pa.table({"a": rng.normal(size=50), "b": rng.normal(size=50)}), good)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.float64()), "b": pa.array([], pa.float64())}), empty)
    model = tmp_path / "m.arrow"
    engine.GaussianMixture.from_params([1.0], [[0.0, 0.0]], [[1.0, 1.0]], "diag").save(model)
    fit = ("fit", "--model-out", tmp_path / "out.arrow")
    cases = [
        ("--threads must be in", (*fit, good, "--threads", 0)),
        ("'b' is not in", (*fit, d, "--columns", "a,b")),
        ("'b' is not in", ("score", d, "--model", model, "--output", tmp_path / "o.parquet", "--columns", "a,b")),
        ("part-1.parquet has type string", (*fit, t, "--columns", "a,b")),
        ("--max-components must be >= 1", (*fit, good, "--components", "auto", "--max-components", 0)),
        ("--batch-size must be >= 1", ("sample", "--model", model, "-n", 10, "--output", tmp_path / "s.parquet",
                                       "--batch-size", 0)),
        ("--batch-size must be >= 1", (*fit, good, "--batch-size", 0)),
        ("no rows to fit", (*fit, empty, "--in-memory", "no")),
        ("no rows to fit", (*fit, empty)),
    ]
    for expected, args in cases:
        line = _cli_error(capsys, *args)
        assert expected in line, (expected, line)
        if "no rows" in expected:
            assert "empty.parquet" in line
