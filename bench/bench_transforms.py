"""asv: transformed models (issue 17): scoring with the transform fused into the kernel against the
untransformed mixture, two passes and the NumPy twin; fitting power-transform lambdas."""
import numpy as np

import engine
from engine.reference import transforms as ref
from engine.transforms import Affine, Log, YeoJohnson

from .common import mixture, throughput

D = 8
LAMBDAS = np.linspace(0.2, 1.8, D)


def _transform(name):
    return {"yeo-johnson": YeoJohnson(LAMBDAS), "log": Log(), "affine": Affine(1.0, 2.0)}[name]


class TransformedScore:
    """1M x 8 points, K = 16 full components: log p(x) in the data's units."""
    params = (["none", "affine", "log", "yeo-johnson"], ["fused", "two-pass", "numpy"])
    param_names = ["transform", "implementation"]
    timeout = 300

    def setup(self, transform, implementation):
        gm = mixture(16, D, "full")
        Y = gm.sample(1_000_000, random_state=1)[0]
        if transform == "none":
            if implementation != "fused":
                raise NotImplementedError("the untransformed row is the reference")
            self.fn = lambda: gm.score_samples(Y)
        else:
            t = _transform(transform)
            X = t.inverse(Y) if transform != "log" else np.exp(Y)
            model = engine.Transformed(gm, t)
            prog = t.program(list(range(D)))
            if implementation == "fused":
                self.fn = lambda: model.score_samples(X)
            elif implementation == "two-pass":
                self.fn = lambda: gm.score_samples(t.forward(X)) + t.log_abs_det_jacobian(X)
            else:
                from engine import reference

                def numpy_twin():
                    Z, ld = ref.transform_rows(X, prog.codes, prog.params)
                    return reference.mixture_log_density(Z, *gm._kernel_params) + ld
                self.fn = numpy_twin
        self.fn()

    def time_score(self, transform, implementation):
        self.fn()

    def track_points_per_second(self, transform, implementation):
        return throughput(self.fn, 1_000_000)

    track_points_per_second.unit = "points/s"


class PowerLambdaFit:
    """Maximum-likelihood Yeo–Johnson lambdas of 1M x 8 (engine: a few passes, all columns at once)."""
    params = (["engine", "sklearn"],)
    param_names = ["implementation"]
    timeout = 300

    def setup(self, implementation):
        self.X = np.random.default_rng(0).lognormal(size=(1_000_000, D)) - 0.5
        if implementation == "engine":
            self.fn = lambda: YeoJohnson().fit(self.X)
            YeoJohnson().fit(self.X[:1000])
        else:
            try:
                from sklearn.preprocessing import PowerTransformer
            except ImportError:
                raise NotImplementedError("scikit-learn is not installed") from None
            self.fn = lambda: PowerTransformer(standardize=False).fit(self.X)

    def time_fit(self, implementation):
        self.fn()
