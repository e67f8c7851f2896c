"""Model files: round trips, and clear errors for malformed or tampered files."""
import json

import numpy as np
import pyarrow as pa
import pytest

import engine
from engine.cli.main import main as cli
from engine.io import model_file
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
    """Change a model file's header or columns and re-seal it with a valid checksum, so that the
    semantic validation (not the checksum) must catch the change."""
    with pa.memory_map(str(path)) as src:
        table = pa.ipc.open_file(src).read_all()
    meta = json.loads(table.schema.metadata[b"engine"])
    if header:
        header(meta)
    if columns:
        table = columns(table)
    path.write_bytes(model_file.seal(table.replace_schema_metadata(None), meta))


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


def _cli_fitted_model(tmp_path, rng):
    """A model written by ``engine fit``: feature names and the training log-density quantiles."""
    import pyarrow.parquet as pq

    X = rng.normal(size=(3000, 3))
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}), tmp_path / "train.parquet")
    out = tmp_path / "cli.model.arrow"
    assert cli(["fit", str(tmp_path / "train.parquet"), "--components", "2", "--model-out", str(out), "--quiet"]) == 0
    loaded = engine.load(out)
    assert loaded.training_["logpdf_quantiles"] and list(loaded.feature_names_in_) == ["a", "b", "c"]
    return out.read_bytes()


@pytest.mark.parametrize("kind", ["Normal", "MultivariateNormal", "GaussianMixture", "cli"])
def test_every_bit_flip_and_every_truncation_is_refused(tmp_path, rng, kind):
    """The bar of the hardening issue: any single-bit flip at any byte, and any truncation, is the one clear
    error; never a silently different model, never an abort inside pyarrow (which would kill this process)."""
    if kind == "Normal":
        data = model_file.to_bytes(engine.Normal(-1.5, 0.25))
    elif kind == "MultivariateNormal":
        data = model_file.to_bytes(engine.MultivariateNormal([1.0, 2.0], [[2.0, 0.3], [0.3, 1.0]]))
    elif kind == "GaussianMixture":
        w, m, c = random_mixture_params(rng, 3, 2, "full")
        data = model_file.to_bytes(engine.GaussianMixture.from_params(w, m, c, "full"))
    else:
        data = _cli_fitted_model(tmp_path, rng)
    model_file.load_bytes(data)  # the intact file loads
    flipped = bytearray(data)
    accepted = []
    for i in range(len(data)):
        for bit in range(8):
            flipped[i] ^= 1 << bit
            try:
                model_file.load_bytes(flipped)
                accepted.append((i, bit))
            except model_file.ModelFileError as exc:
                assert "not a valid engine model file" in str(exc)
            flipped[i] ^= 1 << bit
    assert accepted == []
    for n in range(len(data)):
        with pytest.raises(ValueError, match="not a valid engine model file"):
            model_file.load_bytes(data[:n])
    # and through real files (the path engine.load and the CLI take), for a spread of positions
    path = tmp_path / "flipped.arrow"
    for i in np.linspace(0, len(data) - 1, 40).astype(int):
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        path.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match="not a valid engine model file"):
            engine.load(path)


def test_format_version_1_files_load_with_a_warning(tmp_path):
    """Files written before the checksum existed (format_version 1) still load, with a warning."""
    header, arrays = model_file._payload(engine.Normal(2.0, 3.0))
    header["format_version"] = 1
    table = pa.table({k: pa.array([np.asarray(v, dtype=np.float64).ravel()], type=pa.list_(pa.float64()))
                      for k, v in arrays.items()}).replace_schema_metadata({"engine": json.dumps(header)})
    path = tmp_path / "v1.arrow"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    with pytest.warns(UserWarning, match="carries no checksum"):
        model = engine.load(path)
    assert (model.loc, model.scale) == (2.0, 3.0)
    header["format_version"] = 2  # a current version without its checksum is refused
    path.write_bytes(b"")
    table = table.replace_schema_metadata({"engine": json.dumps(header)})
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    with pytest.raises(ValueError, match="not a valid engine model file"):
        engine.load(path)


def test_info_refuses_a_damaged_model_file(tmp_path, capsys):
    data = bytearray(model_file.to_bytes(engine.Normal(0.0, 1.0)))
    data[len(data) // 2] ^= 1
    path = tmp_path / "damaged.arrow"
    path.write_bytes(bytes(data))
    assert cli(["info", str(path)]) == 2
    assert "not a valid engine model file" in capsys.readouterr().err
