"""In-process A/B of two engine source trees: both imported side by side, timed alternately.

    git worktree add /tmp/old REV
    python -m bench.ab /tmp/old . [--cases normal,diag,full] [--rounds 8] [--n 1000000]

On a shared machine the speed of a whole process drifts by 10-15% from run to run, more than most changes
a kernel gets; two versions in one process, alternating round by round, see the same drift. Each tree's
``engine/`` is imported under its own package name (engine's imports are relative), so each compiles into
its own Numba cache. Prints, per case and tree, the best and the median of the rounds' best-of-5 times;
run it in both orders (A B, then B A) before believing a difference.

Cases (1M × 8, K = 16 mixtures, as ``bench.compare``): ``normal`` (8n normals into a buffer), ``diag`` and
``full`` (GMM sampling into caller-owned arrays and into new ones), ``score-full`` and ``score-diag``
(log-densities of n of the model's points into a buffer), ``proba-full`` and ``proba-diag`` (their
responsibilities into a buffer), ``estep-full`` and ``estep-diag`` (their E-step statistics); ``--dim`` and
``--components`` change D and K.
"""
import argparse
import importlib
import os
import sys
import tempfile
import time

import numpy as np


def _cases(engine, kinds, n, D=8, K=16):
    rng = np.random.default_rng(1)
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(scale=3, size=(K, D))
    A = rng.normal(size=(K, D, D))
    covariances = {"full": A @ A.transpose(0, 2, 1) / D + 0.5 * np.eye(D),
                   "diag": np.abs(rng.normal(size=(K, D))) + 0.5}
    cases = {}
    for kind in kinds:
        if kind == "normal":
            z, normal = np.empty(8 * n), engine.Normal(0.0, 1.0)
            cases["normal out="] = lambda seed, z=z, m=normal: m.sample(z.shape[0], random_state=seed, out=z)
            continue
        if kind.startswith(("score-", "proba-", "estep-")):
            # log-densities or responsibilities of n points drawn from the model into a reused buffer (the
            # scoring kernels), or the E-step's statistics of them (engine.em.e_step_stats: one pass, as in
            # an EM iteration)
            cov = kind.split("-", 1)[1]
            if cov not in covariances:
                raise ValueError(f"--cases: unknown case {kind!r} (score-, proba- or estep- full or diag)")
            model = engine.GaussianMixture.from_params(weights, means, covariances[cov], cov)
            X, _ = model.sample(n, random_state=0)
            if kind.startswith("score-"):
                buf = np.empty(n)
                cases[f"{kind} out="] = lambda seed, m=model, X=X, b=buf: m.score_samples(X, out=b)
            elif kind.startswith("proba-"):
                buf = np.empty((n, K))
                cases[f"{kind} out="] = lambda seed, m=model, X=X, b=buf: m.predict_proba(X, out=b)
            else:
                cases[kind] = lambda seed, m=model, X=X: engine.em.e_step_stats(m, X)
            continue
        if kind not in covariances:
            raise ValueError(f"--cases: unknown case {kind!r} (normal, diag, full, or score-, proba- or estep- "
                             "full or diag)")
        model = engine.GaussianMixture.from_params(weights, means, covariances[kind], kind)
        out, labels = np.empty((n, D)), np.empty(n, dtype=np.int64)
        cases[f"{kind} out="] = lambda seed, m=model, o=out, l=labels: m.sample(n, random_state=seed, out=o,
                                                                                labels_out=l)
        cases[f"{kind} fresh"] = lambda seed, m=model: m.sample(n, random_state=seed)
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", help="directories that each hold an engine/ package")
    parser.add_argument("--cases", default="normal,diag,full")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=8, help="the mixtures' dimension D")
    parser.add_argument("--components", type=int, default=16, help="the mixtures' component count K")
    args = parser.parse_args(argv)
    links = tempfile.mkdtemp(prefix="engine-ab-")
    modules = []
    for i, tree in enumerate(args.trees):
        package = os.path.join(os.path.abspath(tree), "engine")
        if not os.path.isfile(os.path.join(package, "__init__.py")):
            raise SystemExit(f"{tree}: no engine/ package there")
        os.symlink(package, os.path.join(links, f"engine_ab{i}"))
    sys.path.insert(0, links)
    for i in range(len(args.trees)):
        modules.append(importlib.import_module(f"engine_ab{i}"))
    kinds = [k.strip() for k in args.cases.split(",") if k.strip()]
    cases = [_cases(m, kinds, args.n, args.dim, args.components) for m in modules]
    for tree_cases in cases:  # compile (or load) every kernel before timing
        for run in tree_cases.values():
            run(1)
    best = [{name: [] for name in tree_cases} for tree_cases in cases]
    for _ in range(args.rounds):
        for i, tree_cases in enumerate(cases):
            for name, run in tree_cases.items():
                times = []
                for seed in range(2, 7):
                    t = time.perf_counter()
                    run(seed)
                    times.append(time.perf_counter() - t)
                best[i][name].append(min(times) * 1e3)
    for name in cases[0]:
        print(f"{name:12}" + "  ".join(f"{tree}: best {min(best[i][name]):.2f} ms, median {np.median(best[i][name]):.2f}"
                                        for i, tree in enumerate(args.trees)))


if __name__ == "__main__":
    main()
