"""``engine fit/score/sample`` for ``engine.Mixture`` families other than the plain Gaussian.

``--family`` is one family for every feature column (bernoulli, categorical, poisson, exponential,
student-t is not there yet), ``auto`` (per column from its Arrow type, see ``auto_family``), or per-column
``col=family,col2=family`` (a Gaussian column list is modelled with diagonal covariances). Fits run in
memory when the selected columns fit ``--memory-limit-mb`` (``--in-memory auto``), else streamed
(``Mixture.fit_stream``: one pass for the categories and the initialisation sample, then one per EM
iteration); scoring and sampling always stream in batches.
"""
import os
import time

import numpy as np
import pyarrow as pa

from .commands import QUANTILE_LEVELS, Reporter, _columns

FAMILY_NAMES = ("gaussian", "bernoulli", "categorical", "poisson", "exponential", "student_t")


def auto_family(field, column):
    """The family for one Arrow column: strings, dictionaries and booleans are categorical; floats
    Gaussian; integers Bernoulli if every value is 0 or 1, else Poisson if none is negative (counts),
    else Gaussian."""
    t = field.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t) or pa.types.is_boolean(t):
        return "categorical"
    if pa.types.is_floating(t):
        return "gaussian"
    if pa.types.is_integer(t):
        import pyarrow.compute as pc

        mm = pc.min_max(column)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is None:
            return "gaussian"
        if lo >= 0 and hi <= 1:
            return "bernoulli"
        return "poisson" if lo >= 0 else "gaussian"
    raise ValueError(f"column {field.name!r} has type {t}, which no family models (numbers, strings, booleans)")


def family_spec(arg, table):
    """(family for engine.Mixture, a description) from --family and the table's columns."""
    names = table.column_names
    if "=" in arg:
        spec = {}
        for item in arg.split(","):
            col, _, fam = item.partition("=")
            col, fam = col.strip(), fam.strip().replace("-", "_")
            if col not in names:
                raise ValueError(f"--family names column {col!r}, which the data does not have (columns: {names})")
            if fam not in FAMILY_NAMES:
                raise ValueError(f"--family {col}={fam}: the family must be one of {FAMILY_NAMES}")
            spec[col] = fam
        return spec
    if arg == "auto":
        spec = {c: auto_family(table.schema.field(c), table.column(c)) for c in names}
        return spec
    if arg.replace("-", "_") not in FAMILY_NAMES:
        raise ValueError(f"--family must be one of {FAMILY_NAMES + ('auto',)} or col=family,...; got {arg!r}")
    return arg.replace("-", "_")


def fit_family(args, rep):
    import engine
    from ..io.dataset import open_dataset

    t0 = time.perf_counter()
    columns = _columns(args.columns)
    if columns is None and "=" in args.family:
        columns = [item.partition("=")[0].strip() for item in args.family.split(",")]
    if args.scheduler:
        return _fit_family_dask(args, rep, columns, t0)
    dataset, _ = open_dataset(args.input)
    for c in columns or ():
        if c not in dataset.schema.names:
            raise ValueError(f"{args.input}: no column {c!r} (columns: {dataset.schema.names})")
    rows = dataset.count_rows()
    if rows == 0:
        raise ValueError(f"{args.input}: no rows to fit (the input is empty)")
    width = len(columns or dataset.schema.names)
    in_memory = args.in_memory == "yes" or (args.in_memory == "auto" and rows * width * 8 <= args.memory_limit_mb * 2**20)
    if in_memory:
        table = dataset.to_table(columns=columns)
    else:
        # streamed: one pass per EM iteration over record batches (memory bounded by the batch); the family
        # is chosen from the first batch (and auto's integer rule from that batch's values)
        table = next(iter(dataset.to_batches(columns=columns, batch_size=args.batch_size)))
        table = pa.Table.from_batches([table])

        def batches():
            return (b for b in dataset.to_batches(columns=columns, batch_size=args.batch_size) if b.num_rows)
    family = family_spec(args.family, table)
    if isinstance(family, dict) and "student_t" in family.values():
        raise ValueError("student-t is a whole-row family (its scale matrix couples the columns): use "
                         "--family student-t with --columns, not col=student-t")
    if isinstance(family, dict) and not args.quiet:
        rep.note("families: " + ", ".join(f"{c}={f}" for c, f in family.items()))
    Ks = range(1, args.max_components + 1) if args.components == "auto" else [int(args.components)]
    transform = None
    ld_total = 0.0
    if getattr(args, "transform", None):
        # fit the transform once (its passes), then every K's mixture in its coordinates
        from ..transforms import parse

        transform = parse(args.transform)
        keys = list(table.column_names)
        if in_memory:
            transform.fit(table)
            table, ld = transform._run(table, inverse=False)
            ld_total = float(ld.sum())
        else:
            transform.fit_stream(batches, keys)
            raw_batches = batches

            def batches():
                return (transform._run(b, inverse=False)[0] for b in raw_batches())
            ld_total = sum(float(transform.log_abs_det_jacobian(b).sum()) for b in raw_batches())
        rep.note(f"transform {transform!r}")
    best = None
    bics = {}
    for K in Ks:
        student = family == "student_t"
        if student:
            for c in table.column_names:
                if not pa.types.is_floating(table.schema.field(c).type) and not pa.types.is_integer(table.schema.field(c).type):
                    raise ValueError(f"--family student-t models numeric columns; {c!r} has type "
                                     f"{table.schema.field(c).type} (select columns with --columns)")
        model = engine.Mixture(K, family=family, covariance_type=args.covariance_type if student else "diag",
                               tol=args.tol, max_iter=args.max_iter, n_init=args.n_init, reg_covar=args.reg_covar,
                               random_state=args.seed, missing=args.missing, dof=args.dof)
        extra = transform.n_fitted_parameters if transform is not None else 0
        if in_memory:
            model.fit(table)
            ll = float(np.sum(model.score_samples(table)))
        else:
            model.fit_stream(batches)
            ll = sum(float(model.score_samples(b).sum()) for b in batches())
        # in the data's units: log|det J| over the rows, and the transform's fitted parameters
        bics[K] = -2 * (ll + ld_total) + (model.n_parameters + extra) * np.log(rows)
        if len(Ks) > 1:
            rep.note(f"K={K}: BIC {bics[K]:.2f}")
        if best is None or bics[K] < bics[best.n_components]:
            best = model
    model = best
    sample = table if in_memory else model.init_sample_
    ll = model.score_samples(sample)
    if transform is not None:  # the sample is in the mixture's coordinates: add log|det J| at its preimage
        ll = ll + transform.log_abs_det_jacobian(transform.inverse(sample))
    ll = np.sort(ll)
    model.training_ = {"rows": int(rows), "source": os.path.basename(os.path.normpath(args.input)),
                       "feature_columns": [str(c) for c in model._fit_keys], "logpdf_sample_size": int(len(ll)),
                       "logpdf_quantile_levels": QUANTILE_LEVELS.tolist(),
                       "logpdf_quantiles": np.quantile(ll, QUANTILE_LEVELS).tolist()}
    if transform is not None:
        from ..models.transformed import Transformed

        Transformed(model, transform).save(args.model_out)
    else:
        model.save(args.model_out)
    seconds = time.perf_counter() - t0
    fam_text = family if isinstance(family, str) else "mixed"
    rep.summary({"model": os.path.abspath(args.model_out), "rows": int(rows), "family": fam_text, "in_memory": in_memory,
                 "columns": {str(k): v for k, v in family.items()} if isinstance(family, dict) else None,
                 "components": int(model.n_components), "n_iter": int(model.n_iter_),
                 "converged": bool(model.converged_), "lower_bound": float(model.lower_bound_), "seconds": seconds,
                 "bic": {int(k): float(v) for k, v in bics.items()}},
                f"fitted K={model.n_components} {fam_text} mixture to {rows:,} rows "
                f"({'in memory' if in_memory else 'streamed'}) in {seconds:.1f} s: "
                f"{model.n_iter_} EM iterations, converged={model.converged_}, mean log-likelihood "
                f"{model.lower_bound_:.6f}" + (f" (in the coordinates of {transform!r})" if transform else "")
                + f"\nmodel written to {os.path.abspath(args.model_out)}")
    return 0


def _fit_family_dask(args, rep, columns, t0):
    """``engine fit --family … --scheduler …``: ``engine.dask.fit`` of a Mixture over the Parquet partitions
    (the same EM as the local streamed fit; categories united over every partition). ``--family auto``
    decides from the first 10,000 rows."""
    import engine
    from ..dask import fit as dask_fit
    from .commands import _read_dask, _Scheduler

    if args.components == "auto":
        raise ValueError("--components auto is not supported with --scheduler; give K")
    with _Scheduler(args.scheduler) as client:
        ddf, columns = _read_dask(args, columns)
        head = pa.Table.from_pandas(ddf.head(10_000, npartitions=-1), preserve_index=False)
        family = family_spec(args.family, head)
        model = engine.Mixture(int(args.components), family=family, covariance_type="diag" if family != "student_t"
                               else args.covariance_type, tol=args.tol, max_iter=args.max_iter, n_init=args.n_init,
                               reg_covar=args.reg_covar, random_state=args.seed, missing=args.missing, dof=args.dof)
        dask_fit(model, ddf, columns=columns)
        rows = int(model.stream_rows_)
        workers = len(client.scheduler_info()["workers"])
    ll = np.sort(model.score_samples(model.init_sample_))
    model.training_ = {"rows": rows, "source": os.path.basename(os.path.normpath(args.input)),
                       "feature_columns": [str(c) for c in model._fit_keys], "logpdf_sample_size": int(len(ll)),
                       "logpdf_quantile_levels": QUANTILE_LEVELS.tolist(),
                       "logpdf_quantiles": np.quantile(ll, QUANTILE_LEVELS).tolist()}
    model.save(args.model_out)
    seconds = time.perf_counter() - t0
    fam_text = family if isinstance(family, str) else "mixed"
    rep.summary({"model": os.path.abspath(args.model_out), "rows": rows, "family": fam_text,
                 "columns": {str(k): v for k, v in family.items()} if isinstance(family, dict) else None,
                 "components": int(model.n_components), "n_iter": int(model.n_iter_),
                 "converged": bool(model.converged_), "lower_bound": float(model.lower_bound_),
                 "scheduler": args.scheduler, "workers": workers, "seconds": seconds},
                f"fitted K={model.n_components} {fam_text} mixture to {rows:,} rows on Dask ({workers} workers) in "
                f"{seconds:.1f} s: {model.n_iter_} EM iterations, converged={model.converged_}, mean log-likelihood "
                f"{model.lower_bound_:.6f}\nmodel written to {os.path.abspath(args.model_out)}")
    return 0


def score_family(args, rep, model, transform=None):
    from ..io.dataset import open_dataset
    from ..io.writer import AtomicParquetWriter, check_output_path
    from .commands import _anomaly_threshold

    check_output_path(args.output, args.overwrite)
    ids = _columns(args.id_column) or []
    keys = [str(k) for k in model._fit_keys]
    dataset, _ = open_dataset(args.input)
    for c in keys + ids:
        if c not in dataset.schema.names:
            raise ValueError(f"{args.input}: no column {c!r}, which the model needs (its columns: {keys})")
    threshold = _anomaly_threshold(model, args.anomaly_quantile) if args.anomaly_quantile is not None else None
    K = model.weights_.shape[0]
    fields = [dataset.schema.field(c) for c in ids] + [pa.field("log_density", pa.float64())]
    if args.responsibilities:
        fields += [pa.field(f"resp_{k}", pa.float64()) for k in range(K)]
    if args.labels:
        fields.append(pa.field("label", pa.int64()))
    if threshold is not None:
        fields.append(pa.field("is_anomaly", pa.bool_()))
    schema = pa.schema(fields)
    rows = anomalies = 0
    logd_buf, resp_buf = np.empty(0), np.empty((0, K))
    t0 = time.perf_counter()
    with rep.bar(total=dataset.count_rows(), desc="score") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        for batch in dataset.to_batches(columns=list(dict.fromkeys(keys + ids)), batch_size=args.batch_size):
            if batch.num_rows == 0:
                continue
            # errors name the row of the input as a whole (row_offset: the rows before this batch)
            if getattr(model._family_obj, "name", "") == "student_t":
                from .._sklearn_compat import table_to_array

                batch_x = table_to_array(batch.select(keys))
            else:
                batch_x = batch
            ld = 0.0
            if transform is not None:  # the mixture models T(x): score T(batch), add log|det J|
                try:
                    batch_x, ld = transform._run(batch_x, inverse=False)
                except ValueError as exc:
                    from .._validation import shift_input_rows

                    raise ValueError(f"{args.input}: " + shift_input_rows(str(exc), rows)) from None
            # every batch is scored into the same buffers (no allocation and page faults per batch)
            m = batch.num_rows
            if logd_buf.shape[0] < m:
                logd_buf, resp_buf = np.empty(m), np.empty((m, K))
            if args.responsibilities or args.labels:
                logd, resp = model._family_obj.log_density(batch_x, model._params, responsibilities=True, row_offset=rows,
                                                           out=logd_buf[:m], resp_out=resp_buf[:m])
            else:
                logd = model._family_obj.log_density(batch_x, model._params, row_offset=rows, out=logd_buf[:m])
            logd += ld
            cols = [batch.column(c) for c in ids] + [pa.array(logd)]
            if args.responsibilities:
                cols += [pa.array(resp[:, k]) for k in range(K)]
            if args.labels:
                cols.append(pa.array(np.argmax(resp, axis=1)))
            if threshold is not None:
                flag = logd < threshold
                anomalies += int(flag.sum())
                cols.append(pa.array(flag))
            out.write(pa.RecordBatch.from_arrays(cols, schema=schema))
            rows += batch.num_rows
            bar.update(batch.num_rows)
    seconds = time.perf_counter() - t0
    text = f"scored {rows:,} rows in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
    if threshold is not None:
        text += f"; {anomalies:,} anomalies below the training {args.anomaly_quantile:g}-quantile log-density"
    rep.summary({"output": os.path.abspath(args.output), "rows": rows, "seconds": seconds,
                 "anomaly_threshold": threshold, "anomalies": anomalies if threshold is not None else None},
                text + f"\noutput written to {os.path.abspath(args.output)}")
    return 0


def _stream_key(seed):
    from .. import _random

    return _random.stream_key(seed)


def _sample_rows(args, rep, names, draw, key):
    """Write args.n rows of draw(m, start, out, labels_out) -> (float X (m, D), labels) in batches (one
    stream); every batch is drawn into the same two buffers (Arrow copies the columns out of them)."""
    from ..io.writer import AtomicParquetWriter

    schema = pa.schema([pa.field(c, pa.float64()) for c in names] + [pa.field("component", pa.int64())])
    rows = max(0, min(args.batch_size, args.n))
    X_buf, labels_buf = np.empty((rows, len(names))), np.empty(rows, dtype=np.int64)
    t0 = time.perf_counter()
    with rep.bar(total=args.n, desc="sample") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        for start in range(0, args.n, args.batch_size):
            m = min(args.batch_size, args.n - start)
            X, labels = draw(m, start, X_buf[:m], labels_buf[:m])
            out.write(pa.RecordBatch.from_arrays([pa.array(X[:, j]) for j in range(len(names))] + [pa.array(labels)],
                                                 schema=schema))
            bar.update(m)
    seconds = time.perf_counter() - t0
    rep.summary({"output": os.path.abspath(args.output), "rows": args.n, "seconds": seconds},
                f"wrote {args.n:,} samples in {seconds:.2f} s to {os.path.abspath(args.output)}")
    return 0


def sample_family(args, rep, model, transformed=None):
    from .. import _random
    from ..io.writer import AtomicParquetWriter

    fam = model._family_obj
    keys = [str(k) for k in model._fit_keys] if model._fit_keys else [f"x{j}" for j in range(fam.n_features)]
    if transformed is not None and getattr(fam, "name", "") == "student_t":
        key = int(_stream_key(args.seed))
        return _sample_rows(args, rep, keys,
                            lambda m, start, out, labels_out: transformed.sample(
                                m, random_state=np.random.SeedSequence([key, start]), out=out, labels_out=labels_out),
                            key)
    if getattr(fam, "name", "") == "student_t":
        return _sample_rows(args, rep, keys,
                            lambda m, start, out, labels_out: fam.sample(model._params, m, key, offset=start, out=out,
                                                                          labels_out=labels_out),
                            key := _stream_key(args.seed))
    names = [str(c.key) if isinstance(c.key, str) else keys[c.key] if isinstance(c.key, int) and c.key < len(keys)
             else f"x{j}" for j, c in enumerate(fam.columns)]
    key = _random.stream_key(args.seed)
    fields = []
    for name, col in zip(names, fam.columns):
        if col.kind == "categorical" and col.categories.dtype == object:
            fields.append(pa.field(name, pa.string()))
        elif col.kind in ("bernoulli", "poisson") or (col.kind == "categorical"):
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.float64()))
    schema = pa.schema(fields + [pa.field("component", pa.int64())])
    # every batch is drawn into the same buffers (Arrow copies the columns out of them)
    rows = max(0, min(args.batch_size, args.n))
    codes_buf, labels_buf = np.empty((rows, model._params.loc.shape[1])), np.empty(rows, dtype=np.int64)
    t0 = time.perf_counter()
    with rep.bar(total=args.n, desc="sample") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        for start in range(0, args.n, args.batch_size):
            m = min(args.batch_size, args.n - start)
            if transformed is None:
                codes, labels = fam.sample(model._params, m, key, offset=start, out=codes_buf[:m],
                                           labels_out=labels_buf[:m])  # one stream across batches
                X = model._decode(codes, in_place=True)
            else:  # T^-1 of the mixture's draws (draws without a preimage are redrawn), keyed per batch
                numeric = all(f.type != pa.string() for f in fields)
                X, labels = transformed.sample(m, random_state=np.random.SeedSequence([int(key), start]),
                                               out=codes_buf[:m] if numeric else None, labels_out=labels_buf[:m])
            cols = [pa.array(X[:, j].tolist() if fields[j].type == pa.string() else X[:, j].astype(np.float64))
                    for j in range(fam.n_features)]
            out.write(pa.RecordBatch.from_arrays(cols + [pa.array(labels)], schema=schema))
            bar.update(m)
    seconds = time.perf_counter() - t0
    rep.summary({"output": os.path.abspath(args.output), "rows": args.n, "seconds": seconds},
                f"wrote {args.n:,} samples in {seconds:.2f} s to {os.path.abspath(args.output)}")
    return 0
