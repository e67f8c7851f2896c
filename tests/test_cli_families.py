"""engine fit/score/sample with --family (mixed types, counts, binary data) on the shipped tables."""
import json
import os

import numpy as np
import pytest

import engine

pq = pytest.importorskip("pyarrow.parquet")
from test_io_cli import run  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "datasets")


def test_fit_score_sample_mixed_titanic(tmp_path):
    model = tmp_path / "t.arrow"
    r = run("fit", os.path.join(DATA, "titanic.parquet"), "--family", "auto", "--columns", "survived,sex,age,passengerClass",
            "--missing", "marginalize", "--components", "3", "--n-init", "2", "--model-out", model, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["columns"] == {"survived": "categorical", "sex": "categorical", "age": "gaussian",
                                  "passengerClass": "categorical"}
    m = engine.load(model)
    assert isinstance(m, engine.Mixture)
    table = pq.read_table(os.path.join(DATA, "titanic.parquet"))
    out = tmp_path / "s.parquet"
    r = run("score", os.path.join(DATA, "titanic.parquet"), "--model", model, "--output", out, "--labels",
            "--responsibilities", "--id-column", "name", "--anomaly-quantile", "0.01", "--batch-size", "100")
    assert r.returncode == 0, r.stderr
    scored = pq.read_table(out)
    np.testing.assert_allclose(scored.column("log_density").to_numpy(), m.score_samples(table), rtol=1e-12)
    # batches of 100 are scored into reused buffers: every batch's rows written before the next overwrites them
    resp = np.column_stack([scored.column(f"resp_{k}").to_numpy() for k in range(3)])
    np.testing.assert_allclose(resp, m.predict_proba(table), rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(scored.column("label").to_numpy(), m.predict(table))
    assert scored.column("name").to_pylist() == table.column("name").to_pylist()
    assert 0 < sum(scored.column("is_anomaly").to_pylist()) < 0.05 * table.num_rows
    s = tmp_path / "sample.parquet"
    r = run("sample", "--model", model, "-n", "5000", "--output", s, "--batch-size", "1234", "--seed", "3")
    assert r.returncode == 0, r.stderr
    drawn = pq.read_table(s)
    assert set(drawn.column("sex").to_pylist()) == {"female", "male"}
    # batches continue one stream: equal to one call of the API
    X, labels = m.sample(5000, random_state=3)
    assert drawn.column("component").to_pylist() == labels.tolist()
    np.testing.assert_array_equal(drawn.column("age").to_numpy(), X[:, 2].astype(np.float64))
    assert drawn.column("sex").to_pylist() == X[:, 1].tolist()


def test_fit_reports_nulls_and_bad_family(tmp_path):
    r = run("fit", os.path.join(DATA, "titanic.parquet"), "--family", "auto", "--columns", "sex,age",
            "--model-out", tmp_path / "m.arrow")
    assert r.returncode == 2 and "column 'age', input row 15: missing value" in r.stderr
    r = run("fit", os.path.join(DATA, "lsat6.parquet"), "--family", "Q1=binary", "--model-out", tmp_path / "m.arrow")
    assert r.returncode == 2 and "Q1=binary" in r.stderr
    r = run("fit", os.path.join(DATA, "lsat6.parquet"), "--family", "poisson", "--columns", "Q1,Q2",
            "--model-out", tmp_path / "m.arrow")
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"Q1": [0, 1, -3], "Q2": [1, 1, 1]}), bad)
    r = run("score", bad, "--model", tmp_path / "m.arrow", "--output", tmp_path / "o.parquet", "--batch-size", "2")
    assert r.returncode == 2 and "column 'Q1', input row 2: -3" in r.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_bernoulli_bic_choice_on_lsat6(tmp_path):
    r = run("fit", os.path.join(DATA, "lsat6.parquet"), "--family", "bernoulli", "--components", "auto",
            "--max-components", "3", "--n-init", "5", "--model-out", tmp_path / "l.arrow", "--json")
    assert r.returncode == 0, r.stderr
    bic = json.loads(r.stdout)["bic"]
    assert json.loads(r.stdout)["components"] == int(min(bic, key=bic.get))


def test_streamed_cli_fit_equals_in_memory(tmp_path):
    args = ["--family", "auto", "--columns", "survived,sex,age,passengerClass", "--missing", "marginalize",
            "--components", "2", "--max-iter", "5", "--tol", "0", "--json"]
    a = run("fit", os.path.join(DATA, "titanic.parquet"), *args, "--model-out", tmp_path / "a.arrow")
    b = run("fit", os.path.join(DATA, "titanic.parquet"), *args, "--in-memory", "no", "--batch-size", "300",
            "--model-out", tmp_path / "b.arrow")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert json.loads(b.stdout)["in_memory"] is False
    table = pq.read_table(os.path.join(DATA, "titanic.parquet"), columns=["survived", "sex", "age", "passengerClass"])
    mb = engine.load(tmp_path / "b.arrow")
    fam = {"survived": "categorical", "sex": "categorical", "age": "gaussian", "passengerClass": "categorical"}
    api = engine.Mixture(2, family=fam, covariance_type="diag", missing="marginalize", max_iter=5, tol=0,
                         random_state=0)
    with pytest.warns(engine.ConvergenceWarning):
        api.fit_stream([table.slice(i, 300) for i in range(0, table.num_rows, 300)])
    np.testing.assert_allclose(mb.score_samples(table), api.score_samples(table), rtol=1e-12)
    assert np.isfinite(engine.load(tmp_path / "a.arrow").score_samples(table)).all()


def test_cli_family_fit_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    table = pq.read_table(os.path.join(DATA, "titanic.parquet"))
    d = tmp_path / "parts"
    d.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 500)):
        pq.write_table(table.slice(start, 500), d / f"p{i}.parquet")
    fam = "survived=categorical,sex=categorical,age=gaussian,passengerClass=categorical"
    r = run("fit", d, "--family", fam, "--missing", "marginalize", "--components", "2", "--max-iter", "5",
            "--tol", "0", "--scheduler", "local:2", "--model-out", tmp_path / "m.arrow", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["workers"] == 2
    m = engine.load(tmp_path / "m.arrow")
    # the same EM as the local streamed fit over the same partitions
    spec = {"survived": "categorical", "sex": "categorical", "age": "gaussian", "passengerClass": "categorical"}
    local = engine.Mixture(2, family=spec, covariance_type="diag", missing="marginalize", max_iter=5, tol=0,
                           random_state=0)
    with pytest.warns(engine.ConvergenceWarning):
        local.fit_stream([pq.read_table(d / f"p{i}.parquet") for i in range(3)])
    cols = table.select(list(spec))
    np.testing.assert_allclose(m.score_samples(cols), local.score_samples(cols), rtol=1e-10)


def test_student_t_samples_from_the_cli_equal_the_api(tmp_path):
    """engine sample --family student-t draws every batch into the same buffers; the rows are one stream, so
    they equal one API call's draws whatever the batch size."""
    model = tmp_path / "t.arrow"
    r = run("fit", os.path.join(DATA, "faithful.parquet"), "--family", "student-t", "--components", "2",
            "--model-out", model)
    assert r.returncode == 0, r.stderr
    m = engine.load(model)
    s = tmp_path / "s.parquet"
    r = run("sample", "--model", model, "-n", "2500", "--output", s, "--batch-size", "700", "--seed", "4")
    assert r.returncode == 0, r.stderr
    drawn = pq.read_table(s)
    X, labels = m.sample(2500, random_state=4)
    assert drawn.column("component").to_pylist() == labels.tolist()
    np.testing.assert_array_equal(np.column_stack([drawn.column(c).to_numpy() for c in drawn.column_names[:-1]]), X)
