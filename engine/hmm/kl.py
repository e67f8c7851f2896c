"""KL divergence rate between hidden Markov models, by Monte Carlo.

For sequences x_1:T drawn from p (starting from its ``startprob_``), the KL rate per step is

    (1/T) E_p[log p(x_1:T) - log q(x_1:T)],

estimated by the mean over n_sequences independent sequences of the per-step log-likelihood ratio, with the
standard error of that mean (the sequences are i.i.d., so the usual standard error is exact in its
assumptions; the steps inside a sequence are not, which is why the sequence is the unit). Both
log-likelihoods are exact forward-algorithm values. Sequences are drawn and scored in batches of at most
2**20 rows (bounded memory); each batch has its own key derived from the seed, so the estimate is the same
at any thread count.
"""
import numpy as np

from .. import _random


def kl_rate(p, q, n_sequences=1000, length=100, random_state=None, confidence=0.95):
    from ..estimation.kl import KLResult
    from statistics import NormalDist

    for name, v in (("n_sequences", n_sequences), ("length", length)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    for name, m in (("p", p), ("q", q)):
        m._check_fitted()
    if getattr(p, "n_features", None) != getattr(q, "n_features", None):
        raise ValueError(f"p and q emit different dimensions ({p.n_features} and {q.n_features})")
    key = _random.stream_key(random_state)
    per_batch = max(1, (1 << 20) // length)
    rates = []
    for b, start in enumerate(range(0, n_sequences, per_batch)):
        m = min(per_batch, n_sequences - start)
        lengths = [length] * m
        seed = np.random.SeedSequence([int(key), b])
        X, _ = p.sample(lengths=lengths, random_state=seed)
        rates.append((p.score_sequences(X, lengths) - q.score_sequences(X, lengths)) / length)
    d = np.concatenate(rates)
    est = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return KLResult(est, se, est - z * se, est + z * se, int(d.size), "mc")
