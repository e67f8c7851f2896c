"""``engine`` / ``python -m engine``: the command line."""
import argparse
import sys
from pathlib import Path

import numpy as np

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


def build_parser():
    parser = argparse.ArgumentParser(prog="engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="fit a Gaussian and a Gaussian mixture to a Parquet file")
    q.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="Parquet file (default: %(default)s)")
    q.add_argument("--columns", help="comma-separated feature columns (default: all numeric)")
    q.add_argument("--components", type=int, default=2, help="mixture components (default: %(default)s)")
    q.add_argument("--covariance-type", default="full", choices=["full", "tied", "diag", "spherical"])
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(run=_quickstart)
    demo = sub.add_parser("demo", help="reproduce the seed's studies").add_subparsers(dest="demo", required=True)
    d = demo.add_parser("kl-asymmetry", help="forward vs reverse KL fits of a Gaussian to a bimodal mixture")
    d.add_argument("--output", default="kl_asymmetry.png", help="PNG figure (needs matplotlib; '' for none)")
    d.add_argument("--n-samples", type=int, default=1_000_000, help="Monte Carlo samples per KL value")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(run=_demo_kl_asymmetry)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"engine {args.command}: error: {exc}", file=sys.stderr)
        return 2
