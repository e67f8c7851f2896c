"""KL divergence for ``engine.Mixture`` families (see ``engine.estimation.kl`` for the Gaussian ones).

* "exact": two single-component product models over the same columns: the sum over columns of the
  closed forms (Bernoulli, categorical, Poisson, exponential, univariate Gaussian), since the columns are
  independent.
* "variational": Hershey & Olsen (2007) for mixtures of them, from the same component closed forms.
* "mc": any two models with a log-density and a sampler (p must sample): batches of p's samples, scored by
  both, with the standard error of the mean log-ratio. When p and q are product models over the same
  columns the samples stay in code form (no decode/encode round trip).
"""
import numpy as np

from ..models.family_mixture import Mixture


def _product(model, name):
    """The model if it is a product-family Mixture (closed forms exist per column), else None."""
    from ..families.product import ProductFamily

    if not isinstance(model, Mixture):
        return None
    model._check_fitted()
    return model if isinstance(getattr(model, "_family_obj", None), ProductFamily) else None


def _same_columns(p, q):
    fp, fq = p._family_obj, q._family_obj
    if len(fp.columns) != len(fq.columns):
        return False
    for a, b in zip(fp.columns, fq.columns):
        if a.kind != b.kind or (a.categories is not None and not np.array_equal(a.categories, b.categories)):
            return False
    return fp.dense_type == fq.dense_type


def component_kl(p, a, q, b):
    """D_KL(component a of p || component b of q) for product models over the same columns."""
    fam = p._family_obj
    P, Q = p._params, q._params
    total = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, col in enumerate(fam.columns):
            x, y = P.loc[a, j], Q.loc[b, j]
            if col.kind == "gaussian":
                vp, vq = P.var[a, j], Q.var[b, j]
                total += 0.5 * (np.log(vq / vp) + (vp + (x - y) ** 2) / vq - 1.0)
            elif col.kind == "bernoulli":
                total += _xlogy(x, x / y) + _xlogy(1 - x, (1 - x) / (1 - y))
            elif col.kind == "poisson":
                total += _xlogy(x, x / y) - x + y
            elif col.kind == "exponential":
                total += np.log(x / y) + y / x - 1.0
            elif col.kind == "dense":
                continue  # the block, below
            else:
                lo = fam.encoder.cat_offsets[j]
                pp = P.cat_probs[a, lo:lo + col.n_categories]
                qq = Q.cat_probs[b, lo:lo + col.n_categories]
                total += np.sum(_xlogy(pp, pp / qq))
    if fam.dense_cols.size:
        from .kl import gaussian_kl

        def block(params, k):
            c = params.dense_cov[k] if fam.dense_type == "full" else params.dense_cov
            return params.dense_means[k], np.linalg.cholesky(c)

        total += gaussian_kl(*block(P, a), *block(Q, b))
    return float(total)


def _xlogy(x, r):
    """x log r with 0 log(anything) = 0 (the convention that makes KL finite when p puts no mass)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x * np.log(np.where(x > 0, r, 1.0)), 0.0)


def _variational(p, q):
    wp, wq = p._params.weights, q._params.weights
    with np.errstate(divide="ignore"):
        lwp, lwq = np.log(wp), np.log(wq)
    total = 0.0
    for a in range(len(wp)):
        if wp[a] == 0:
            continue
        own = [lwp[b] - component_kl(p, a, p, b) for b in range(len(wp))]
        cross = [lwq[b] - component_kl(p, a, q, b) for b in range(len(wq))]
        total += wp[a] * (np.logaddexp.reduce(own) - np.logaddexp.reduce(cross))
    return float(total)


def family_kl_divergence(p, q, method, n_samples, random_state, confidence):
    from .kl import KLResult, _monte_carlo

    pp, qq = _product(p, "p"), _product(q, "q")
    comparable = pp is not None and qq is not None and _same_columns(pp, qq)
    if method in ("auto", "exact") and comparable and len(pp.weights_) == 1 and len(qq.weights_) == 1:
        value = component_kl(pp, 0, qq, 0)
        return KLResult(value, 0.0, value, value, 0, "exact")
    if method == "exact":
        raise ValueError("method='exact' needs two single-component product models over the same columns "
                         "(a mixture's KL has no closed form); use 'mc' or 'variational'")
    if method == "variational":
        if not comparable:
            raise ValueError("method='variational' needs two product-family mixtures over the same columns")
        value = _variational(pp, qq)
        return KLResult(value, np.nan, np.nan, np.nan, 0, "variational")
    if pp is None:  # p is not a product model: the generic draw of kl._monte_carlo
        return _monte_carlo(p, q, n_samples, random_state, confidence)

    def log_ratio(m, start, key):
        # p's own counter-based sampler; both densities on its code matrix when the columns agree
        codes, _ = pp._family_obj.sample(pp._params, m, key, offset=start)
        lp = pp._family_obj.log_density_codes(codes, pp._params)
        if comparable:
            return lp - qq._family_obj.log_density_codes(codes, qq._params)
        return lp - np.asarray(q.score_samples(pp._decode(codes)), dtype=np.float64)

    return _monte_carlo(p, q, n_samples, random_state, confidence, log_ratio)
