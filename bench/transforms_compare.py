"""Side-by-side speed of transformed models (issue 17), measured in one run.

    python -m bench.transforms_compare [--n 1000000] [--repeat 5] [--markdown out.md]

Rows (1M x 8, K = 16, full covariances, Yeo–Johnson with a different lambda on every column):
* the untransformed Gaussian mixture's ``score_samples`` (the reference: target transformed >= 0.8x of it);
* ``Transformed(gm, YeoJohnson)`` scoring with T fused into the kernel's block load;
* the same in two passes: ``transform.forward`` + ``log_abs_det_jacobian`` (engine's kernel), then the
  mixture: what the fusion saves;
* the NumPy twins (``engine.reference.transforms`` then ``engine.reference.mixture_log_density``);
* the NumPy route users write today: scikit-learn's ``PowerTransformer(standardize=False).transform`` + our
  Jacobian in NumPy + scikit-learn's ``score_samples`` (when scikit-learn is installed);
* fitting lambda (8 columns, in memory: typically 4 passes of ``fit_power_lambdas``) against scikit-learn's
  ``PowerTransformer(standardize=False).fit``.
"""
import argparse
import json

import numpy as np

import engine
from engine import reference
from engine.reference import transforms as ref
from engine.transforms import YeoJohnson

from .common import best_time, mixture, sklearn_twin


def rows(n, repeat):
    K, D = 16, 8
    gm = mixture(K, D, "full")
    lam = np.linspace(0.2, 1.8, D)  # inside (0, 2) the map is onto the real line
    # data whose YJ transform looks like the mixture's scale
    Y = gm.sample(n, random_state=1)[0]
    X = YeoJohnson(lam).inverse(Y)
    t = YeoJohnson(lam)
    model = engine.Transformed(gm, t)
    model.score_samples(X[:1000])
    gm.score_samples(Y[:1000])
    out = {}
    out["untransformed score"] = best_time(lambda: gm.score_samples(Y), repeat)
    out["transformed score (fused)"] = best_time(lambda: model.score_samples(X), repeat)

    def two_pass():
        Z, ld = t._run(X, inverse=False)
        return gm.score_samples(Z) + ld
    out["transformed score (two passes)"] = best_time(two_pass, repeat)
    prog = t.program(list(range(D)))

    def numpy_twin():  # the NumPy reference: the transform's twin, then the mixture's (n x K) twin
        Z, ld = ref.transform_rows(X, prog.codes, prog.params)
        return reference.mixture_log_density(Z, *gm._kernel_params) + ld
    out["NumPy twin (transform + mixture)"] = best_time(numpy_twin, max(1, repeat // 2))
    try:
        from sklearn.preprocessing import PowerTransformer

        pt = PowerTransformer(standardize=False)
        pt.lambdas_ = lam
        pt.n_features_in_ = D
        sk = sklearn_twin(gm)

        def numpy_route():
            Z = pt.transform(X)
            ld = ((lam - 1) * np.sign(X) * np.log1p(np.abs(X))).sum(axis=1)
            return sk.score_samples(Z) + ld
        out["sklearn PowerTransformer + score_samples"] = best_time(numpy_route, max(1, repeat // 2))
        out["fit lambdas: engine"] = best_time(lambda: YeoJohnson().fit(X), max(1, repeat // 2))
        out["fit lambdas: sklearn PowerTransformer"] = best_time(
            lambda: PowerTransformer(standardize=False).fit(X), 1)
    except ImportError:
        pass
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)
    out = rows(args.n, args.repeat)
    base = out["untransformed score"]
    lines = ["| row | seconds | speed vs untransformed score |", "|---|---|---|"]
    for name, sec in out.items():
        lines.append(f"| {name} | {sec:.4f} | {base / sec:.2f}x |")
    text = "\n".join(lines)
    print(text)
    print(json.dumps(out))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
