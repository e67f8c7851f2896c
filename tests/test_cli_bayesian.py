"""engine fit --bayesian (issue 18): the variational mixture from the command line, in memory and streamed."""
import json
import os

import numpy as np
import pytest

import engine

pq = pytest.importorskip("pyarrow.parquet")
from test_io_cli import run  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "datasets", "faithful.parquet")


@pytest.mark.parametrize("in_memory", ["yes", "no"])
def test_fit_bayesian_and_score(tmp_path, in_memory):
    model = tmp_path / "m.arrow"
    r = run("fit", DATA, "--columns", "eruptions,waiting", "--components", "8", "--bayesian", "--weight-prior",
            "0.01", "--in-memory", in_memory, "--max-iter", "500", "--model-out", model, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    m = engine.load(model)
    assert type(m) is engine.BayesianGaussianMixture and m.weight_concentration_prior_type == "dirichlet_process"
    assert m.weight_concentration_prior_ == 0.01
    # Old Faithful's two clusters (short and long eruptions)
    assert summary["effective_components"] == int(np.sum(m.weights_ > 0.01)) == 2
    X = pq.read_table(DATA).select(["eruptions", "waiting"])  # a table: the model's feature names
    out = tmp_path / "s.parquet"
    r = run("score", DATA, "--model", model, "--output", out, "--labels")
    assert r.returncode == 0, r.stderr
    scored = pq.read_table(out)
    np.testing.assert_allclose(scored.column("log_density").to_numpy(), m.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(scored.column("label").to_numpy(), m.predict(X))


def test_bayesian_flags_are_checked(tmp_path):
    model = tmp_path / "m.arrow"
    r = run("fit", DATA, "--components", "auto", "--bayesian", "--model-out", model)
    assert r.returncode != 0 and "--bayesian chooses the number of components" in r.stderr
    r = run("fit", DATA, "--components", "2", "--weight-prior", "0.1", "--model-out", model)
    assert r.returncode != 0 and "are for --bayesian fits" in r.stderr
    r = run("fit", DATA, "--components", "2", "--bayesian", "--weight-prior", "-1", "--model-out", model)
    assert r.returncode != 0 and "--weight-prior must be a number > 0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
