"""NumPy twins of the counter-based samplers (same words, same layout; libm log/sin/cos)."""
import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U53 = 1.0 / 9007199254740992.0


def splitmix64(key, words):
    """Output words ``words`` (uint64 array) of the SplitMix64 stream at state ``key``."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (words.astype(np.uint64) + np.uint64(1)) * GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _uniform_open(key, words):
    return ((splitmix64(key, words) >> np.uint64(11)).astype(np.float64) + 1.0) * _U53


def _box_muller(key, first_words):
    r = np.sqrt(-2.0 * np.log(_uniform_open(key, first_words)))
    t = 2.0 * np.pi * _uniform_open(key, first_words + np.uint64(1))
    return r * np.cos(t), r * np.sin(t)


def normal_sample(key, offset, loc, scale, n, dtype=np.float64):
    """Twin of ``normal_sample``: normal number g is member g % 2 of the pair from words 2 (g // 2), +1."""
    g = np.arange(offset, offset + n, dtype=np.uint64)
    za, zb = _box_muller(key, (g >> np.uint64(1)) << np.uint64(1))
    z = np.where((g & np.uint64(1)) == 0, za, zb)
    return (loc + scale * z).astype(dtype)


def mixture_sample(key, offset, cum_weights, means, cov_chol_t, n, dtype=np.float64):
    """Twin of ``mixture_sample`` (cov_chol_t: transposed lower Cholesky factors or standard deviations):
    returns (X (n, D), labels (n,))."""
    K, D = means.shape
    n_pairs = (D + 1) // 2
    stride = np.uint64(1 + 2 * n_pairs)
    base = np.arange(offset, offset + n, dtype=np.uint64) * stride
    u = _uniform_open(key, base) - _U53
    labels = np.sum(u[:, None] >= cum_weights[None, : K - 1], axis=1).astype(np.int64)
    z = np.empty((n, 2 * n_pairs))
    for j in range(n_pairs):
        z[:, 2 * j], z[:, 2 * j + 1] = _box_muller(key, base + np.uint64(1 + 2 * j))
    z = z[:, :D]
    if cov_chol_t.ndim == 3:
        LT = cov_chol_t[labels] if cov_chol_t.shape[0] == K else cov_chol_t[np.zeros(n, dtype=np.int64)]
        X = means[labels] + np.einsum("nlj,nl->nj", LT, z)
    else:
        X = means[labels] + cov_chol_t[labels] * z
    return X.astype(dtype), labels
