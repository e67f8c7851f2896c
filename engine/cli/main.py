"""``engine`` / ``python -m engine``: the command line."""
import argparse
import sys
from pathlib import Path

import numpy as np

from .. import _termination

DEFAULT_DATA = Path("datasets") / "faithful.parquet"


def _quickstart(args):
    """Fit a Gaussian (closed-form MLE) and a K-component mixture (EM) to a data set; print both."""
    import engine
    from engine.io import read_features

    X, names = read_features(args.data, columns=args.columns.split(",") if args.columns else None)
    print(f"data: {args.data}  ({X.shape[0]} rows; columns: {', '.join(names)})")
    gauss = engine.fit_mle(X)
    print("\nGaussian (maximum likelihood, closed form)")
    print(f"  mean        {np.array2string(gauss.mean, precision=4)}")
    print("  covariance  " + np.array2string(gauss.covariance, precision=4).replace("\n", "\n              "))
    print(f"  mean log-likelihood  {np.mean(gauss.logpdf(X)):.6f}")
    gmm = engine.GaussianMixture(args.components, covariance_type=args.covariance_type, random_state=args.seed).fit(X)
    print(f"\nGaussian mixture, K={args.components}, {args.covariance_type} covariances "
          f"(EM: {gmm.n_iter_} iterations, converged={gmm.converged_})")
    for k in np.argsort(gmm.means_[:, 0]):
        print(f"  weight {gmm.weights_[k]:.4f}  mean {np.array2string(gmm.means_[k], precision=4)}")
    print(f"  mean log-likelihood  {gmm.score(X):.6f}")
    print(f"\nmixture - Gaussian: {gmm.score(X) - np.mean(gauss.logpdf(X)):+.6f} nats per point")
    return 0


def _demo_kl_asymmetry(args):
    """The seed's forward-vs-reverse KL study; prints both fits and the four divergences, writes a PNG."""
    from engine.studies import kl_asymmetry

    result = kl_asymmetry.run(n_kl=args.n_samples, random_state=args.seed)
    print(result.summary())
    if args.output:
        try:
            print(f"figure: {kl_asymmetry.plot(result, args.output)}")
        except ImportError as exc:
            print(f"(no figure: {exc})")
    return 0


def _common(p, device=False):
    p.add_argument("--quiet", action="store_true", help="no progress bars or notes")
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON summary")
    p.add_argument("--threads", type=int, help="Numba threads (default: all cores)")
    if device:
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])


def _data(p):
    p.add_argument("input", help="Parquet/Arrow IPC/CSV file, directory or glob")
    p.add_argument("--columns", help="comma-separated feature columns (default: all numeric columns)")
    p.add_argument("--batch-size", type=int, default=262_144, help="rows per streamed batch (default: %(default)s)")


def build_parser():
    from . import commands as c

    parser = argparse.ArgumentParser(prog="engine", description="Gaussian and mixture models on large data: "
                                     "fit, score, sample, KL (see README.md).")
    sub = parser.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a Gaussian mixture by EM (in memory or streamed, exact either way)")
    _data(f)
    f.add_argument("--components", default="1", help="K, or 'auto' to choose K by BIC up to --max-components")
    f.add_argument("--max-components", type=int, default=8)
    f.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    f.add_argument("--family", default="gaussian",
                   help="gaussian (default), bernoulli, categorical, poisson, exponential, student-t (with "
                        "--covariance-type), auto (per column from its "
                        "Arrow type: strings/dictionaries/booleans categorical, floats gaussian, 0/1 integers "
                        "bernoulli, other non-negative integers poisson), or col=family,col2=family,...")
    f.add_argument("--dof", type=float, default=None,
                   help="student-t: fixed degrees of freedom (default: learned per component)")
    f.add_argument("--missing", default="error", choices=["error", "marginalize"],
                   help="null/NaN entries (non-Gaussian families): fail, or leave them out of the likelihood")
    f.add_argument("--bayesian", action="store_true",
                   help="variational Bayesian Gaussian mixture (engine.BayesianGaussianMixture): --components is the "
                        "most components; the weight prior switches off the ones the data do not need")
    f.add_argument("--weight-prior-type", default="dirichlet-process",
                   choices=["dirichlet-process", "dirichlet-distribution"],
                   help="--bayesian: the prior on the weights (default: %(default)s)")
    f.add_argument("--weight-prior", type=float, default=None,
                   help="--bayesian: the weight concentration prior (default 1/K; smaller leaves fewer components)")
    f.add_argument("--max-iter", type=int, default=100)
    f.add_argument("--tol", type=float, default=1e-3)
    f.add_argument("--reg-covar", type=float, default=1e-6)
    f.add_argument("--n-init", type=int, default=1)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--nulls", default="error", choices=["error", "drop"], help="rows with nulls: fail (default) or drop")
    f.add_argument("--in-memory", default="auto", choices=["auto", "yes", "no"],
                   help="load the features (auto: when they fit in --memory-limit-mb) or stream every EM pass")
    f.add_argument("--memory-limit-mb", type=float, default=2048)
    f.add_argument("--transform", help="fit in transformed coordinates (Gaussian mixtures): a transform for every "
                   "column ('yeo-johnson', 'box-cox', 'log', 'logit', 'standardize', stages joined by '+') or per "
                   "column ('price=log,delay=yeo-johnson'); densities, scores and samples stay in the data's units")
    f.add_argument("--model-out", required=True, help="model file to write")
    f.add_argument("--model", default="mixture", choices=["mixture", "hmm"],
                   help="mixture (default) or hmm: a hidden Markov model over sequences (--sequence-column, --order-by)")
    f.add_argument("--sequence-column", help="--model hmm: the column that identifies a row's sequence")
    f.add_argument("--order-by", help="--model hmm: the column that orders the rows within a sequence")
    f.add_argument("--states", type=int, help="--model hmm: the number of hidden states")
    f.add_argument("--temp-dir", help="--model hmm, streamed (--in-memory no, or auto above --memory-limit-mb): "
                   "where the rows regrouped by sequence go (default: the system's temporary directory)")
    f.add_argument("--overwrite", action="store_true")
    f.add_argument("--scheduler", help="run on Dask: a scheduler ADDRESS, or local[:N] for a local cluster of N workers")
    _common(f, device=True)
    f.set_defaults(run=c.cmd_fit)

    s_ = sub.add_parser("score", help="log-density (and responsibilities, labels, anomaly flags) per row")
    _data(s_)
    s_.add_argument("--model", required=True)
    s_.add_argument("--output", required=True, help="Parquet file to write")
    s_.add_argument("--id-column", help="comma-separated columns copied to the output (ids, pass-through)")
    s_.add_argument("--responsibilities", action="store_true", help="add resp_0..resp_{K-1}")
    s_.add_argument("--labels", action="store_true", help="add the most probable component")
    s_.add_argument("--anomaly-quantile", type=float, help="flag rows below this quantile of the training log-density")
    s_.add_argument("--nulls", default="error", choices=["error", "drop", "keep"],
                    help="rows with nulls: fail (default), drop, or keep with null scores")
    s_.add_argument("--overwrite", action="store_true")
    s_.add_argument("--scheduler", help="run on Dask (ADDRESS or local[:N]); the output is then a directory of Parquet parts")
    _common(s_, device=True)
    s_.set_defaults(run=c.cmd_score)

    sm = sub.add_parser("sample", help="draw samples from a model file into Parquet (streamed, any n)")
    sm.add_argument("--model", required=True)
    sm.add_argument("-n", type=int, required=True)
    sm.add_argument("--output", required=True)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--batch-size", type=int, default=262_144)
    sm.add_argument("--overwrite", action="store_true")
    _common(sm)
    sm.set_defaults(run=c.cmd_sample)

    k = sub.add_parser("kl", help="KL divergence between two model files, a data set and a model (--data, --q), "
                                  "or two data sets (--data, --data2), with its standard error and interval")
    k.add_argument("--p", help="model file of p")
    k.add_argument("--q", help="model file of q")
    k.add_argument("--data", help="samples of p: Parquet/Arrow/CSV file, directory or glob (nearest neighbours)")
    k.add_argument("--data2", help="samples of q (two-sample KL, Wang-Kulkarni-Verdu)")
    k.add_argument("--columns", help="comma-separated feature columns of the data (default: the model's, else all numeric)")
    k.add_argument("--k", type=int, default=1, help="neighbour rank for --data (default: %(default)s)")
    k.add_argument("--n-subsamples", type=int, default=100, help="subsamples for the --data interval")
    k.add_argument("--ties", default="error", choices=["error", "dequantize"],
                   help="duplicate points in --data: fail, or add one data resolution of uniform noise per column")
    k.add_argument("--method", default="auto", choices=["auto", "exact", "mc", "variational", "knn"])
    k.add_argument("--n-samples", type=int, default=1_000_000)
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--confidence", type=float, default=0.95)
    _common(k, device=True)
    k.set_defaults(run=c.cmd_kl)

    d = sub.add_parser("datasets", help="synthetic data sets from known mixtures").add_subparsers(dest="action", required=True)
    dm = d.add_parser("make", help="write NAME with --rows rows (and NAME's true model beside it)")
    dm.add_argument("name", choices=sorted(c.SYNTHETIC))
    dm.add_argument("--rows", type=int, required=True)
    dm.add_argument("--output", required=True)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--batch-size", type=int, default=262_144)
    dm.add_argument("--overwrite", action="store_true")
    _common(dm)
    dm.set_defaults(run=c.cmd_datasets_make)

    i = sub.add_parser("info", help="describe a data file/directory or a model file")
    i.add_argument("input")
    _common(i)
    i.set_defaults(run=c.cmd_info)

    q = sub.add_parser("quickstart", help="fit a Gaussian and a Gaussian mixture to a Parquet file")
    q.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="Parquet file (default: %(default)s)")
    q.add_argument("--columns", help="comma-separated feature columns (default: all numeric)")
    q.add_argument("--components", type=int, default=2, help="mixture components (default: %(default)s)")
    q.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    q.add_argument("--seed", type=int, default=0)
    _common(q)
    q.set_defaults(run=_quickstart)

    demo = sub.add_parser("demo", help="reproduce the seed's studies").add_subparsers(dest="demo", required=True)
    dk = demo.add_parser("kl-asymmetry", help="forward vs reverse KL fits of a Gaussian to a bimodal mixture")
    dk.add_argument("--output", default="kl_asymmetry.png", help="PNG figure (needs matplotlib; '' for none)")
    dk.add_argument("--n-samples", type=int, default=1_000_000, help="Monte Carlo samples per KL value")
    dk.add_argument("--seed", type=int, default=0)
    _common(dk)
    dk.set_defaults(run=_demo_kl_asymmetry)
    return parser


def _terminate(signum, frame):
    # SIGTERM becomes a normal exit, so open outputs are aborted (temporary files removed) on the way out; the
    # request is also recorded, in case the exception is raised where Python drops it (see _termination)
    _termination.request(signum)
    raise SystemExit(128 + signum)


def main(argv=None):
    import signal

    import pyarrow as pa

    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if getattr(args, "threads", None) is not None:
        import numba

        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            print(f"engine {args.command}: error: --threads must be in 1..{numba.config.NUMBA_NUM_THREADS}", file=sys.stderr)
            return 2
        numba.set_num_threads(args.threads)
    try:
        status = args.run(args)
        _termination.check()  # a request whose SystemExit was swallowed on the way: still a terminated job
        return status
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError, pa.ArrowException, OSError) as exc:
        message = " ".join(str(exc).split())  # one line
        print(f"engine {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"engine {args.command}: interrupted", file=sys.stderr)
        return 130
