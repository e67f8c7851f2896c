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


def _big_table(n_seq=60, seed=0):
    """Sequences of 300..700 steps from a 3-state HMM, ids as strings, shuffled across two files."""
    rng = np.random.default_rng(seed)
    g = engine.GaussianHMM(3, covariance_type="diag", init_params="")
    g.startprob_ = np.full(3, 1 / 3)
    g.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.05, 0.1, 0.85]])
    g.means_, g.covars_ = np.array([[0.0, 0.0], [4.0, -3.0], [-3.0, 3.0]]), np.ones((3, 2))
    lengths = rng.integers(300, 700, n_seq)
    X, _ = g.sample(lengths=lengths, random_state=seed)
    seq = np.repeat(np.arange(n_seq), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    return pa.table({"id": [f"plane{s:03d}" for s in seq], "t": t, "x": X[:, 0], "y": X[:, 1]}), lengths


def test_streamed_hmm_fit_from_buckets_equals_in_memory_fit(tmp_path):
    """--in-memory no regroups the rows into sorted, sequence-whole buckets on disk and reads one bucket at a
    time per iteration; with the same start it is the in-memory fit (sums grouped per bucket: rounding)."""
    table, lengths = _big_table()
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    d = tmp_path / "data"
    d.mkdir()
    half = shuffled.num_rows // 2
    pq.write_table(shuffled.slice(0, half), d / "a.parquet", row_group_size=5000)
    pq.write_table(shuffled.slice(half), d / "b.parquet", row_group_size=5000)
    common = ["fit", str(d), "--model", "hmm", "--sequence-column", "id", "--order-by", "t", "--states", "3",
              "--columns", "x,y", "--covariance-type", "diag", "--max-iter", "40", "--tol", "1e-8", "--seed", "0",
              "--quiet"]
    temp = tmp_path / "buckets"
    temp.mkdir()
    # a 0.5 MiB limit: buckets of 4,096 rows, so the ~30,000 rows go through about 8 buckets
    assert main(common + ["--in-memory", "no", "--memory-limit-mb", "0.5", "--temp-dir", str(temp),
                          "--model-out", str(tmp_path / "s.engine")]) == 0
    assert list(temp.iterdir()) == []  # the buckets are removed
    assert main(common + ["--in-memory", "yes", "--model-out", str(tmp_path / "m.engine")]) == 0
    streamed, in_memory = engine.load(tmp_path / "s.engine"), engine.load(tmp_path / "m.engine")
    np.testing.assert_allclose(streamed.transmat_, in_memory.transmat_, rtol=1e-9)
    np.testing.assert_allclose(streamed.means_, in_memory.means_, rtol=1e-9)
    np.testing.assert_allclose(streamed.covars_, in_memory.covars_, rtol=1e-9)
    np.testing.assert_allclose(streamed.training_["sequence_log_likelihood_per_step_quantiles"],
                               in_memory.training_["sequence_log_likelihood_per_step_quantiles"], rtol=1e-9)


def test_sequence_buckets_sort_like_the_table_and_name_null_rows(tmp_path):
    import pytest

    from engine.hmm.stream import SequenceBuckets

    table, lengths = _big_table(n_seq=25, seed=3)
    shuffled = table.take(np.random.default_rng(2).permutation(table.num_rows))
    batches = lambda: shuffled.to_batches(max_chunksize=1000)  # noqa: E731
    with SequenceBuckets(batches, "id", "t", ["x", "y"], rows_per_bucket=2000, directory=tmp_path) as b:
        assert len(b.buckets) > 3 and b.n_sequences == 25 and b.n_rows == table.num_rows
        got = pa.concat_tables([t for t, _ in b.tables()])
        np.testing.assert_array_equal(np.concatenate([l for _, l in b.tables()]), lengths)
    np.testing.assert_array_equal(got.column("x").to_numpy(), table.column("x").to_numpy())
    np.testing.assert_array_equal(got.column("t").to_numpy(), table.column("t").to_numpy())
    assert list(tmp_path.iterdir()) == []
    ids = shuffled.column("id").to_pylist()
    ids[2345] = None
    bad = shuffled.set_column(0, "id", pa.array(ids))
    with pytest.raises(ValueError, match="column 'id', input row 2345: null"):
        SequenceBuckets(lambda: bad.to_batches(max_chunksize=1000), "id", "t", ["x", "y"], directory=tmp_path)
    assert list(tmp_path.iterdir()) == []
