"""Nearest-neighbour distances, entropy and KL from samples: the k-d tree against the brute-force twin
(exactly), the estimators against closed forms with tolerances from their own standard errors, and the
universal-divergence package on the same samples."""
import math

import numba
import numpy as np
import pytest

import engine
from engine.estimation.entropy import bias_weights, entropy, kl_to_model, kl_two_sample
from engine.estimation.knn import KNNTree, knn_distances
from engine.reference.knn import knn_distances as twin_knn


@pytest.mark.parametrize("n,D,k", [(1, 1, 1), (17, 1, 3), (600, 2, 5), (2000, 3, 1), (1500, 8, 4), (300, 16, 2)])
def test_knn_distances_equal_brute_force_exactly(n, D, k):
    rng = np.random.default_rng(n + D)
    X = rng.normal(size=(max(n, k + 1), D))
    Y = rng.normal(size=(257, D)) * 2
    np.testing.assert_array_equal(knn_distances(X, k), twin_knn(X, k))
    np.testing.assert_array_equal(knn_distances(X, k, Y), twin_knn(X, k, Y))


def test_knn_with_duplicates_and_threads():
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(5000, 2)), 1)  # many ties and exact duplicates
    np.testing.assert_array_equal(knn_distances(X, 3), twin_knn(X, 3))
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = knn_distances(X, 3)
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_array_equal(a, knn_distances(X, 3))
    tree = KNNTree(X)
    count, far = tree.radius_stats(X[:50], np.full(50, 0.15), exclude_self=True)
    d = np.sqrt(((X[:50, None, :] - X[None]) ** 2).sum(-1))
    d[np.arange(50), np.arange(50)] = np.inf
    np.testing.assert_array_equal(count, (d <= 0.15 * (1 + 1e-14)).sum(1))


@pytest.mark.parametrize("D", [1, 3, 5])
def test_entropy_of_gaussians_within_its_interval_scale(D):
    """Closed form D/2 log(2 pi e) det(S)^(1/D): the estimate lies within 4 of its own standard errors."""
    rng = np.random.default_rng(D)
    A = rng.normal(size=(D, D)) + 2 * np.eye(D)
    X = rng.normal(size=(20_000, D)) @ A.T
    truth = 0.5 * D * math.log(2 * math.pi * math.e) + 0.5 * np.linalg.slogdet(A @ A.T)[1]
    r = engine.entropy(X, k=1, random_state=0, n_subsamples=60)
    assert r.stderr > 0 and r.ci_low < r.estimate < r.ci_high
    assert abs(r.estimate - truth) < 4 * r.stderr, (r, truth)


def test_one_sample_kl_of_q_against_itself_covers_zero():
    q = engine.GaussianMixture.from_params([0.3, 0.7], [[0.0, 0.0], [3.0, 1.0]], [[1.0, 0.5], [0.7, 1.2]], "diag")
    X, _ = q.sample(20_000, random_state=3)
    r = engine.kl_divergence(X, q, method="knn", random_state=0, n_subsamples=60)
    assert r.method == "knn" and r.ci_low <= 0 <= r.ci_high, r
    # the same through kl_to_model, and p as a sample also without method="knn"
    assert engine.kl_divergence(X, q, random_state=0, n_subsamples=60).estimate == r.estimate


def test_two_sample_kl_and_universal_divergence():
    ud = pytest.importorskip("universal_divergence")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 2))
    Y = rng.normal(size=(1500, 2)) + 0.5
    for k in (1, 3):
        ours = kl_two_sample(X, Y, k=k, bias_correction=False, n_subsamples=0).estimate
        assert ours == pytest.approx(ud.estimate(X, Y, k=k), rel=1e-12)
    # universal-divergence's default (adaptive k) is Wang-Kulkarni-Verdu's bias-reduced variant: the same number
    Xs, Ys = X[:300], Y[:250]
    assert kl_two_sample(Xs, Ys, bias_correction="adaptive", n_subsamples=0).estimate == pytest.approx(
        ud.estimate(Xs, Ys), rel=1e-10)
    r = engine.kl_divergence(X, Y, method="knn", k=3, random_state=0, n_subsamples=60)
    assert abs(r.estimate - 0.25) < 4 * r.stderr, r
    # the adaptive variant agrees with the truth too (its own interval scale)
    a = kl_two_sample(X, Y, bias_correction="adaptive", random_state=0, n_subsamples=60)
    assert abs(a.estimate - 0.25) < 4 * a.stderr, a


def test_bias_weights_cancel_the_leading_terms():
    for D in (3, 5, 8, 12):
        ks, w = bias_weights(D, 1)
        assert w.sum() == pytest.approx(1.0)
        for l in range(1, min(2, max(1, D // 4)) + 1):
            g = np.exp([math.lgamma(j + 2 * l / D) - math.lgamma(j) for j in ks])
            assert abs(w @ g) < 1e-12 * np.abs(w).sum() * g.max()


def test_ties_are_an_error_or_dequantised():
    X = np.repeat(np.arange(50.0)[:, None], 3, axis=0)  # every value three times
    with pytest.raises(ValueError, match=r"rows \d+ and \d+ are identical .* ties='dequantize'"):
        engine.entropy(X, n_subsamples=0)
    # random integers 0..49, dequantised: i.i.d. uniform on [-0.5, 49.5], entropy log 50
    Z = np.random.default_rng(0).integers(0, 50, size=(2000, 1)).astype(float)
    r = engine.entropy(Z, ties="dequantize", random_state=0, n_subsamples=60)
    assert abs(r.estimate - math.log(50)) < 4 * r.stderr, r
    with pytest.raises(ValueError, match="bias_correction must be one of"):
        engine.entropy(Z, bias_correction="adaptive")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        engine.entropy(np.random.default_rng(0).normal(size=(10, 1)), k=0)
    with pytest.raises(ValueError, match=r"X row 2, column 0: nan"):
        engine.entropy(np.array([[0.0], [1.0], [np.nan], [3.0]]))


def test_cli_kl_data_against_a_model_and_a_second_sample(tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from test_io_cli import run

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 2))
    Y = rng.normal(size=(2500, 2)) + 0.5
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1]}), tmp_path / "x.parquet")
    pq.write_table(pa.table({"a": Y[:, 0], "b": Y[:, 1]}), tmp_path / "y.parquet")
    model = engine.GaussianMixture(1, random_state=0).fit(X)
    model.save(tmp_path / "q.arrow")
    r = run("kl", "--data", tmp_path / "x.parquet", "--q", tmp_path / "q.arrow", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    want = engine.kl_divergence(X, model, method="knn", random_state=1)
    assert got["estimate"] == pytest.approx(want.estimate, rel=1e-12) and got["ci_low"] < got["ci_high"]
    r = run("kl", "--data", tmp_path / "x.parquet", "--data2", tmp_path / "y.parquet", "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["estimate"] == pytest.approx(kl_two_sample(X, Y, k=3, n_subsamples=0).estimate, rel=1e-12)
    r = run("kl", "--data", tmp_path / "x.parquet")
    assert r.returncode == 2 and "exactly one of --q" in r.stderr
