"""Model files: round trips, and clear errors for malformed or tampered files."""
import json

import numpy as np
import pyarrow as pa
import pytest

import engine
from conftest import COVARIANCE_TYPES, random_mixture_params


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_gives_identical_scores(tmp_path, rng, covariance_type):
    X = rng.normal(size=(500, 3))
    model = engine.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    path = model.save(tmp_path / "model.arrow")
    loaded = engine.load(path)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.covariance_type == covariance_type
    assert loaded.n_iter_ == model.n_iter_ and loaded.converged_ == model.converged_
    assert loaded.lower_bound_ == model.lower_bound_


def test_round_trip_other_models(tmp_path, rng):
    mvn = engine.MultivariateNormal([1.0, 2.0], [[2.0, 0.3], [0.3, 1.0]])
    normal = engine.Normal(-1.0, 0.5)
    X = rng.normal(size=(100, 2))
    np.testing.assert_array_equal(engine.load(mvn.save(tmp_path / "m")).logpdf(X), mvn.logpdf(X))
    np.testing.assert_array_equal(engine.load(normal.save(tmp_path / "n")).logpdf(X[:, 0]), normal.logpdf(X[:, 0]))


def _rewrite(path, header=None, columns=None):
    with pa.memory_map(str(path)) as src:
        table = pa.ipc.open_file(src).read_all()
    meta = json.loads(table.schema.metadata[b"engine"])
    if header:
        header(meta)
    if columns:
        table = columns(table)
    table = table.replace_schema_metadata({"engine": json.dumps(meta)})
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)


def test_malformed_and_tampered_files_raise(tmp_path, rng):
    w, m, c = random_mixture_params(rng, 2, 2, "full")
    model = engine.GaussianMixture.from_params(w, m, c, "full")
    good = model.save(tmp_path / "good.arrow")
    raw = open(good, "rb").read()

    truncated = tmp_path / "truncated.arrow"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a valid engine model file"):
        engine.load(truncated)
    garbage = tmp_path / "garbage.arrow"
    garbage.write_bytes(b"\x80\x04 definitely not a model")
    with pytest.raises(ValueError, match="not a valid engine model file"):
        engine.load(garbage)
    with pytest.raises(FileNotFoundError):
        engine.load(tmp_path / "missing.arrow")

    cases = {
        "version": dict(header=lambda h: h.update(format_version=99)),
        "format": dict(header=lambda h: h.update(format="pickle")),
        "shape": dict(header=lambda h: h["shapes"].update(means=[3, 2])),
        "kind": dict(header=lambda h: h.update(kind="os.system")),
        "not PD": dict(columns=lambda t: t.set_column(t.column_names.index("covariances"), "covariances",
                                                      pa.array([[1.0, 2.0, 2.0, 1.0] * 2], type=pa.list_(pa.float64())))),
        "weights": dict(columns=lambda t: t.set_column(0, "weights", pa.array([[0.9, 0.9]], type=pa.list_(pa.float64())))),
    }
    for name, change in cases.items():
        path = tmp_path / f"{name}.arrow"
        path.write_bytes(raw)
        _rewrite(path, **change)
        with pytest.raises(ValueError, match="not a valid engine model file"):
            engine.load(path)


def test_save_is_atomic(tmp_path, rng, monkeypatch):
    model = engine.Normal(0.0, 1.0)
    path = model.save(tmp_path / "model.arrow")
    before = open(path, "rb").read()

    def broken_writer(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pa.ipc, "new_file", broken_writer)
    with pytest.raises(OSError):
        engine.Normal(5.0, 2.0).save(path)
    assert open(path, "rb").read() == before  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.arrow"]  # no temporary left behind
