"""NumPy twins of the HMM kernels (test oracle, benchmark baseline): log-space forward-backward and Viterbi
over concatenated sequences, written the plain way (a Python loop over steps, vectorised over states)."""
import numpy as np
from scipy.special import logsumexp


def _split(n, lengths):
    lengths = [n] if lengths is None else list(lengths)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [(int(bounds[i]), int(bounds[i + 1])) for i in range(len(lengths))]


def forward_backward(startprob, transmat, log_frame, lengths=None):
    """(per-sequence log-likelihoods (S,), state posteriors (n, K)) from per-state log-densities (n, K)."""
    with np.errstate(divide="ignore"):
        log_pi, log_A = np.log(startprob), np.log(transmat)
    n, K = log_frame.shape
    post = np.empty((n, K))
    out = []
    for lo, hi in _split(n, lengths):
        T = hi - lo
        fwd = np.empty((T, K))
        bwd = np.zeros((T, K))
        fwd[0] = log_pi + log_frame[lo]
        for t in range(1, T):
            fwd[t] = logsumexp(fwd[t - 1][:, None] + log_A, axis=0) + log_frame[lo + t]
        for t in range(T - 2, -1, -1):
            bwd[t] = logsumexp(log_A + (log_frame[lo + t + 1] + bwd[t + 1])[None, :], axis=1)
        ll = logsumexp(fwd[-1])
        post[lo:hi] = np.exp(fwd + bwd - ll)
        out.append(ll)
    return np.array(out), post


def viterbi(startprob, transmat, log_frame, lengths=None):
    """(per-sequence best-path log-probabilities (S,), paths (n,)); ties to the lowest state."""
    with np.errstate(divide="ignore"):
        log_pi, log_A = np.log(startprob), np.log(transmat)
    n, K = log_frame.shape
    path = np.empty(n, dtype=np.int64)
    out = []
    for lo, hi in _split(n, lengths):
        T = hi - lo
        delta = log_pi + log_frame[lo]
        back = np.zeros((T, K), dtype=np.int64)
        for t in range(1, T):
            cand = delta[:, None] + log_A
            back[t] = np.argmax(cand, axis=0)
            delta = cand[back[t], np.arange(K)] + log_frame[lo + t]
        s = int(np.argmax(delta))
        out.append(delta[s])
        path[hi - 1] = s
        for t in range(T - 1, 0, -1):
            s = int(back[t, s])
            path[lo + t - 1] = s
    return np.array(out), path
