import functools
import os

import numpy as np

try:
    import dask
    import dask.array as da
    import dask.dataframe as dd
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("engine.dask needs Dask: pip install 'engine[dask]'") from exc


#: per worker address: the Dask threads of all the workers on its host (asked of the scheduler once)
_HOST_THREADS = {}


def _host_threads(worker):
    """Dask threads of every worker on this worker's host. Counting only this worker's threads gave each of
    two one-thread workers on a 2-core host 2 Numba threads: 4 threads on 2 cores, and OpenMP's spinning idle
    threads took the other worker's cycles (measured: a 1M-row diag partition scored in 72 ms in a worker
    against 40 ms alone; Dask scoring 1.9x a standalone local run)."""
    key = worker.address
    if key not in _HOST_THREADS:
        threads = worker.state.nthreads
        try:
            from distributed import get_client

            info = get_client().scheduler_info(n_workers=-1)
            host = worker.address.rsplit(":", 1)[0]
            same_host = [w.get("nthreads", 0) for addr, w in info.get("workers", {}).items()
                         if addr.rsplit(":", 1)[0] == host]
            threads = max(threads, sum(same_host))
        except Exception:  # no scheduler to ask: this worker's own threads
            pass
        _HOST_THREADS[key] = threads
    return _HOST_THREADS[key]


def _numba_threads_for_this_task():
    """cores // (Dask threads of all the workers on this host), at least 1 (no oversubscription)."""
    import numba

    try:
        from distributed import get_worker

        threads = _host_threads(get_worker())
    except Exception:  # not on a distributed worker: the local threaded scheduler
        threads = dask.config.get("num_workers", None) or os.cpu_count() or 1
    n = max(1, min(numba.config.NUMBA_NUM_THREADS, (os.cpu_count() or 1) // max(1, threads)))
    numba.set_num_threads(n)
    return n


def _as_float_block(block, columns):
    """A partition's feature matrix, validated like the local path (same errors)."""
    from .._validation import as_float_array

    if hasattr(block, "columns"):  # a pandas DataFrame partition
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        for c in columns:
            if c not in block.columns:
                raise ValueError(f"column {c!r} is not in the data")
            if not is_numeric_dtype(block[c].dtype) or is_bool_dtype(block[c].dtype):
                raise TypeError(f"column {c!r} has type {block[c].dtype}, not a number")
            if block[c].isna().any():
                row = int(np.flatnonzero(block[c].isna().to_numpy())[0])
                raise ValueError(f"column {c!r} has nulls; first null row: {row} (of its partition)")
        block = block[list(columns)].to_numpy(dtype=np.float64)
    return as_float_array(block)


# --------------------------------------------------------------------------------------------- scoring
def _score_block(block, model, columns, responsibilities, labels, threshold, passthrough=()):
    _numba_threads_for_this_task()
    X = _as_float_block(block, columns)
    if responsibilities or labels:
        logd, resp = model._log_density(X, responsibilities=True)
    else:
        resp = None
        logd = model._log_density(X)
    if not hasattr(block, "columns"):
        return logd
    import pandas as pd

    out = block[list(passthrough)].copy() if passthrough else pd.DataFrame(index=block.index)
    out["log_density"] = logd
    if responsibilities:
        for k in range(resp.shape[1]):
            out[f"resp_{k}"] = resp[:, k]
    if labels:
        out["label"] = np.argmax(resp, axis=1)
    if threshold is not None:
        out["is_anomaly"] = logd < threshold
    return out


def _on_only_block(fn, blocks, *args):
    """fn applied to the only block of a row band (``blockwise`` with ``concatenate=False`` hands a list)."""
    (block,) = blocks
    return fn(block, *args)


def _rows_blockwise(fn, data, *args):
    """(n,) dask array of fn(row block, *args), one task per row band of the (n, D) array ``data``.

    Not ``map_blocks(..., drop_axis=1)``: for a dropped axis Dask concatenates the blocks along it even when
    there is only one, a copy of every block (15 ms per 1M x 8 block, as much as scoring it). Here the
    columns are one block (rechunk) and the block is passed as it is."""
    data = data.rechunk({1: -1})
    return da.blockwise(functools.partial(_on_only_block, fn), "i", data, "ij", *[x for a in args for x in (a, None)],
                        dtype=np.float64, concatenate=False, token=fn.__name__.strip("_").replace("_", "-"))


def score(model, data, columns=None, responsibilities=False, labels=False, anomaly_threshold=None, passthrough=()):
    """Per-row scores as a Dask collection (lazy).

    data: a dask.array (n, D) -> dask.array (n,) of log-densities; or a dask DataFrame -> a DataFrame with
    ``log_density`` (plus ``resp_k``, ``label``, ``is_anomaly`` when asked, after the ``passthrough`` columns,
    e.g. ids), partition by partition, in order.
    columns: the feature columns of a DataFrame (default: the model's feature names, else all numeric).
    """
    model._check_fitted()
    from ..models.family_mixture import Mixture

    if isinstance(model, Mixture):
        if model._uses_gaussian_mixture():
            model = model._gm
        else:
            if isinstance(data, da.Array):
                return _rows_blockwise(_score_family_block, data, model, None)
            import pandas as pd

            cols = [str(k) for k in model._fit_keys]
            return data.map_partitions(_score_family_block, model, cols,
                                       meta=pd.DataFrame({"log_density": pd.Series(dtype=np.float64)}))
    if isinstance(data, da.Array):
        if data.ndim != 2 or data.shape[1] != model.n_features_in_:
            raise ValueError(f"data must be (n, {model.n_features_in_}), got {data.shape}")
        return _rows_blockwise(_score_block, data, model, None, False, False, None)
    if isinstance(data, dd.DataFrame):
        columns = _columns(model, data, columns)
        import pandas as pd

        meta = {c: data.dtypes[c] for c in passthrough}
        meta["log_density"] = np.float64
        if responsibilities:
            meta.update({f"resp_{k}": np.float64 for k in range(len(model.weights_))})
        if labels:
            meta["label"] = np.int64
        if anomaly_threshold is not None:
            meta["is_anomaly"] = bool
        meta_df = pd.DataFrame({k: pd.Series(dtype=v) for k, v in meta.items()})
        return data.map_partitions(_score_block, model, columns, responsibilities, labels, anomaly_threshold,
                                   tuple(passthrough), meta=meta_df)
    raise TypeError(f"data must be a dask.array or dask DataFrame, got {type(data).__name__}")


def _columns(model, ddf, columns):
    if columns:
        return list(columns)
    own = getattr(model, "feature_names_in_", None)
    own = None if own is None else [str(c) for c in own]
    if own and all(c in ddf.columns for c in own):
        return list(own)
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [c for c in ddf.columns if is_numeric_dtype(ddf.dtypes[c]) and not is_bool_dtype(ddf.dtypes[c])]


# --------------------------------------------------------------------------------------------- EM
def _partition_stats(block, model, columns):
    from ..estimation.em import e_step_stats

    _numba_threads_for_this_task()
    X = _as_float_block(block, columns)
    return e_step_stats(model, X) if X.shape[0] else None


def _add(*stats):
    out = None
    for s in stats:
        if s is not None:
            out = s if out is None else out + s
    return out


def _tree_reduce(parts, split_every):
    """Sum delayed statistics in a tree, ``split_every`` at a time (no single task sees all partitions)."""
    level = list(parts)
    while len(level) > 1:
        level = [dask.delayed(_add)(*level[i : i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def _blocks(data, columns):
    if isinstance(data, da.Array):
        return data.rechunk({1: -1}).to_delayed().ravel().tolist(), None
    if isinstance(data, dd.DataFrame):
        return data.to_delayed(), columns
    raise TypeError(f"data must be a dask.array or dask DataFrame, got {type(data).__name__}")


def _init_sample(blocks, columns, size, random_state):
    """A seeded sample of whole partitions (in a seeded random order) until ``size`` rows are collected."""
    from .. import _random

    rng = np.random.default_rng(int(_random.stream_key(random_state)) % 2**63)
    order = rng.permutation(len(blocks))
    taken, n = [], 0
    for i in order:
        X = dask.compute(dask.delayed(_as_float_block)(blocks[i], columns))[0]
        taken.append(X)
        n += X.shape[0]
        if n >= size:
            break
    X = np.concatenate(taken)
    return X[:size]


def fit(gmm, data, columns=None, split_every=8, init_sample_size=1 << 18, scheduler=None, on_iteration=None):
    """Exact distributed EM for ``gmm`` (an ``engine.GaussianMixture``, fitted in place and returned).

    Every iteration computes ``e_step_stats`` per partition and tree-reduces them (``split_every`` per
    task); the M-step runs here. Initialisation (``gmm.init_params``) runs on a seeded sample of whole
    partitions (about ``init_sample_size`` rows), unless weights/means/precisions_init are all given.
    on_iteration(init, iteration, lower_bound) is called after every iteration.
    """
    from ..models.family_mixture import Mixture

    if isinstance(gmm, Mixture):
        if gmm._uses_gaussian_mixture():
            gm = gmm._gaussian_mixture()
            gmm._gm = fit(gm, data, columns, split_every, init_sample_size, scheduler, on_iteration)
            gmm._sync_from_gaussian()
            return gmm
        return _fit_family(gmm, data, columns, split_every, init_sample_size, scheduler, on_iteration)
    if isinstance(data, dd.DataFrame):
        columns = _columns(gmm, data, columns)
    blocks, columns = _blocks(data, columns)
    if not blocks:
        raise ValueError("the data has no partitions")
    n = int(data.shape[0].compute()) if isinstance(data, dd.DataFrame) else int(data.shape[0])
    D = len(columns) if columns else int(data.shape[1])
    given = all(v is not None for v in (gmm.weights_init, gmm.means_init, gmm.precisions_init))
    # no sample is needed (nor moved to the client) when the initial parameters are all given
    sample = np.empty((0, D)) if given else _init_sample(blocks, columns, init_sample_size, gmm.random_state)
    gmm._check_hyperparameters(n, D)

    def statistics():
        parts = [dask.delayed(_partition_stats)(b, gmm, columns) for b in blocks]
        total = dask.compute(_tree_reduce(parts, split_every), scheduler=scheduler)[0]
        if total is None:
            raise ValueError("the data has no rows")
        return total

    gmm._run_em(sample, np.empty(0), statistics, on_iteration)
    gmm.init_sample_ = sample
    if columns:
        gmm.feature_names_in_ = list(columns)
    return gmm


# --------------------------------------------------------------------------------------------- families
def _family_block(block, columns):
    """A partition as the family encoder takes it: a DataFrame restricted to ``columns``, or an array."""
    if hasattr(block, "columns"):
        return block[list(columns)] if columns else block
    return np.asarray(block)


def _partition_length(block):
    return len(block)


def _partition_categories(block, columns, cat_columns):
    from ..families.columns import fit_categories

    block = _family_block(block, columns)
    return {c: fit_categories(block, c) for c in cat_columns} if len(block) else {}


def _partition_bottom_k(block, columns, offset, size, key):
    """(rows, keys) of the partition's ``size`` rows with the smallest keys splitmix64(key, global row)."""
    from ..families.columns import take_rows
    from ..reference.sampling import splitmix64

    block = _family_block(block, columns)
    m = len(block)
    keys = splitmix64(np.uint64(key), np.arange(offset, offset + m, dtype=np.uint64))
    if m > size:
        idx = np.sort(np.argpartition(keys, size - 1)[:size])
        return take_rows(block, idx), keys[idx]
    return block, keys


def _family_stats(block, model, columns, params):
    _numba_threads_for_this_task()
    block = _family_block(block, columns)
    if len(block) == 0:
        return None
    return model._family_obj.statistics(block, np.empty(0), params)


def _fit_family(model, data, columns, split_every, init_sample_size, scheduler, on_iteration):
    """Distributed EM for a product-family ``engine.Mixture``: the same statistics, per partition, tree-reduced.

    Categories are the union over every partition; the initialisation sample is the bottom-k sample of
    ``Mixture.fit_stream`` (keyed by each row's global position), so with the same data and seed the fit
    equals the local streamed fit."""
    from .. import _random
    from ..families.columns import column_keys, concat_rows, take_rows
    from ..models.family_mixture import _union_categories_from

    model._check_hyperparameters()
    if isinstance(data, dd.DataFrame):
        blocks = data.to_delayed()
        if columns:
            columns = list(columns)
        elif isinstance(model.family, dict):
            columns = [c for e in model.family for c in (e if isinstance(e, tuple) else (e,))]
        else:
            columns = list(data.columns)
    elif isinstance(data, da.Array):
        blocks = data.rechunk({1: -1}).to_delayed().ravel().tolist()
        columns = None
    else:
        raise TypeError(f"data must be a dask.array or dask DataFrame, got {type(data).__name__}")
    if not blocks:
        raise ValueError("the data has no partitions")
    lengths = dask.compute(*[dask.delayed(_partition_length)(b) for b in blocks], scheduler=scheduler)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n = int(offsets[-1])
    model._check_n_rows(n)
    key = _random.stream_key(model.random_state)
    parts = dask.compute(*[dask.delayed(_partition_bottom_k)(b, columns, int(o), init_sample_size, key)
                           for b, o in zip(blocks, offsets[:-1])], scheduler=scheduler)
    rows = concat_rows([r for r, k in parts if len(k)])
    keys = np.concatenate([k for r, k in parts if len(k)])
    best = np.argsort(keys, kind="stable")[:init_sample_size]
    sample = take_rows(rows, best)
    model._fit_keys = column_keys(sample)
    cat_cols = [c for _, name, _, cols in model._entries(sample) if name == "categorical" for c in cols]
    found = dask.compute(*[dask.delayed(_partition_categories)(b, columns, cat_cols) for b in blocks],
                         scheduler=scheduler) if cat_cols else []
    categories = _union_categories_from(found, cat_cols)
    model._family_obj = fam = model._build_family(sample, category_source=categories.__getitem__)

    def statistics(params):
        stats = [dask.delayed(_family_stats)(b, model, columns, params) for b in blocks]
        total = dask.compute(_tree_reduce(stats, split_every), scheduler=scheduler)[0]
        if total is None:
            raise ValueError("the data has no rows")
        return total

    model._run_family_em(fam, sample, np.empty(0), statistics, key, on_iteration=on_iteration)
    model.init_sample_ = sample
    model.stream_rows_ = n
    return model


def _score_family_block(block, model, columns):
    _numba_threads_for_this_task()
    X = _family_block(block, columns)
    logd = model._family_obj.log_density(model._input(X), model._params)
    if not hasattr(block, "columns"):
        return logd
    import pandas as pd

    return pd.DataFrame({"log_density": logd}, index=block.index)


# --------------------------------------------------------------------------------------------- KL
def _kl_chunk(p_mix, q_mix, key, start, stop, batch):
    """Per-part moments of samples [start, stop) of the stream, in the local path's batches of ``batch``."""
    from ..kernels.divergence import log_ratio_moments
    from ..kernels.sampling import mixture_sample

    _numba_threads_for_this_task()
    out = []
    for s in range(start, stop, batch):
        m = min(batch, stop - s)
        X = np.empty((m, p_mix.n_features_in_))
        labels = np.empty(m, dtype=np.int64)
        sp, kp, kq = p_mix._sampler_params, p_mix._kernel_params, q_mix._kernel_params
        mixture_sample(key, s, sp.cum_weights, sp.means, sp.cov_chol_t, X, labels)
        out.append(log_ratio_moments(X, kp.prec_chol, kp.shifted_means, kp.log_norm, kq.prec_chol, kq.shifted_means,
                                     kq.log_norm, True)[:3])
    return out


def kl_divergence(p, q, n_samples=1_000_000, random_state=None, confidence=0.95, chunk=1 << 20, scheduler=None):
    """Monte Carlo D_KL(p || q) with tasks of ``chunk`` samples each; the same stream (and estimate) as
    ``engine.kl_divergence(p, q, method="mc")`` with the same seed."""
    from .. import _random
    from .._validation import check_n_samples
    from ..estimation.kl import BATCH, _as_mixture, _interval, _merge_moments

    mp, mq = _as_mixture(p, "p"), _as_mixture(q, "q")
    if mp.n_features_in_ != mq.n_features_in_:
        raise ValueError(f"p and q have different dimensions ({mp.n_features_in_} and {mq.n_features_in_})")
    n = check_n_samples(n_samples)
    if n < 2:
        raise ValueError("n_samples must be at least 2")
    chunk = max(BATCH, (chunk // BATCH) * BATCH)  # whole local batches: the same partial moments, merged
    key = _random.stream_key(random_state)       # in the same order, give the same estimate bit for bit
    tasks = [dask.delayed(_kl_chunk)(mp, mq, key, s, min(n, s + chunk), BATCH) for s in range(0, n, chunk)]
    results = dask.compute(*tasks, scheduler=scheduler)
    state = [0.0, 0.0, 0.0]
    for task in results:
        for counts, means, m2 in task:
            _merge_moments(counts, means, m2, state)
    total, mean, acc = state
    return _interval(mean, np.sqrt(acc / (total - 1) / total), total, "mc", confidence)


def local_cluster(n_workers=None, threads_per_worker=1, processes=True):
    """A ``distributed.LocalCluster`` sized so workers x threads = cores, and a client on it."""
    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    n_workers = n_workers or max(1, cores // threads_per_worker)
    # the workers share this machine's cores: each worker's kernels get cores // (workers x threads)
    numba_threads = max(1, cores // (n_workers * threads_per_worker))
    kwargs = dict(env={"NUMBA_NUM_THREADS": str(numba_threads)}) if processes else {}
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                           dashboard_address=None, **kwargs)
    return cluster, Client(cluster)


# --------------------------------------------------------------------------------------------- HMMs
def _hmm_partition_sequences(block, model, columns, sequence_column, order_by):
    """A partition of whole sequences: (data, missing rows, Sequences), rows ordered by (sequence, order)."""
    from ..hmm import core as hmm_core

    block = block.sort_values([sequence_column, order_by], kind="stable")
    lengths = block.groupby(sequence_column, sort=True, observed=True).size().to_numpy()
    X = block[list(columns)].to_numpy(dtype=np.float64)
    data, missing = model._prepare(X)
    return data, missing, hmm_core.sequences(data.shape[0], lengths)


def _hmm_stats(block, model, columns, sequence_column, order_by, params):
    from ..hmm import core as hmm_core

    _numba_threads_for_this_task()
    if len(block) == 0:
        return None
    data, missing, seqs = _hmm_partition_sequences(block, model, columns, sequence_column, order_by)
    chunks, max_rows = hmm_core.plan(seqs, model.n_components)
    return hmm_core.statistics(model._emission(), params, data, seqs, chunks, max_rows, missing)


def fit_hmm(model, data, sequence_column, order_by, columns=None, split_every=8, scheduler=None,
            init_sample_size=1 << 18):
    """Exact distributed Baum–Welch for an HMM (``GaussianHMM``, ``PoissonHMM``, ``HMM`` with numeric columns),
    fitted in place and returned.

    ``data``: a dask DataFrame with a sequence-id column and an order column. The rows are shuffled so that
    every sequence lies whole in one partition (``shuffle(on=sequence_column)``); each iteration computes
    the additive ``HMMStats`` of every partition under the current parameters and tree-reduces them
    (``split_every`` per task); the M-step runs here. With the same starting parameters (``init_params=""``)
    the fit equals the in-memory fit (to rounding: the sums are taken in another order). Otherwise the
    parameters named in ``init_params`` start from whole sequences of the first partitions (about
    ``init_sample_size`` rows)."""
    if not isinstance(data, dd.DataFrame):
        raise TypeError(f"data must be a dask DataFrame with sequence and order columns, got {type(data).__name__}")
    for c in (sequence_column, order_by):
        if c not in data.columns:
            raise ValueError(f"the data has no column {c!r} (columns: {list(data.columns)})")
    columns = list(columns) if columns else [c for c in data.columns if c not in (sequence_column, order_by)]
    model._check_hyper()
    data = data[[sequence_column, order_by] + columns].shuffle(on=sequence_column)
    blocks = data.to_delayed()
    needs = [code for code in model.init_params] + [
        code for code, name in (("s", "startprob_"), ("t", "transmat_")) if not hasattr(model, name)]
    if needs or not hasattr(model, "n_features"):
        taken, n = [], 0
        for b in blocks:
            part = dask.compute(b, scheduler=scheduler)[0]
            taken.append(part)
            n += len(part)
            if n >= init_sample_size:
                break
        import pandas as pd

        sample = pd.concat(taken)
        X, _, seqs = _hmm_partition_sequences(sample, model, columns, sequence_column, order_by)
        model._init(X, seqs.lengths)
    model._check()
    model.feature_names_in_ = np.asarray(columns, dtype=object)

    def statistics(params):
        parts = [dask.delayed(_hmm_stats)(b, model, columns, sequence_column, order_by, params) for b in blocks]
        total = dask.compute(_tree_reduce(parts, split_every), scheduler=scheduler)[0]
        if total is None:
            raise ValueError("the data has no rows")
        return total

    return model._baum_welch(statistics)
