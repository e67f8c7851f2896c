"""``engine fit --model hmm`` / ``engine score`` of HMM model files: sequences regrouped from shuffled rows
across files, equal to the in-memory fit; per-row states, per-sequence log-likelihoods and anomaly flags."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import engine
from engine.cli.main import main


def _table(seed=0):
    g = engine.GaussianHMM(2, covariance_type="diag", init_params="")
    g.startprob_, g.transmat_ = np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.1, 0.9]])
    g.means_, g.covars_ = np.array([[0.0, 0.0], [4.0, -3.0]]), np.ones((2, 2))
    lengths = [120, 80, 200, 50]
    X, z = g.sample(lengths=lengths, random_state=seed)
    seq = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    return pa.table({"id": [f"s{s}" for s in seq], "t": t, "x": X[:, 0], "y": X[:, 1], "truth": z}), lengths


def test_fit_and_score_hmm_from_shuffled_files(tmp_path):
    table, lengths = _table()
    perm = np.random.default_rng(1).permutation(table.num_rows)
    shuffled = table.take(perm)
    d = tmp_path / "data"
    d.mkdir()
    pq.write_table(shuffled.slice(0, 200), d / "a.parquet")
    pq.write_table(shuffled.slice(200), d / "b.parquet")
    model_path = tmp_path / "hmm.engine"
    assert main(["fit", str(d), "--model", "hmm",
                 "--sequence-column", "id", "--order-by", "t", "--states", "2", "--columns", "x,y",
                 "--covariance-type", "diag", "--max-iter", "30", "--seed", "0", "--model-out", str(model_path),
                 "--quiet"]) == 0
    model = engine.load(model_path)
    ref = engine.HMM(2, emission="gaussian", covariance_type="diag", n_iter=30, random_state=0, tol=1e-3)
    X = np.column_stack([table.column("x").to_numpy(), table.column("y").to_numpy()])
    ref.fit(X, lengths)
    np.testing.assert_allclose(model.transmat_, ref.transmat_, rtol=1e-10)
    np.testing.assert_allclose(model.means_, ref.means_, rtol=1e-10)
    out = tmp_path / "scores.parquet"
    assert main(["score", str(d), "--model", str(model_path), "--output", str(out), "--id-column", "truth",
                 "--anomaly-quantile", "0.25", "--responsibilities", "--labels", "--quiet"]) == 0
    s = pq.read_table(out).sort_by([("id", "ascending"), ("t", "ascending")])
    np.testing.assert_array_equal(s.column("state").to_numpy(), ref.predict(X, lengths))
    ll = ref.score_sequences(X, lengths)
    np.testing.assert_allclose(np.unique(s.column("sequence_log_likelihood").to_numpy()), np.sort(ll), rtol=1e-10)
    post = np.column_stack([s.column("post_0").to_numpy(), s.column("post_1").to_numpy()])
    np.testing.assert_allclose(post, ref.predict_proba(X, lengths), atol=1e-10)
    assert s.column("is_anomaly").to_numpy().dtype == bool


def test_hmm_fit_errors_name_the_row(tmp_path, capsys):
    table, _ = _table()
    ids = table.column("id").to_pylist()
    ids[7] = None
    bad = table.set_column(0, "id", pa.array(ids))
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    rc = main(["fit", str(path), "--model", "hmm", "--sequence-column", "id", "--order-by", "t", "--states", "2",
               "--columns", "x,y", "--model-out", str(tmp_path / "m.engine"), "--quiet"])
    assert rc == 2
    assert "column 'id', input row 7: null" in capsys.readouterr().err
    rc = main(["fit", str(path), "--model", "hmm", "--order-by", "t", "--states", "2",
               "--model-out", str(tmp_path / "m.engine"), "--quiet"])
    assert rc == 2
