"""engine fit/score/sample/info with --transform (issue 17) on the shipped flights data."""
import json
import os

import numpy as np
import pytest

import engine

pq = pytest.importorskip("pyarrow.parquet")
from test_io_cli import run  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "datasets", "flights.parquet")
COLUMNS = "dep_delay,arr_delay,air_time,distance"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("flights") / "f.parquet"
    table = pq.read_table(DATA, columns=COLUMNS.split(",") + ["flight"]).slice(0, 20000)
    pq.write_table(table, path)
    return path, table


def test_fit_score_sample_info_in_the_data_units(small, tmp_path):
    path, table = small
    model = tmp_path / "m.arrow"
    spec = "dep_delay=yeo-johnson,arr_delay=yeo-johnson,air_time=log,distance=box-cox"
    r = run("fit", path, "--columns", COLUMNS, "--nulls", "drop", "--components", "3", "--transform", spec,
            "--model-out", model, "--json")
    assert r.returncode == 0, r.stderr
    assert "YeoJohnson" in json.loads(r.stdout)["transform"]
    m = engine.load(model)
    assert isinstance(m, engine.Transformed) and isinstance(m.base, engine.GaussianMixture)
    out = tmp_path / "s.parquet"
    r = run("score", path, "--model", model, "--output", out, "--nulls", "drop", "--labels", "--id-column", "flight",
            "--anomaly-quantile", "0.01", "--batch-size", "3000")
    assert r.returncode == 0, r.stderr
    scored = pq.read_table(out)
    X = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in COLUMNS.split(",")])
    X = X[~np.isnan(X).any(axis=1)]
    np.testing.assert_allclose(scored.column("log_density").to_numpy(), m.score_samples(X), rtol=1e-12)
    # the anomaly threshold is a quantile of the data-unit log-densities: about 1% flagged
    assert 0.003 < np.mean(scored.column("is_anomaly").to_numpy(zero_copy_only=False)) < 0.03
    s = tmp_path / "x.parquet"
    r = run("sample", "--model", model, "-n", "3000", "--output", s, "--seed", "2", "--batch-size", "1000")
    assert r.returncode == 0, r.stderr
    drawn = pq.read_table(s)
    assert drawn.column_names == COLUMNS.split(",") + ["component"]
    assert (drawn.column("air_time").to_numpy() > 0).all()
    r = run("info", model)
    assert r.returncode == 0 and "transform: ColumnWise(" in r.stdout


def test_streamed_fit_equals_in_memory(small, tmp_path):
    path, _ = small
    a, b = tmp_path / "a.arrow", tmp_path / "b.arrow"
    common = ["--columns", COLUMNS, "--nulls", "drop", "--components", "2", "--transform", "yeo-johnson+standardize"]
    assert run("fit", path, *common, "--model-out", a, "--in-memory", "yes").returncode == 0
    r = run("fit", path, *common, "--model-out", b, "--in-memory", "no", "--batch-size", "4096")
    assert r.returncode == 0, r.stderr
    ma, mb = engine.load(a), engine.load(b)
    la = ma.transform.transforms[0].lambdas_
    np.testing.assert_allclose(mb.transform.transforms[0].lambdas_, la, atol=1e-9)
    sa, sb = ma.transform.transforms[1], mb.transform.transforms[1]
    # Standardize is fitted on the Yeo-Johnson values: lambdas equal to 1e-9 move its moments by ~1e-9
    np.testing.assert_allclose(sb.mean_, sa.mean_, rtol=1e-7)
    np.testing.assert_allclose(sb.scale_, sa.scale_, rtol=1e-7)
    # (the mixtures themselves start from different initialisations: full data vs the streamed sample)


def test_bad_transform_and_domain_errors_are_one_line(small, tmp_path):
    path, _ = small
    r = run("fit", path, "--columns", COLUMNS, "--nulls", "drop", "--transform", "sqrt", "--model-out",
            tmp_path / "m.arrow")
    assert r.returncode != 0 and "unknown transform 'sqrt'" in r.stderr and "Traceback" not in r.stderr
    r = run("fit", path, "--columns", COLUMNS, "--nulls", "drop", "--transform", "log", "--model-out",
            tmp_path / "m.arrow")
    # dep_delay has negative values: named with its column and input row
    assert r.returncode != 0 and "column 'dep_delay'" in r.stderr and "outside the domain x > 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_mixed_family_fit_under_a_column_transform(small, tmp_path):
    path, table = small
    model = tmp_path / "mixed.arrow"
    family = "dep_delay=gaussian,air_time=gaussian,distance=poisson"
    r = run("fit", path, "--family", family, "--nulls", "drop", "--missing", "marginalize", "--components", "2",
            "--transform", "dep_delay=yeo-johnson,air_time=log", "--model-out", model, "--json")
    assert r.returncode == 0, r.stderr
    m = engine.load(model)
    assert isinstance(m, engine.Transformed) and isinstance(m.base, engine.Mixture)
    out = tmp_path / "s.parquet"
    r = run("score", path, "--model", model, "--output", out, "--batch-size", "3000", "--anomaly-quantile", "0.01")
    assert r.returncode == 0, r.stderr
    sub = table.select(["dep_delay", "air_time", "distance"])
    np.testing.assert_allclose(pq.read_table(out).column("log_density").to_numpy(), m.score_samples(sub), rtol=1e-12)
    s = tmp_path / "x.parquet"
    r = run("sample", "--model", model, "-n", "2000", "--output", s, "--batch-size", "700")
    assert r.returncode == 0, r.stderr
    drawn = pq.read_table(s)
    assert (drawn.column("air_time").to_numpy() > 0).all()
    # streamed: the same transform parameters
    b = tmp_path / "streamed.arrow"
    r = run("fit", path, "--family", family, "--nulls", "drop", "--missing", "marginalize", "--components", "2",
            "--transform", "dep_delay=yeo-johnson,air_time=log", "--model-out", b, "--in-memory", "no",
            "--batch-size", "5000")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(engine.load(b).transform.mapping["dep_delay"].lambdas_,
                               m.transform.mapping["dep_delay"].lambdas_, atol=1e-9)
