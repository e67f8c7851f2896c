"""Implementations of the ``engine`` subcommands (argument parsing lives in ``main``)."""
import json
import os
import sys
import time
import warnings

import numpy as np
import pyarrow as pa

from .._termination import check as check_termination
from .._termination import commit_file

QUANTILE_LEVELS = np.unique(np.concatenate([np.geomspace(1e-5, 1e-2, 31), np.linspace(0.0, 1.0, 1001)]))


class Reporter:
    """Progress bars (tqdm, rows/s) on stderr unless --quiet; the summary as text or --json on stdout."""

    def __init__(self, args):
        self.quiet = args.quiet or args.json
        self.json = args.json

    def bar(self, total=None, desc="", unit="rows"):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=self.quiet, file=sys.stderr, leave=False)

    def note(self, text):
        if not self.quiet:
            print(text, file=sys.stderr)

    def summary(self, data, text):
        print(json.dumps(data, default=float) if self.json else text)


def _columns(arg):
    return [c.strip() for c in arg.split(",") if c.strip()] if arg else None


def _source(args, columns=None, passthrough=()):
    from ..io.dataset import FeatureSource

    return FeatureSource(args.input, columns=columns if columns is not None else _columns(args.columns),
                         nulls=args.nulls, batch_size=args.batch_size, passthrough=passthrough)


# ----------------------------------------------------------------------------------------------- dask
class _Scheduler:
    """--scheduler ADDRESS | local | local:N: a client for the duration of a command."""

    def __init__(self, spec):
        self.spec = spec

    def __enter__(self):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("--scheduler needs Dask: pip install 'engine[dask]'") from None
        from ..dask import local_cluster

        self.cluster = None
        if self.spec == "local" or self.spec.startswith("local:"):
            n = int(self.spec.split(":", 1)[1]) if ":" in self.spec else None
            self.cluster, self.client = local_cluster(n_workers=n)
        else:
            self.client = Client(self.spec, timeout="30s")
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def _read_dask(args, columns, extra=()):
    import dask.dataframe as dd

    from ..io.dataset import open_dataset

    names = open_dataset(args.input)[0].schema.names
    columns = columns or [c for c in names if c not in extra]
    for c in list(columns) + list(extra):
        if c not in names:
            raise ValueError(f"column {c!r} is not in {args.input} (columns: {', '.join(names)})")
    ddf = dd.read_parquet(args.input, columns=list(dict.fromkeys(list(columns) + list(extra))))
    if args.nulls == "drop":
        ddf = ddf.dropna(subset=list(columns))
    return ddf, list(columns)


# ----------------------------------------------------------------------------------------------- fit
def _gaussian_mixture(args, K, device="cpu"):
    """The estimator ``engine fit`` runs: a GaussianMixture, or with --bayesian a BayesianGaussianMixture."""
    import engine

    common = dict(covariance_type=args.covariance_type, tol=args.tol, max_iter=args.max_iter, n_init=args.n_init,
                  random_state=args.seed, reg_covar=args.reg_covar, device=device)
    if getattr(args, "bayesian", False):
        return engine.BayesianGaussianMixture(n_components=K, weight_concentration_prior_type=args.weight_prior_type
                                              .replace("-", "_"), weight_concentration_prior=args.weight_prior,
                                              **common)
    return engine.GaussianMixture(K, **common)


def _fit_one(args, K, source, in_memory_X, rep, program=None):
    """Fit K components; ``program`` (a fitted transform over the source's columns) maps each streamed batch
    into the coordinates the mixture models (in-memory data arrive already transformed)."""
    import engine
    from ..transforms.core import run_program

    model = _gaussian_mixture(args, K, device=args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if in_memory_X is not None:
            model.fit(in_memory_X)
            sample = in_memory_X
        else:
            with rep.bar(desc=f"EM K={K}") as bar:  # rows read, over all passes

                def batches():
                    for X in source.arrays():
                        bar.update(len(X))
                        yield X if program is None else run_program(program, X)[0]

                try:
                    model.fit_stream(batches, on_iteration=lambda i, it, lb: bar.set_postfix(iteration=it, lower_bound=f"{lb:.5f}"))
                except ValueError as exc:
                    if "got no rows" in str(exc):
                        raise ValueError(f"{args.input}: no rows to fit"
                                         + (" (after dropping rows with nulls)" if args.nulls == "drop" else "")) from None
                    raise
            sample = model.init_sample_
    not_converged = any("did not converge" in str(w.message) for w in caught)
    return model, sample, not_converged


def _first_use(rep, covariance_type, fit, n_features=None):
    """On a cold Numba cache: say once that kernels compile for first use (and are cached), and for a fit
    compile the scoring kernel in a helper process meanwhile (see engine._warmup). Returns the helper."""
    from .. import _warmup

    dense = covariance_type in ("full", "tied")
    cold = not _warmup.scoring_kernel_cached(dense) or (
        fit and not _warmup.fit_kernels_cached(dense, n_features, covariance_type == "full"))
    if not cold:
        return None
    rep.note("engine: compiling kernels for first use (about 15 s on 2 cores, once); the compiled code is "
             "cached, so later runs start at once")
    return _warmup.compile_scoring_kernel_in_background(dense) if fit else None


def _fit_transform(args, source, X, rep):
    """--transform: parse it, fit its free parameters (in memory: on X; streamed: a few passes over the
    source), and return (transform, program over the source's columns, X transformed (or None when
    streaming), the total log|det J| over the data (for BIC in the data's units))."""
    from ..transforms import parse
    from ..transforms.core import run_program

    if source.fixed_size_list:
        raise ValueError("--transform needs named feature columns (not a FixedSizeList column)")
    transform = parse(args.transform)
    keys = list(source.columns)
    t0 = time.perf_counter()
    if X is not None:
        transform.fit_stream(lambda: iter([X]), keys)
    else:
        transform.fit_stream(source.arrays, keys)
    program = transform.program(keys)
    if X is not None:
        X, ld = run_program(program, X, name=args.input)
        total = float(ld.sum())
    else:
        total = 0.0
        if args.components == "auto":
            for B in source.arrays():
                total += float(run_program(program, B, name=args.input)[1].sum())
    rep.note(f"transform {transform!r} fitted in {time.perf_counter() - t0:.2f} s")
    return transform, program, X, total


def _total_log_likelihood(model, source, in_memory_X, program=None):
    from ..estimation.em import e_step_stats
    from ..transforms.core import run_program

    if in_memory_X is not None:
        s = e_step_stats(model, in_memory_X)
    else:
        s = None
        for X in source.arrays():
            t = e_step_stats(model, X if program is None else run_program(program, X)[0])
            s = t if s is None else s + t
    return s.log_likelihood, s.weight


def cmd_fit(args):
    from ..estimation.sampling import reservoir_sample
    from ..io.writer import check_output_path

    rep = Reporter(args)
    check_output_path(args.model_out, args.overwrite)
    if args.nulls == "keep":
        raise ValueError("--nulls keep is for scoring; a fit needs --nulls error or drop")
    if args.components == "auto" and args.max_components < 1:
        raise ValueError(f"--max-components must be >= 1, got {args.max_components}")
    if getattr(args, "transform", None) and (getattr(args, "model", "mixture") == "hmm" or args.scheduler):
        raise ValueError("--transform fits mixtures locally (not with --model hmm or --scheduler yet); in "
                         "Python, engine.Transformed takes any model, HMMs included")
    if getattr(args, "bayesian", False):
        if args.components == "auto":
            raise ValueError("--bayesian chooses the number of components itself: give --components K, the most it "
                             "may use (not 'auto')")
        if getattr(args, "model", "mixture") == "hmm" or getattr(args, "family", "gaussian") != "gaussian":
            raise ValueError("--bayesian fits Gaussian mixtures (not --model hmm or another --family)")
        if args.weight_prior is not None and not (np.isfinite(args.weight_prior) and args.weight_prior > 0):
            raise ValueError(f"--weight-prior must be a number > 0, got {args.weight_prior}")
    elif (getattr(args, "weight_prior", None) is not None
          or getattr(args, "weight_prior_type", "dirichlet-process") != "dirichlet-process"):
        raise ValueError("--weight-prior and --weight-prior-type are for --bayesian fits")
    if getattr(args, "model", "mixture") == "hmm":
        from .hmm import fit_hmm

        return fit_hmm(args, rep)
    if getattr(args, "family", "gaussian") != "gaussian" or getattr(args, "missing", "error") != "error":
        from .families import fit_family

        return fit_family(args, rep)
    if args.scheduler:
        return _fit_dask(args, rep)
    if args.components == "auto" and args.max_components < 1:
        raise ValueError(f"--max-components must be >= 1, got {args.max_components}")
    for name in ("max_iter", "n_init"):
        if getattr(args, name) < (0 if name == "max_iter" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be >= {0 if name == 'max_iter' else 1}, got {getattr(args, name)}")
    source = _source(args)
    rows = source.count_rows()
    if rows == 0:
        raise ValueError(f"{args.input}: no rows to fit (the input is empty)")
    D = source.n_features
    helper = _first_use(rep, args.covariance_type, fit=args.device == "cpu", n_features=D)
    in_memory = args.in_memory == "yes" or (args.in_memory == "auto" and rows * D * 8 <= args.memory_limit_mb * 2**20)
    t0 = time.perf_counter()
    X = None
    if in_memory:
        parts = list(source.arrays())
        X = np.concatenate(parts) if parts else np.empty((0, D))
        del parts
        if X.shape[0] == 0:
            raise ValueError(f"{args.input}: no rows to fit (after dropping rows with nulls)")
    if args.components == "auto":
        candidates = range(1, args.max_components + 1)
    else:
        try:
            candidates = [int(args.components)]
        except ValueError:
            raise ValueError(f"--components must be an integer or 'auto', got {args.components!r}") from None
    transform = program = None
    log_jacobian_total = 0.0
    if getattr(args, "transform", None):
        transform, program, X, log_jacobian_total = _fit_transform(args, source, X, rep)
    best = None
    bics = {}
    for K in candidates:
        model, sample, not_converged = _fit_one(args, K, source, X, rep, program)
        if len(candidates) > 1:
            ll, n = _total_log_likelihood(model, source, X, program)
            ll += log_jacobian_total  # in the data's units (the same for every K)
            bics[K] = -2 * ll + (model.n_parameters + (transform.n_fitted_parameters if transform else 0)) * np.log(n)
            rep.note(f"K={K}: BIC {bics[K]:.2f}")
            if best is None or bics[K] < bics[best[0]]:
                best = (K, model, sample, not_converged)
        else:
            best = (K, model, sample, not_converged)
    K, model, sample, not_converged = best
    # the rows the fit used (rows with nulls dropped under --nulls drop are not counted)
    input_rows = int(rows)
    rows = int(X.shape[0]) if X is not None else int(model.stream_rows_)
    quant_sample, _, _ = reservoir_sample([sample], 1 << 18, args.seed)
    ll_sample = model._log_density(quant_sample)
    if program is not None:
        # the sample is in the mixture's coordinates: its log-densities in the data's units add log|det J|
        from ..transforms.core import run_program

        x_sample = run_program(program, quant_sample, inverse=True)[0]
        ll_sample = ll_sample + run_program(program, x_sample)[1]
    ll_sample = np.sort(ll_sample)
    model.feature_names_in_ = list(source.columns) if not source.fixed_size_list else [f"{source.columns[0]}[{j}]" for j in range(D)]
    model.training_ = {
        "rows": int(rows),
        "source": os.path.basename(os.path.normpath(args.input)),
        "feature_columns": list(source.columns),
        "nulls": args.nulls,
        "logpdf_sample_size": int(len(ll_sample)),
        "logpdf_quantile_levels": QUANTILE_LEVELS.tolist(),
        "logpdf_quantiles": np.quantile(ll_sample, QUANTILE_LEVELS).tolist(),
    }
    if transform is None:
        model.save(args.model_out)
    else:  # the model file's model: the mixture under its transform
        from ..models.transformed import Transformed

        Transformed(model, transform).save(args.model_out)
    if helper is not None and helper.poll() is None:  # this process got there first: the helper is redundant
        helper.kill()
        helper.wait()
    seconds = time.perf_counter() - t0
    summary = {
        "model": os.path.abspath(args.model_out), "rows": int(rows), "dropped_null_rows": input_rows - rows,
        "features": list(model.feature_names_in_),
        "components": int(K), "covariance_type": args.covariance_type, "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_), "lower_bound": float(model.lower_bound_), "in_memory": bool(in_memory),
        "seconds": seconds, "bic": {int(k): float(v) for k, v in bics.items()} or None,
    }
    if transform is not None:
        summary["transform"] = repr(transform)
    bayesian = getattr(args, "bayesian", False)
    if bayesian:
        summary["effective_components"] = int(np.sum(model.weights_ > 0.01))
        fitted = (f"{model.n_iter_} variational iterations, converged={model.converged_}, lower bound (scikit-learn's "
                  f"ELBO) {model.lower_bound_:.6f}, {summary['effective_components']} of {K} components above 1% weight")
    else:
        fitted = (f"{model.n_iter_} EM iterations, converged={model.converged_}, mean log-likelihood "
                  f"{model.lower_bound_:.6f}")
    text = (f"fitted K={K} {args.covariance_type} {'Bayesian ' if bayesian else ''}mixture to {rows:,} rows x {D} "
            "features " + (f"({input_rows - rows:,} rows with nulls dropped) " if input_rows != rows else "") +
            f"({'in memory' if in_memory else 'streamed'}) in {seconds:.1f} s: {fitted}\n"
            f"model written to {os.path.abspath(args.model_out)}")
    if transform is not None:
        text += (f"\ntransform: {transform!r} (the {'lower bound' if bayesian else 'EM log-likelihood'} above is in "
                 "the transformed coordinates; "
                 "scores, BIC and the anomaly quantiles are in the data's units)")
    if not_converged:
        text += "\nwarning: EM stopped at --max-iter before converging"
    rep.summary(summary, text)
    return 0


def _fit_dask(args, rep):
    import engine
    from ..dask import fit as dask_fit
    from ..estimation.sampling import reservoir_sample

    if args.components == "auto":
        raise ValueError("--components auto is not supported with --scheduler; give K")
    t0 = time.perf_counter()
    with _Scheduler(args.scheduler) as client:
        ddf, columns = _read_dask(args, _columns(args.columns))
        model = _gaussian_mixture(args, int(args.components))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dask_fit(model, ddf, columns=columns)
        rows = int(ddf.shape[0].compute())
        workers = len(client.scheduler_info()["workers"])
    sample, _, _ = reservoir_sample([model.init_sample_], 1 << 18, args.seed)
    ll = np.sort(model._log_density(sample))
    model.feature_names_in_ = columns
    model.training_ = {"rows": rows, "source": os.path.basename(os.path.normpath(args.input)), "feature_columns": columns,
                       "nulls": args.nulls, "logpdf_sample_size": int(len(ll)),
                       "logpdf_quantile_levels": QUANTILE_LEVELS.tolist(),
                       "logpdf_quantiles": np.quantile(ll, QUANTILE_LEVELS).tolist()}
    model.save(args.model_out)
    seconds = time.perf_counter() - t0
    bayesian = getattr(args, "bayesian", False)
    rep.summary({"model": os.path.abspath(args.model_out), "rows": rows, "components": int(args.components),
                 "n_iter": int(model.n_iter_), "converged": bool(model.converged_), "lower_bound": float(model.lower_bound_),
                 "scheduler": args.scheduler, "workers": workers, "seconds": seconds},
                f"fitted K={args.components} {args.covariance_type} {'Bayesian ' if bayesian else ''}mixture to "
                f"{rows:,} rows on Dask ({workers} workers) in {seconds:.1f} s: {model.n_iter_} "
                f"{'variational' if bayesian else 'EM'} iterations, converged={model.converged_}, "
                f"{'lower bound' if bayesian else 'mean log-likelihood'} {model.lower_bound_:.6f}\n"
                f"model written to {os.path.abspath(args.model_out)}")
    return 0


def _score_dask(args, rep, model, ids, threshold):
    import shutil
    import tempfile

    from ..dask import score as dask_score

    out = os.path.abspath(args.output)
    if os.path.exists(out) and not args.overwrite:
        raise ValueError(f"output {out} exists; pass --overwrite to replace it")
    t0 = time.perf_counter()
    with _Scheduler(args.scheduler):
        tr = getattr(model, "training_", None) or {}
        ddf, columns = _read_dask(args, _columns(args.columns) or tr.get("feature_columns"), extra=ids)
        if len(columns) != model.n_features_in_:
            raise ValueError(f"the data has {len(columns)} feature columns but the model has {model.n_features_in_}")
        scores = dask_score(model, ddf, columns=columns, responsibilities=args.responsibilities, labels=args.labels,
                            anomaly_threshold=threshold, passthrough=ids)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=os.path.dirname(out))
        try:
            scores.to_parquet(tmp, write_index=False)
            rows = int(scores.shape[0].compute())
            anomalies = int(scores["is_anomaly"].sum().compute()) if threshold is not None else None
            check_termination()  # before the previous output is removed
            if os.path.exists(out):
                shutil.rmtree(out) if os.path.isdir(out) else os.unlink(out)
            commit_file(tmp, out)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
    seconds = time.perf_counter() - t0
    rep.summary({"output": out, "rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
                 "anomalies": anomalies, "anomaly_threshold": threshold, "scheduler": args.scheduler},
                f"scored {rows:,} rows on Dask in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)"
                + (f"; {anomalies:,} anomalies" if anomalies is not None else "") + f"\noutput written to {out}/")
    return 0


# ----------------------------------------------------------------------------------------------- score
def _anomaly_threshold(model, q):
    tr = getattr(model, "training_", None)
    if not tr or "logpdf_quantiles" not in tr:
        raise ValueError("the model holds no training log-likelihoods (it was not written by engine fit): "
                         "--anomaly-quantile needs them")
    if not 0 < q < 1:
        raise ValueError(f"--anomaly-quantile must be in (0, 1), got {q}")
    return float(np.interp(q, tr["logpdf_quantile_levels"], tr["logpdf_quantiles"]))


def cmd_score(args):
    import engine
    from ..io.writer import AtomicParquetWriter, check_output_path

    rep = Reporter(args)
    model = engine.load(args.model)
    from ..hmm.models import _BaseHMM

    if isinstance(model, _BaseHMM):
        from .hmm import score_hmm

        return score_hmm(args, rep, model)
    if isinstance(model, engine.Mixture):
        if hasattr(model, "_gm"):
            model = model._gm
        else:
            if args.scheduler:
                raise ValueError("--scheduler scores Gaussian mixtures; other families score locally")
            from .families import score_family

            return score_family(args, rep, model)
    program = None
    if isinstance(model, engine.Transformed) and isinstance(model.base, engine.Mixture) \
            and not hasattr(model.base, "_gm"):
        from .families import score_family

        return score_family(args, rep, model.base, transform=model.transform)
    if isinstance(model, engine.Transformed):
        # densities in the data's units: the kernel applies the transform to each block it loads
        base = model.base._gm if isinstance(model.base, engine.Mixture) and hasattr(model.base, "_gm") else model.base
        if not isinstance(base, engine.GaussianMixture) or args.scheduler:
            raise ValueError(f"{args.model}: engine score takes transformed Gaussian mixtures (locally); use "
                             "engine.Transformed in Python for other bases")
        transformed, model = model, base
    else:
        transformed = None
    if not isinstance(model, engine.GaussianMixture):
        raise ValueError(f"{args.model} holds a {type(model).__name__}; engine score needs a GaussianMixture")
    model.device = "cpu" if transformed is not None else args.device
    ids = _columns(args.id_column) or []
    if args.scheduler:
        threshold = _anomaly_threshold(model, args.anomaly_quantile) if args.anomaly_quantile is not None else None
        return _score_dask(args, rep, model, ids, threshold)
    check_output_path(args.output, args.overwrite)
    tr = getattr(model, "training_", None) or {}
    # features: --columns, else the model's own feature names when the data has them all, else the columns
    # the model was trained on (a FixedSizeList column), else every numeric column
    from ..io.dataset import open_dataset

    names = open_dataset(args.input)[0].schema.names
    own = getattr(model, "feature_names_in_", None)
    own = None if own is None else [str(c) for c in own]
    columns = _columns(args.columns) or (own if own and all(c in names for c in own) else tr.get("feature_columns"))
    source = _source(args, columns=columns, passthrough=ids)
    if source.n_features != model.n_features_in_:
        raise ValueError(f"the data has {source.n_features} feature columns ({', '.join(source.columns)}) but the "
                         f"model has {model.n_features_in_}")
    threshold = _anomaly_threshold(model, args.anomaly_quantile) if args.anomaly_quantile is not None else None
    if transformed is not None:
        program = transformed.transform.program(list(source.columns))
    if args.device == "cpu":
        _first_use(rep, model.covariance_type, fit=False)
    K = model.weights_.shape[0]
    fields = [source.dataset.schema.field(c) for c in ids] + [pa.field("log_density", pa.float64())]
    if args.responsibilities:
        fields += [pa.field(f"resp_{k}", pa.float64()) for k in range(K)]
    if args.labels:
        fields.append(pa.field("label", pa.int64()))
    if threshold is not None:
        fields.append(pa.field("is_anomaly", pa.bool_()))
    schema = pa.schema(fields)
    rows = dropped = anomalies = 0
    buffers = {}  # caller-owned outputs, reused batch after batch (no allocation and page faults per batch)

    def buffer(name, shape, dtype):
        held = buffers.get(name)
        if held is None or held.shape[0] < shape[0] or held.dtype != dtype:
            held = buffers[name] = np.empty(shape, dtype=dtype)
        return held[:shape[0]]

    t0 = time.perf_counter()
    with rep.bar(total=source.count_rows(), desc="score") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        for b in source.batches():
            m = b.X.shape[0]
            dropped += b.dropped
            if m == 0:
                continue
            out_kw = {"out": buffer("logd", (m,), b.X.dtype)}
            # the private entry point: batches are plain arrays of the model's own feature columns, so the
            # scikit-learn feature-name check (and its warning) does not apply
            try:
                if args.responsibilities or args.labels:
                    logd, resp = model._log_density(b.X, responsibilities=True, program=program,
                                                    resp_out=buffer("resp", (m, K), b.X.dtype), **out_kw)
                    logd, resp = np.asarray(logd, dtype=np.float64), np.asarray(resp, dtype=np.float64)
                else:
                    logd = np.asarray(model._log_density(b.X, program=program, **out_kw), dtype=np.float64)
            except ValueError as exc:
                if program is None:
                    raise
                # the kernel names the row within the batch; the batch knows where it starts in the input
                from .._validation import shift_input_rows

                raise ValueError(f"{args.input}: " + shift_input_rows(str(exc), b.first_row)) from None
            mask = None if b.valid is None else ~b.valid
            cols = [b.table.column(c) for c in ids] + [pa.array(logd, mask=mask)]
            if args.responsibilities:
                cols += [pa.array(resp[:, k], mask=mask) for k in range(K)]
            if args.labels:
                cols.append(pa.array(np.argmax(resp, axis=1), mask=mask))
            if threshold is not None:
                flag = logd < threshold
                anomalies += int(flag.sum() if mask is None else flag[~mask].sum())
                cols.append(pa.array(flag, mask=mask))
            out.write(pa.RecordBatch.from_arrays(cols, schema=schema))
            rows += m
            bar.update(m + b.dropped)
    seconds = time.perf_counter() - t0
    summary = {"output": os.path.abspath(args.output), "rows": rows, "dropped_null_rows": dropped,
               "rows_per_second": rows / seconds if seconds > 0 else None, "seconds": seconds,
               "anomaly_threshold": threshold, "anomalies": anomalies if threshold is not None else None}
    text = f"scored {rows:,} rows in {seconds:.2f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
    if dropped:
        text += f"; dropped {dropped:,} rows with nulls"
    if threshold is not None:
        text += (f"; {anomalies:,} anomalies ({100 * anomalies / max(rows, 1):.2f}%) below the training "
                 f"{args.anomaly_quantile:g}-quantile log-density {threshold:.4f}")
    text += f"\noutput written to {os.path.abspath(args.output)}"
    rep.summary(summary, text)
    return 0


# ----------------------------------------------------------------------------------------------- sample
def cmd_sample(args):
    import engine
    from .. import _random
    from ..io.writer import AtomicParquetWriter
    from ..kernels.sampling import mixture_sample

    rep = Reporter(args)
    model = engine.load(args.model)
    if isinstance(model, engine.MultivariateNormal):
        model = model._mixture
    if isinstance(model, engine.Mixture):
        if hasattr(model, "_gm"):
            model = model._gm
        else:
            from .families import sample_family

            return sample_family(args, rep, model)
    if isinstance(model, engine.Transformed):
        return _sample_transformed(args, rep, model)
    if not isinstance(model, engine.GaussianMixture):
        raise ValueError(f"{args.model} holds a {type(model).__name__}; engine sample needs a mixture or MVN")
    if args.n < 0:
        raise ValueError(f"-n must be >= 0, got {args.n}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    D = model.n_features_in_
    own = getattr(model, "feature_names_in_", None)
    names = [str(c) for c in own] if own is not None and len(own) else [f"x{j}" for j in range(D)]
    schema = pa.schema([pa.field(c, pa.float64()) for c in names] + [pa.field("component", pa.int64())])
    key = _random.stream_key(args.seed)
    t0 = time.perf_counter()
    with rep.bar(total=args.n, desc="sample") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        X_buf = np.empty((min(args.n, args.batch_size), D))  # reused by every batch
        labels_buf = np.empty(len(X_buf), dtype=np.int64)
        for start in range(0, args.n, args.batch_size):
            m = min(args.batch_size, args.n - start)
            X, labels = X_buf[:m], labels_buf[:m]
            sp = model._sampler_params  # the stream continues across batches
            mixture_sample(key, start, sp.cum_weights, sp.means, sp.cov_chol_t, X, labels)
            out.write(pa.RecordBatch.from_arrays([pa.array(X[:, j]) for j in range(D)] + [pa.array(labels)], schema=schema))
            bar.update(m)
    seconds = time.perf_counter() - t0
    rep.summary({"output": os.path.abspath(args.output), "rows": args.n, "seconds": seconds},
                f"wrote {args.n:,} samples in {seconds:.2f} s to {os.path.abspath(args.output)}")
    return 0


def _sample_transformed(args, rep, model):
    """Samples of a transformed model, in the data's units: batch i is ``model.sample`` keyed by (seed, i),
    so the output does not depend on anything but the seed and the batch size."""
    from .. import _random
    from ..io.writer import AtomicParquetWriter

    if args.n < 0:
        raise ValueError(f"-n must be >= 0, got {args.n}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    from ..models.family_mixture import Mixture
    from ..models.mixture import GaussianMixture

    base = model.base
    if isinstance(base, Mixture) and not hasattr(base, "_gm"):
        from .families import sample_family

        return sample_family(args, rep, base, transformed=model)
    own = getattr(base, "feature_names_in_", None)
    D = base.n_features_in_ if hasattr(base, "n_features_in_") else len(own)
    names = [str(c) for c in own] if own is not None and len(own) else [f"x{j}" for j in range(D)]
    schema = pa.schema([pa.field(c, pa.float64()) for c in names] + [pa.field("component", pa.int64())])
    key = int(_random.stream_key(args.seed))
    # a Gaussian mixture base draws every batch into the same buffers (Arrow copies the columns out of them)
    rows = max(0, min(args.batch_size, args.n))
    buffers = isinstance(base, GaussianMixture)
    X_buf, labels_buf = (np.empty((rows, D)), np.empty(rows, dtype=np.int64)) if buffers else (None, None)
    t0 = time.perf_counter()
    with rep.bar(total=args.n, desc="sample") as bar, \
            AtomicParquetWriter(args.output, schema, overwrite=args.overwrite) as out:
        for start in range(0, args.n, args.batch_size):
            m = min(args.batch_size, args.n - start)
            kw = {"out": X_buf[:m], "labels_out": labels_buf[:m]} if buffers else {}
            X, labels = model.sample(m, random_state=np.random.SeedSequence([key, start]), **kw)
            out.write(pa.RecordBatch.from_arrays([pa.array(np.asarray(X[:, j], dtype=np.float64)) for j in range(D)]
                                                 + [pa.array(np.asarray(labels, dtype=np.int64))], schema=schema))
            bar.update(m)
    seconds = time.perf_counter() - t0
    rep.summary({"output": os.path.abspath(args.output), "rows": args.n, "seconds": seconds},
                f"wrote {args.n:,} samples (in the data's units, through {model.transform!r}) in {seconds:.2f} s "
                f"to {os.path.abspath(args.output)}")
    return 0


# ----------------------------------------------------------------------------------------------- kl
def cmd_kl(args):
    import engine

    rep = Reporter(args)
    if args.data:
        return _kl_data(args, rep)
    if not (args.p and args.q):
        raise ValueError("engine kl needs --p and --q (two model files), --data and --q, or --data and --data2")
    p, q = engine.load(args.p), engine.load(args.q)
    r = engine.kl_divergence(p, q, method=args.method, n_samples=args.n_samples, random_state=args.seed,
                             confidence=args.confidence, device=args.device)
    rep.summary({"p": args.p, "q": args.q, **r.__dict__}, f"KL(p || q) = {r}")
    return 0


def _kl_data(args, rep):
    """KL(p_data || q) with p known by samples: against a model file (--q) or a second data set (--data2)."""
    import engine

    if bool(args.q) == bool(args.data2):
        raise ValueError("with --data give exactly one of --q (a model file) or --data2 (a second data set)")
    if args.method not in ("auto", "knn"):
        raise ValueError(f"--data is a sample, not a model: --method knn (got {args.method})")
    q = engine.load(args.q) if args.q else None
    columns = _columns(args.columns)
    if columns is None and q is not None and getattr(q, "feature_names_in_", None) is not None:
        columns = [str(c) for c in q.feature_names_in_]

    def read(path):
        from ..io.dataset import FeatureSource

        source = FeatureSource(path, columns=columns)
        parts = list(source.arrays())
        return np.concatenate(parts) if parts else np.empty((0, source.n_features)), list(source.columns)

    X, cols = read(args.data)
    other = q if q is not None else read(args.data2)[0]
    if q is not None and hasattr(q, "_log_density"):
        other = _Scored(q)  # engine's own columns: skip the feature-name check
    t0 = time.perf_counter()
    r = engine.kl_divergence(X, other, method="knn", k=args.k, random_state=args.seed, confidence=args.confidence,
                             n_subsamples=args.n_subsamples, ties=args.ties)
    seconds = time.perf_counter() - t0
    what = f"model {args.q}" if q is not None else f"samples {args.data2}"
    rep.summary({"data": args.data, "q": args.q, "data2": args.data2, "columns": cols, "seconds": seconds,
                 **r.__dict__},
                f"KL(p_data || q) = {r.estimate:.6g}, {100 * args.confidence:g}% interval [{r.ci_low:.6g}, "
                f"{r.ci_high:.6g}] (stderr {r.stderr:.2g}; nearest neighbours, k = {args.k}, n = {r.n_samples:,}; "
                f"q = {what}; {seconds:.1f} s)")
    return 0


class _Scored:
    """A model's log-density on plain arrays of its own feature columns (no feature-name check)."""

    def __init__(self, model):
        self.model = model

    def score_samples(self, X):
        return self.model._log_density(X)


# ----------------------------------------------------------------------------------------------- datasets
#: synthetic data sets from known mixtures (parameters fixed by a seed), so divergences to the truth are known
SYNTHETIC = {
    "blobs-diag": dict(K=16, D=8, covariance_type="diag", param_seed=16),
    "blobs-full": dict(K=4, D=3, covariance_type="full", param_seed=4),
}


def synthetic_truth(name):
    import engine

    if name not in SYNTHETIC:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(SYNTHETIC)}")
    spec = SYNTHETIC[name]
    rng = np.random.default_rng(spec["param_seed"])
    K, D = spec["K"], spec["D"]
    w = rng.dirichlet(np.full(K, 3.0))
    m = rng.normal(scale=4.0, size=(K, D))
    if spec["covariance_type"] == "full":
        A = rng.normal(size=(K, D, D))
        c = A @ A.transpose(0, 2, 1) / D + 0.3 * np.eye(D)
    else:
        c = rng.uniform(0.3, 2.0, size=(K, D))
    model = engine.GaussianMixture.from_params(w, m, c, spec["covariance_type"])
    model.feature_names_in_ = [f"x{j}" for j in range(D)]
    return model


def cmd_datasets_make(args):
    from ..io.writer import check_output_path

    truth = synthetic_truth(args.name)
    truth_path = os.path.splitext(args.output)[0] + ".truth.arrow"
    check_output_path(truth_path, args.overwrite)
    truth.save(truth_path)
    # the data are a sample of the true model: the sample command with that model and --rows
    args.model, args.n = truth_path, args.rows
    return cmd_sample(args)


# ----------------------------------------------------------------------------------------------- info
def cmd_info(args):
    import pyarrow.parquet as pq

    from ..io.dataset import open_dataset
    from ..io.model_file import FORMAT

    path = args.input
    header = None
    # a model file is small; a large Arrow file is data, and is not read whole to find out
    if (os.path.isfile(path) and not path.lower().endswith((".parquet", ".pq", ".csv"))
            and os.path.getsize(path) <= 64 << 20):
        from ..io.model_file import CHECKSUM_TAG, read_verified

        try:
            header, _ = read_verified(path)
        except ValueError:
            with open(path, "rb") as f:
                if CHECKSUM_TAG in f.read():  # a damaged model file: say so, never parse it as data
                    raise
            header = None
    if header is not None and header.get("format") == FORMAT:
        import engine

        model = engine.load(path)
        info = {"kind": header["kind"], "covariance_type": header.get("covariance_type"), "shapes": header["shapes"],
                "feature_names": header.get("feature_names"), "engine_version": header.get("engine_version"),
                "attributes": {k: v for k, v in (header.get("attributes") or {}).items() if k != "training_"}}
        training = (header.get("attributes") or {}).get("training_")
        if training:
            info["training_rows"] = training.get("rows")
        text = [f"{path}: engine model, {header['kind']}"]
        if isinstance(model, engine.Transformed):
            info["transform"] = model.transform._spec()
            text.append(f"  transform: {model.transform!r}")
            text.append(f"  base: {model.base!r}")
            base = model.base
            if hasattr(base, "weights_"):
                text.append(f"  weights: {np.array2string(base.weights_, precision=4)}")
            training = ((header.get("attributes") or {}).get("base_attributes") or {}).get("training_")
            if training:
                info["training_rows"] = training.get("rows")
        if isinstance(model, engine.GaussianMixture):
            text.append(f"  {len(model.weights_)} components, {model.n_features_in_} features, {model.covariance_type} covariances")
            text.append(f"  features: {', '.join(info['feature_names'] or [])}")
            text.append(f"  weights: {np.array2string(model.weights_, precision=4)}")
        for k, v in info["attributes"].items():
            if k not in ("transform", "base_attributes", "base_feature_names"):
                text.append(f"  {k}: {v}")
        Reporter(args).summary(info, "\n".join(text))
        return 0
    dataset, paths = open_dataset(path)
    schema = dataset.schema
    rows = dataset.count_rows()
    info = {"path": path, "files": len(paths), "rows": rows,
            "columns": [{"name": f.name, "type": str(f.type)} for f in schema]}
    if all(p.lower().endswith((".parquet", ".pq")) for p in paths):
        md = [pq.ParquetFile(p).metadata for p in paths]
        info["row_groups"] = sum(m.num_row_groups for m in md)
        nulls = {}
        for m in md:
            for g in range(m.num_row_groups):
                rg = m.row_group(g)
                for c in range(rg.num_columns):
                    col = rg.column(c)
                    if col.statistics is not None and col.statistics.has_null_count:
                        nulls[col.path_in_schema] = nulls.get(col.path_in_schema, 0) + col.statistics.null_count
        for c in info["columns"]:
            c["nulls"] = nulls.get(c["name"])
    text = [f"{path}: {len(paths)} file(s), {rows:,} rows" + (f", {info['row_groups']} row groups" if "row_groups" in info else "")]
    for c in info["columns"]:
        text.append(f"  {c['name']:<24} {c['type']:<14}" + (f" nulls={c['nulls']}" if c.get("nulls") else ""))
    Reporter(args).summary(info, "\n".join(text))
    return 0
