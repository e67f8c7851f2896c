"""``engine fit --model hmm`` and ``engine score`` of an HMM model file: sequences from a table.

Rows are regrouped into sequences by ``--sequence-column`` and ordered by ``--order-by``, so the input may hold
the sequences in any order and across any number of files; the fit is then ``engine.HMM``'s exact Baum–Welch
over all of them. In memory (``--in-memory yes``, or ``auto`` when the needed columns fit in
``--memory-limit-mb``): an Arrow sort of the needed columns. Streamed (``--in-memory no``, or ``auto`` above the
limit): ``engine.hmm.stream.SequenceBuckets`` regroups the rows into sorted, sequence-whole buckets on disk and
every iteration reads one bucket at a time (memory: a bucket, not the table).
"""
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .commands import QUANTILE_LEVELS, _columns


def _sequences(args, table, seq_col, order_col):
    """(table sorted by sequence then order, lengths, sequence ids, the sort permutation)."""
    for c in (seq_col, order_col):
        if c not in table.column_names:
            raise ValueError(f"{args.input}: no column {c!r} (columns: {table.column_names})")
        nulls = table.column(c).null_count
        if nulls and getattr(args, "nulls", "error") == "drop":
            table = table.filter(pc.is_valid(table.column(c)))
        elif nulls:
            row = int(np.flatnonzero(table.column(c).is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{args.input}: column {c!r}, input row {row}: null (every row needs a sequence id "
                             "and an order value; --nulls drop leaves such rows out)")
    table = table.append_column("__row", pa.array(np.arange(table.num_rows)))
    table = table.sort_by([(seq_col, "ascending"), (order_col, "ascending"), ("__row", "ascending")])
    ids = table.column(seq_col).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    lengths = np.diff(np.append(starts, len(ids)))
    return table, lengths, ids[starts], table.column("__row").to_numpy()


def _features(table, keys, gaussian):
    if gaussian:
        from .._sklearn_compat import table_to_array

        return table_to_array(table.select(keys))
    return table.select(keys)


def fit_hmm(args, rep):
    import engine
    from ..io.dataset import open_dataset
    from ..io.writer import check_output_path
    from .families import family_spec

    check_output_path(args.model_out, args.overwrite)
    if not args.sequence_column or not args.order_by:
        raise ValueError("--model hmm needs --sequence-column ID and --order-by T")
    K = int(args.states or (args.components if args.components != "auto" else 0) or 0)
    if K < 1:
        raise ValueError("--model hmm needs --states K (>= 1)")
    dataset, _ = open_dataset(args.input)
    names = dataset.schema.names
    keys = _columns(args.columns) or [n for n in names if n not in (args.sequence_column, args.order_by)
                                      and pa.types.is_floating(dataset.schema.field(n).type)]
    for c in keys:
        if c not in names:
            raise ValueError(f"{args.input}: no column {c!r} (columns: {names})")
    t0 = time.perf_counter()
    needed = list(dict.fromkeys(keys + [args.sequence_column, args.order_by]))
    rows = dataset.count_rows()
    # a row of the needed columns as float64, plus its row number
    row_bytes = 8 * (len(needed) + 1)
    in_memory = args.in_memory == "yes" or (args.in_memory == "auto"
                                            and rows * row_bytes <= args.memory_limit_mb * 2**20)

    def make_model(sample_table):
        family = family_spec(args.family, sample_table.select(keys))
        model = engine.HMM(K, emission=family, covariance_type=args.covariance_type, missing=args.missing,
                           n_iter=args.max_iter, tol=args.tol, random_state=args.seed, reg_covar=args.reg_covar)
        return model, family == "gaussian" and args.missing == "error"

    if in_memory:
        table = dataset.to_table(columns=needed)
        if table.num_rows == 0:
            raise ValueError(f"{args.input}: no rows to fit")
        table, lengths, _, _ = _sequences(args, table, args.sequence_column, args.order_by)
        model, gaussian = make_model(table)
        X = _features(table, keys, gaussian)
        model.fit(X, lengths)
        seconds = time.perf_counter() - t0
        per_step = model.score_sequences(X, lengths) / lengths
    else:
        from ..hmm.stream import SequenceBuckets

        # buckets of about a quarter of the memory limit; the batches that fill them are smaller still
        rows_per_bucket = max(1 << 12, int(args.memory_limit_mb * 2**20 / 4 / row_bytes))
        batch_rows = min(rows_per_bucket, 1 << 17)
        for c in (args.sequence_column, args.order_by):
            if c not in names:
                raise ValueError(f"{args.input}: no column {c!r} (columns: {names})")
        from ..io.dataset import _format_of, record_batches

        dataset, paths = open_dataset(args.input)
        fmt = _format_of(paths)

        def check(path, schema, cols):
            for c in cols:
                if c not in schema.names:
                    raise ValueError(f"column {c!r} is not in {path} (columns: {', '.join(schema.names)})")

        def batches():
            return (batch for _, batch in record_batches(dataset, paths, fmt, needed, batch_rows, args.input, check))

        with SequenceBuckets(batches, args.sequence_column,
                             args.order_by, keys, rows_per_bucket, directory=getattr(args, "temp_dir", None),
                             nulls_drop=getattr(args, "nulls", "error") == "drop", source=args.input) as buckets:
            # the initialisation sees whole sequences of the first buckets (all of them when they hold fewer
            # rows than the sample: then it is the in-memory fit's start)
            sample, sample_lengths = buckets.sample(1 << 18)
            model, gaussian = make_model(sample)
            model.fit_stream(lambda: ((_features(t, keys, gaussian), l) for t, l in buckets.tables()),
                             init=(_features(sample, keys, gaussian), sample_lengths))
            del sample
            seconds = time.perf_counter() - t0
            parts, all_lengths = [], []
            for t, l in buckets.tables():
                parts.append(model.score_sequences(_features(t, keys, gaussian), l) / l)
                all_lengths.append(l)
            per_step = np.concatenate(parts)
            lengths = np.concatenate(all_lengths)
    model.training_ = {"sequence_log_likelihood_per_step_levels": QUANTILE_LEVELS.tolist(),
                       "sequence_log_likelihood_per_step_quantiles": np.quantile(per_step, QUANTILE_LEVELS).tolist()}
    model.sequence_column_ = args.sequence_column
    model.order_by_ = args.order_by
    model.feature_names_in_ = np.asarray(keys, dtype=object)
    model.save(args.model_out)
    ll = float(model.monitor_.history[-1]) if model.monitor_.history else float("nan")
    rep.summary({"model": os.path.abspath(args.model_out), "states": K, "sequences": int(lengths.size),
                 "rows": int(lengths.sum()), "iterations": int(model.monitor_.iter), "log_likelihood": ll,
                 "in_memory": bool(in_memory), "seconds": seconds,
                 "seconds_per_iteration": seconds / max(model.monitor_.iter, 1)},
                f"fitted an HMM with {K} states to {lengths.size:,} sequences ({lengths.sum():,} rows, "
                f"{'in memory' if in_memory else 'streamed from sorted buckets on disk'}) in "
                f"{seconds:.2f} s ({model.monitor_.iter} iterations); log-likelihood {ll:.6g}\n"
                f"model written to {os.path.abspath(args.model_out)}")
    return 0


def score_hmm(args, rep, model):
    from ..io.dataset import open_dataset
    from ..io.writer import AtomicParquetWriter, check_output_path

    check_output_path(args.output, args.overwrite)
    seq_col = getattr(model, "sequence_column_", None)
    order_col = getattr(model, "order_by_", None)
    if seq_col is None:
        raise ValueError(f"{args.model} was not fitted by 'engine fit --model hmm' (it names no sequence column)")
    keys = [str(k) for k in model.feature_names_in_]
    ids = [c for c in (_columns(args.id_column) or []) if c not in (seq_col, order_col)]
    dataset, _ = open_dataset(args.input)
    for c in keys + ids + [seq_col, order_col]:
        if c not in dataset.schema.names:
            raise ValueError(f"{args.input}: no column {c!r}, which the model needs")
    t0 = time.perf_counter()
    table = dataset.to_table(columns=list(dict.fromkeys([seq_col, order_col] + ids + keys)))
    table, lengths, _, _ = _sequences(args, table, seq_col, order_col)
    X = _features(table, keys, model._gaussian())
    ll = model.score_sequences(X, lengths)
    per_row_ll = np.repeat(ll, lengths)
    per_step = np.repeat(ll / lengths, lengths)
    cols = {c: table.column(c) for c in [seq_col, order_col] + ids}
    cols["sequence_log_likelihood"] = pa.array(per_row_ll)
    cols["sequence_log_likelihood_per_step"] = pa.array(per_step)
    K = model.n_components
    if args.responsibilities:
        post = model.predict_proba(X, lengths)
        for k in range(K):
            cols[f"post_{k}"] = pa.array(post[:, k])
    if args.labels or not args.responsibilities:
        cols["state"] = pa.array(model.predict(X, lengths))
    anomalies = None
    if args.anomaly_quantile is not None:
        tr = getattr(model, "training_", None) or {}
        if "sequence_log_likelihood_per_step_quantiles" not in tr:
            raise ValueError(f"{args.model} has no training quantiles (refit it with this version)")
        threshold = float(np.interp(args.anomaly_quantile, tr["sequence_log_likelihood_per_step_levels"],
                                    tr["sequence_log_likelihood_per_step_quantiles"]))
        flag = (ll / lengths) < threshold
        anomalies = int(flag.sum())
        cols["is_anomaly"] = pa.array(np.repeat(flag, lengths))
    out_table = pa.table(cols)
    with AtomicParquetWriter(args.output, out_table.schema, overwrite=args.overwrite) as out:
        out.write(out_table)
    seconds = time.perf_counter() - t0
    text = f"scored {lengths.size:,} sequences ({lengths.sum():,} rows) in {seconds:.2f} s"
    if anomalies is not None:
        text += f"; {anomalies:,} anomalous sequences below the training {args.anomaly_quantile:g}-quantile"
    rep.summary({"output": os.path.abspath(args.output), "rows": int(lengths.sum()), "sequences": int(lengths.size),
                 "seconds": seconds, "anomalous_sequences": anomalies},
                text + f"\noutput written to {os.path.abspath(args.output)}")
    return 0
