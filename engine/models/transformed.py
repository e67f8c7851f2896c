"""``engine.Transformed(base, transform)``: a model of y = T(x), seen in the data's own units.

By the change of variables, p_X(x) = p_Y(T(x)) |det J_T(x)|, so

    score_samples(X) = base log-density at T(X) + T.log_abs_det_jacobian(X)
    sample(n)        = T^-1(base samples)
    fit(X)           = fit T's free parameters on X, then the base on T(X)

For Gaussian bases (``MultivariateNormal``, ``GaussianMixture``, ``Mixture(family="gaussian")``) and array
input, T runs inside the scoring kernel on each block it loads (no extra pass, no n x D temporary). Other
bases (``Normal``, every product family, Student-t, the HMMs) are scored in chunks of
``STAGE_ROWS`` rows: T of one chunk, then the base's own kernel on it.

Bijections that bound the range (Box–Cox and Yeo–Johnson with some lambdas, which map onto a half-line) give
a density whose mass is the base's mass on T's range, at most 1 (for fitted lambdas the base's mass outside
is negligible); ``sample`` draws from the base and redraws the points that fall outside the range, so it
samples that density normalised.
"""
import numpy as np

from .. import _random
from .._registry import register
from .._staging import STAGE_ROWS
from .._validation import check_n_samples, output_array, shift_input_rows
from ..families.columns import column_keys, is_frame, is_table, n_rows
from ..transforms.core import OUTSIDE, Transform, from_spec, run_program


def _is_hmm(model):
    from ..hmm.models import _BaseHMM
    from ..hmm.markov import MarkovChain

    return isinstance(model, (_BaseHMM, MarkovChain))


def _gaussian_mixture_of(model):
    """The GaussianMixture whose kernel scores ``model``, or None."""
    from .family_mixture import Mixture
    from .mixture import GaussianMixture
    from .mvn import MultivariateNormal

    if isinstance(model, GaussianMixture):
        return model if hasattr(model, "weights_") else None
    if isinstance(model, MultivariateNormal):
        return model._mixture
    if isinstance(model, Mixture):
        return getattr(model, "_gm", None)
    return None


def _slice_rows(X, start, stop):
    if is_table(X):
        return X.slice(start, stop - start)
    if is_frame(X):
        return X.iloc[start:stop]
    return X[start:stop]


@register
class Transformed:
    """A model ``base`` of T(x), for data x: densities, samples, fits and KL in x's own units.

    base: any engine model or estimator (Normal, MultivariateNormal, GaussianMixture, Mixture of any family,
    the HMMs). transform: an ``engine.transforms`` transform. outside: "error" (a value outside T's domain
    is a ValueError naming column and row) or "zero-density" (its log-density is -inf).
    """

    def __init__(self, base, transform, outside="error"):
        if not isinstance(transform, Transform):
            raise TypeError(f"transform must be an engine.transforms transform, got {type(transform).__name__}")
        if outside not in OUTSIDE:
            raise ValueError(f"outside must be one of {OUTSIDE}, got {outside!r}")
        if isinstance(base, Transformed):
            raise TypeError("base is already Transformed: compose the transforms instead "
                            "(Transformed(base, Compose([t1, t2])))")
        self.base = base
        self.transform = transform
        self.outside = outside

    # ------------------------------------------------------------------ helpers
    def _keys(self, X):
        """X's columns: names for tables; for arrays, the base's feature names when it was fitted on named
        columns (scikit-learn's rule: arrays are then taken positionally), else indices."""
        if is_table(X) or is_frame(X):
            return column_keys(X)
        A = np.asarray(X)
        D = 1 if A.ndim == 1 else A.shape[1]
        names = getattr(self.base, "feature_names_in_", None)
        if names is not None and len(names) == D:
            return [str(c) for c in names]
        return list(range(D))

    def _forward(self, X):
        """(T(X), log|det J|(X)) under this model's domain policy."""
        keys = None if (is_table(X) or is_frame(X)) else self._keys(X)
        return self.transform._run(X, inverse=False, outside=self.outside, keys=keys)

    def _fast_gaussian(self, X):
        """The GaussianMixture scoring T(X) in its kernel, when X is an array it can take; else None."""
        gm = _gaussian_mixture_of(self.base)
        if gm is None or is_table(X) or is_frame(X) or _is_hmm(self.base):
            return None
        A = np.asarray(X)
        if A.dtype.kind not in "biuf" or A.ndim != 2 or A.shape[1] != gm.n_features_in_:
            return None
        return gm

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, **fit_params):
        """Fit the transform's free parameters on X, then the base on T(X) (``lengths`` for HMMs,
        ``sample_weight`` for mixtures pass through). Bases without ``fit`` (Normal, MultivariateNormal)
        are refitted by maximum likelihood (``engine.fit_mle``). Returns self."""
        from .mvn import MultivariateNormal
        from .normal import Normal

        self.transform.fit(X)
        Y, _ = self.transform._run(X, inverse=False)
        if isinstance(self.base, Normal):
            from ..estimation.mle import fit_mle

            self.base = fit_mle(Y, family="normal")
        elif isinstance(self.base, MultivariateNormal):
            from ..estimation.mle import fit_mle

            self.base = fit_mle(Y, family="mvn", covariance_type=self.base.covariance_type)
        else:
            self.base.fit(Y, **fit_params)
        return self

    def fit_stream(self, make_batches, keys=None, **fit_params):
        """Fit on a stream in bounded memory: ``make_batches()`` returns a fresh iterator of batches (arrays
        or tables) and is called once per pass: the transform's passes (Standardize 1, a power transform typically 4),
        then the base's ``fit_stream`` over transformed batches."""
        if not hasattr(self.base, "fit_stream"):
            raise TypeError(f"{type(self.base).__name__} has no fit_stream")
        self.transform.fit_stream(make_batches, keys)

        def transformed():
            for b in make_batches():
                yield self._forward(b)[0]

        self.base.fit_stream(transformed, **fit_params)
        return self

    # ------------------------------------------------------------------ density
    def score_samples(self, X, lengths=None, out=None):
        """log p(x) per row (n,) in x's units: the base's log-density at T(x) plus log|det J_T(x)|; ``out``:
        a caller-owned (n,) array to write into. (For an HMM base: the total log-likelihood of the sequences
        and the state posteriors, as hmmlearn.)"""
        if _is_hmm(self.base):
            Y, ld = self._forward(X)
            logprob, post = self.base.score_samples(Y, lengths)
            return logprob + float(np.sum(ld)), post
        gm = self._fast_gaussian(X)
        if gm is not None:
            keys = self._keys(X)
            A = gm._validate_data(X, reset=False)
            return gm._log_density(A, program=self.transform.program(keys), outside=self.outside, out=out)
        return self._chunked(X, self._base_log_density, out)

    logpdf = score_samples

    def _base_log_density(self, Y):
        if hasattr(self.base, "score_samples"):
            return np.asarray(self.base.score_samples(Y), dtype=np.float64)
        return np.asarray(self.base.logpdf(Y), dtype=np.float64)

    def _chunked(self, X, per_chunk, out=None):
        """log p(x) chunk by chunk: T of ``STAGE_ROWS`` rows, then the base's kernel on them."""
        n = n_rows(X) if (is_table(X) or is_frame(X)) else len(np.asarray(X))
        out = output_array(out, (n,), np.float64, inputs=(X,))
        prog = self.transform.program(self._keys(X))
        tabular = is_table(X) or is_frame(X)
        for start in range(0, max(n, 1), STAGE_ROWS):
            stop = min(n, start + STAGE_ROWS)
            chunk = _slice_rows(X, start, stop)
            try:
                if tabular:
                    Y, ld = self._forward(chunk)
                else:
                    A = np.asarray(chunk)
                    one_d = A.ndim == 1
                    Y, ld = run_program(prog, A[:, None] if one_d else A, outside=self.outside)
                    Y = Y[:, 0] if one_d else Y
            except ValueError as exc:  # rows of the chunk -> rows of the input
                raise ValueError(shift_input_rows(str(exc), start)) from None
            out[start:stop] = per_chunk(Y) + ld
        return out

    def score(self, X, y=None, lengths=None):
        """Mean log-likelihood per row (an HMM base: the total log-likelihood of the sequences, as hmmlearn)."""
        if _is_hmm(self.base):
            Y, ld = self._forward(X)
            return float(self.base.score(Y, lengths)) + float(np.sum(ld))
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def predict_proba(self, X, lengths=None, out=None):
        """The base's responsibilities (state posteriors for an HMM) at T(X): a bijection leaves p(k | x)
        unchanged, so these are the posteriors in x's units too. ``out``: a caller-owned (n, K) array."""
        if not hasattr(self.base, "predict_proba"):
            raise AttributeError(f"{type(self.base).__name__} has no predict_proba")
        Y, _ = self._forward(X)
        kw = {} if out is None else {"out": out}  # a base without out= still works without one
        if _is_hmm(self.base):
            return self.base.predict_proba(Y, lengths, **kw)
        return self.base.predict_proba(Y, **kw)

    def predict(self, X, lengths=None):
        if not hasattr(self.base, "predict"):
            raise AttributeError(f"{type(self.base).__name__} has no predict")
        Y, _ = self._forward(X)
        return self.base.predict(Y, lengths) if _is_hmm(self.base) else self.base.predict(Y)

    def decode(self, X, lengths=None, algorithm=None):
        """(log-probability in x's units, states) of an HMM base (Viterbi or MAP at T(X))."""
        if not _is_hmm(self.base):
            raise AttributeError("decode needs an HMM base")
        Y, ld = self._forward(X)
        lp, states = self.base.decode(Y, lengths, algorithm)
        return lp + float(np.sum(ld)), states

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples=1, random_state=None, **kw):
        """T^-1 of the base's samples, with the base's labels/states when it returns them. Draws that fall
        outside T's range are redrawn (deterministically for a seed); an HMM base's sequences cannot be
        redrawn point by point, so there such a draw is an error. Keywords go to the base's ``sample``: with
        its ``out=`` (a float array) the base draws into the caller's array and T^-1 is applied there in
        place; its ``labels_out=``/``states_out=`` receive the labels or states, redraws included."""
        n = check_n_samples(n_samples)
        out = kw.get("out")
        if out is not None and not (isinstance(out, np.ndarray) and out.dtype.kind == "f"):
            raise TypeError(f"out must be a float32 or float64 NumPy array (T^-1 is applied in it), got "
                            f"{getattr(out, 'dtype', type(out).__name__)}")
        key = _random.stream_key(getattr(self.base, "random_state", None) if random_state is None else random_state)
        draw = self.base.sample(n, random_state=np.random.SeedSequence([int(key), 0]), **kw)
        X, extra = (draw[0], draw[1:]) if isinstance(draw, tuple) else (draw, ())
        X = self._inverse_or_nan(X, in_place=out is not None)
        bad = _bad_rows(X)
        attempt = 1
        while bad.size:
            if _is_hmm(self.base):
                raise ValueError(f"{bad.size} sampled points fall outside the transform's range (no preimage); "
                                 "an HMM's sequences cannot be redrawn point by point")
            if attempt > 64:
                raise ValueError("the base model puts almost all its mass outside the transform's range")
            more = self.base.sample(max(2 * bad.size, 64), random_state=np.random.SeedSequence([int(key), attempt]))
            mX, mextra = (more[0], more[1:]) if isinstance(more, tuple) else (more, ())
            mX = self._inverse_or_nan(mX)
            good = np.flatnonzero(_bad_rows(mX, keep=True) == 0)[:bad.size]
            X[bad[:good.size]] = mX[good]
            # the base's fresh arrays (or the caller's buffers) are patched in place
            extra = tuple(e if isinstance(e, np.ndarray) and e.flags.writeable else np.array(e) for e in extra)
            for e, me in zip(extra, mextra):
                e[bad[:good.size]] = np.asarray(me)[good]
            bad = bad[good.size:]
            attempt += 1
        return (X, *extra) if extra else X

    def _inverse_or_nan(self, X, in_place=False):
        """T^-1 of sampled rows (NaN where a draw has no preimage), in a new array or (``in_place``, a float
        array) in X itself. Columns are the base's (by its feature names when it has them); non-numeric
        columns (a categorical's values) pass through."""
        one_d = np.ndim(X) == 1
        A = np.asarray(X)
        A2 = A[:, None] if one_d else A
        names = getattr(self.base, "feature_names_in_", None)
        keys = list(names) if names is not None and len(names) == A2.shape[1] else list(range(A2.shape[1]))
        prog = self.transform.program(keys)
        act = prog.active
        if in_place:
            out = A2
        else:
            out = A2.copy() if A2.dtype.kind in "fO" else A2.astype(np.float64)
        if act:
            from ..kernels import transforms as tk

            sub = np.ascontiguousarray(A2[:, act], dtype=np.float64)
            res = np.empty_like(sub)
            tk.transform_rows(sub, np.ascontiguousarray(prog.codes[act]), np.ascontiguousarray(prog.params[act]),
                              True, False, res, np.empty(0))
            out[:, act] = res
        if in_place:
            return A
        return out[:, 0] if one_d else out

    # ------------------------------------------------------------------ model selection
    @property
    def n_parameters(self):
        """Free parameters: the base's plus the transform's fitted ones (lambdas, Standardize's moments)."""
        base = self.base
        if hasattr(base, "n_parameters"):
            p = base.n_parameters
            p = p() if callable(p) else p
        elif hasattr(base, "_n_parameters"):
            p = base._n_parameters()
        else:
            from .mvn import MultivariateNormal

            if isinstance(base, MultivariateNormal):
                D = base.n_features
                p = D + {"full": D * (D + 1) // 2, "diag": D, "spherical": 1}[base.covariance_type]
            else:
                p = 2  # Normal
        return int(p) + int(self.transform.n_fitted_parameters)

    def bic(self, X, lengths=None):
        """-2 log L + p log n, log L in x's units, p counting the transform's fitted parameters."""
        n = n_rows(X) if (is_table(X) or is_frame(X)) else len(X)
        return -2 * self._total(X, lengths) + self.n_parameters * np.log(n)

    def aic(self, X, lengths=None):
        return -2 * self._total(X, lengths) + 2 * self.n_parameters

    def _total(self, X, lengths):
        if _is_hmm(self.base):
            return self.score(X, lengths=lengths)
        return float(np.sum(self.score_samples(X), dtype=np.float64))

    # ------------------------------------------------------------------ model files
    def save(self, path):
        """Write the model (base and transform) in engine's versioned, pickle-free format (``engine.load``)."""
        from ..io.model_file import save

        return save(self, path)

    def _model_record(self):
        from .._registry import lookup

        kind = type(self.base).__name__
        if lookup(kind) is not type(self.base) or not hasattr(self.base, "_model_record"):
            raise TypeError(f"cannot save a Transformed {kind}")
        extra, arrays = self.base._model_record()
        extra = dict(extra)
        names = getattr(self.base, "feature_names_in_", None)
        header = {"base_kind": kind, "base_covariance_type": extra.pop("covariance_type", None),
                  "base_attributes": extra, "transform": self.transform._spec(), "outside": self.outside,
                  "base_feature_names": None if names is None else [str(c) for c in names]}
        return header, {f"base_{k}": v for k, v in arrays.items()}

    @classmethod
    def _from_model_record(cls, header, arrays):
        from .._registry import lookup

        att = header.get("attributes") or {}
        base_cls = lookup(att.get("base_kind"))
        if base_cls is None or base_cls is cls:
            raise ValueError(f"unknown base model kind {att.get('base_kind')!r}")
        base_header = {"kind": att["base_kind"], "covariance_type": att.get("base_covariance_type"),
                       "attributes": att.get("base_attributes") or {}}
        base = base_cls._from_model_record(base_header, {k[5:]: v for k, v in arrays.items() if k.startswith("base_")})
        names = att.get("base_feature_names")
        if names is not None:
            base.feature_names_in_ = (np.asarray(names, dtype=object)
                                      if getattr(base_cls, "_feature_names_as_array", False) else list(names))
        return cls(base, from_spec(att["transform"]), att.get("outside", "error"))

    def __repr__(self):
        return f"Transformed({self.base!r}, {self.transform!r})"


def _bad_rows(X, keep=False):
    A = np.asarray(X)
    if A.dtype.kind == "O":
        bad = np.array([any(isinstance(v, float) and v != v for v in np.atleast_1d(row)) for row in A], dtype=bool)
    else:
        A = A.astype(np.float64, copy=False)
        bad = np.isnan(A) if A.ndim == 1 else np.isnan(A).any(axis=1)
    return bad.astype(np.int8) if keep else np.flatnonzero(bad)
