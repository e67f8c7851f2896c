"""engine on Dask: a LocalCluster with 2 worker processes; distributed results equal local ones."""
import os
import signal
import threading
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="Dask is not installed (pip install 'engine[dask]')")
pytest.importorskip("distributed")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402

import engine  # noqa: E402
from engine import dask as edask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster, client = edask.local_cluster(n_workers=2, threads_per_worker=1, processes=True)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    truth = engine.GaussianMixture.from_params([0.3, 0.5, 0.2], [[0, 0, 0], [4, 4, 0], [0, 4, 4]],
                                               [[1.0, 0.5, 2.0], [0.7, 0.7, 0.7], [1.3, 1.0, 0.4]], "diag")
    X, _ = truth.sample(30_000, random_state=2)
    return truth, X


def start_params(X, K=3, covariance_type="full"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = engine.GaussianMixture(K, covariance_type=covariance_type, max_iter=1, random_state=0).fit(X)
    return dict(weights_init=s.weights_, means_init=s.means_, precisions_init=s.precisions_,
                covariance_type=covariance_type, tol=1e-9, max_iter=40)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_distributed_em_equals_in_memory(client, data, covariance_type):
    _, X = data
    init = start_params(X, covariance_type=covariance_type)
    local = engine.GaussianMixture(3, **init).fit(X)
    dist = edask.fit(engine.GaussianMixture(3, **init), da.from_array(X, chunks=(4000, 3)), split_every=2)
    assert dist.n_iter_ == local.n_iter_
    np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-9)
    np.testing.assert_allclose(dist.covariances_, local.covariances_, rtol=1e-9)
    np.testing.assert_allclose(dist.weights_, local.weights_, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_distributed_bayesian_fit_equals_in_memory(client, data, covariance_type):
    """The variational fit on the same seam: from the same start (a warm start), the Dask fit (default priors
    from one extra tree-reduced pass) equals the in-memory fit."""
    import copy

    _, X = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = engine.BayesianGaussianMixture(n_components=5, covariance_type=covariance_type, max_iter=2,
                                               random_state=0).fit(X)
    first.set_params(warm_start=True, max_iter=60, tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = copy.deepcopy(first).fit(X)
        dist = edask.fit(copy.deepcopy(first), da.from_array(X, chunks=(4000, 3)), split_every=2)
    assert dist.n_iter_ == local.n_iter_
    np.testing.assert_allclose(dist.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dist.covariances_, local.covariances_, rtol=1e-9)
    np.testing.assert_allclose(dist.weights_, local.weights_, rtol=1e-9)


def test_distributed_fit_with_its_own_initialisation(client, data):
    truth, X = data
    ddf = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}), npartitions=6)
    fit = edask.fit(engine.GaussianMixture(3, covariance_type="diag", random_state=0, n_init=2), ddf)
    order = np.argsort(fit.means_[:, 0] + 10 * fit.means_[:, 1])
    np.testing.assert_allclose(fit.means_[order], truth.means_[np.argsort(truth.means_[:, 0] + 10 * truth.means_[:, 1])], atol=0.1)
    assert fit.feature_names_in_ == ["a", "b", "c"]


def test_distributed_scoring_equals_in_memory(client, data):
    truth, X = data
    np.testing.assert_array_equal(edask.score(truth, da.from_array(X, chunks=(7000, 3))).compute(), truth.logpdf(X))
    # columns split over blocks: rechunked to one block per row band, which goes to the task uncopied
    np.testing.assert_array_equal(edask.score(truth, da.from_array(X, chunks=(7000, 2))).compute(), truth.logpdf(X))
    # a family mixture other than the Gaussian takes its own block function through the same path
    positive = np.abs(X) + 0.1
    expo = engine.Mixture(2, family="exponential", random_state=0).fit(positive)
    np.testing.assert_array_equal(edask.score(expo, da.from_array(positive, chunks=(5000, 2))).compute(),
                                  expo.logpdf(positive))
    frame = pd.DataFrame({"id": np.arange(len(X)), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    ddf = dd.from_pandas(frame, npartitions=4)
    out = edask.score(truth, ddf, columns=["a", "b", "c"], responsibilities=True, labels=True,
                      anomaly_threshold=-8.0, passthrough=["id"]).compute()
    np.testing.assert_array_equal(out["id"].to_numpy(), np.arange(len(X)))  # row for row, in order
    np.testing.assert_allclose(out["log_density"].to_numpy(), truth.logpdf(X), rtol=1e-14)
    np.testing.assert_allclose(out[["resp_0", "resp_1", "resp_2"]].to_numpy(), truth.predict_proba(X), rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(out["label"].to_numpy(), truth.predict(X))
    np.testing.assert_array_equal(out["is_anomaly"].to_numpy(), truth.logpdf(X) < -8.0)


def test_distributed_kl_equals_local(client, data):
    truth, _ = data
    q = engine.MultivariateNormal([1.0, 2.0, 1.0], [3.0, 3.0, 3.0], "diag")
    local = engine.kl_divergence(truth, q, method="mc", n_samples=700_000, random_state=5)
    dist = edask.kl_divergence(truth, q, n_samples=700_000, random_state=5, chunk=1 << 18)
    assert dist == local  # the same stream, the same partial moments, merged in the same order


def test_fit_survives_a_killed_worker(client, data):
    _, X = data
    init = start_params(X)
    local = engine.GaussianMixture(3, **init).fit(X)
    dX = da.from_array(X, chunks=(2000, 3))
    killed = []

    def kill_a_worker_soon(init_index, iteration, lower_bound):
        if iteration == 2 and not killed:
            victim, pid = sorted(client.run(os.getpid).items())[0]
            # while iteration 3's tasks run: the worker process dies (SIGKILL), its nanny restarts it,
            # and the scheduler reruns the lost tasks elsewhere
            timer = threading.Timer(0.05, os.kill, (pid, signal.SIGKILL))
            timer.start()
            killed.append(pid)

    dist = edask.fit(engine.GaussianMixture(3, **init), dX, on_iteration=kill_a_worker_soon)
    assert killed and killed[0] not in client.run(os.getpid).values()  # that process is gone
    assert dist.n_iter_ == local.n_iter_
    np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-9)
    np.testing.assert_allclose(dist.covariances_, local.covariances_, rtol=1e-9)


def test_bad_partitions_give_the_local_errors(client, data):
    truth, X = data
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    frame.loc[12_345, "b"] = np.nan
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(ValueError, match="column 'b' has nulls; first null row"):
        edask.score(truth, ddf).compute()
    with pytest.raises(ValueError, match="column 'b' has nulls"):
        edask.fit(engine.GaussianMixture(2), ddf)
    text = pd.DataFrame({"a": X[:100, 0], "b": ["x"] * 100, "c": X[:100, 2]})
    with pytest.raises(TypeError, match="column 'b' has type .*, not a number"):
        edask.score(truth, dd.from_pandas(text, npartitions=2), columns=["a", "b", "c"]).compute()
    bad = X.copy()
    bad[777, 0] = np.inf
    with pytest.raises(ValueError, match="first offending row: 777"):
        edask.score(truth, da.from_array(bad, chunks=(1000, 3))).compute()


def test_cli_fit_and_score_on_a_local_cluster(tmp_path, data):
    import subprocess
    import sys
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(__file__).resolve().parents[1]
    truth, X = data
    d = tmp_path / "parts"
    d.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(X)), 3)):
        pq.write_table(pa.table({"id": part, "a": X[part, 0], "b": X[part, 1], "c": X[part, 2]}), d / f"p{i}.parquet")
    run = lambda *a: subprocess.run([sys.executable, "-m", "engine", *map(str, a)], cwd=root, capture_output=True, text=True, timeout=600)  # noqa: E731
    r = run("fit", d, "--columns", "a,b,c", "--components", "3", "--covariance-type", "diag", "--model-out", tmp_path / "m.arrow", "--scheduler", "local:2", "--quiet")
    assert r.returncode == 0, r.stderr
    model = engine.load(tmp_path / "m.arrow")
    r = run("score", d, "--model", tmp_path / "m.arrow", "--output", tmp_path / "scores", "--id-column", "id", "--scheduler", "local:2", "--quiet")
    assert r.returncode == 0, r.stderr
    out = pq.read_table(tmp_path / "scores").to_pandas().sort_values("id")
    np.testing.assert_array_equal(out["id"].to_numpy(), np.arange(len(X)))
    np.testing.assert_allclose(out["log_density"].to_numpy(), model.logpdf(X), rtol=1e-12)


def test_numba_threads_in_a_task_count_every_worker_on_the_host(client):
    """Two one-thread workers on this host: each task gets cores // 2 Numba threads, not cores // 1 (which
    put 2 x cores threads on the cores)."""
    import os

    def threads_in_task(_):
        import numba

        from engine.dask.core import _numba_threads_for_this_task

        _numba_threads_for_this_task()
        return numba.get_num_threads()

    got = client.gather(client.map(threads_in_task, range(4)))
    assert set(got) == {max(1, (os.cpu_count() or 1) // 2)}
