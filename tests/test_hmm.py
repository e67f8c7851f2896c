"""Hidden Markov models against independent oracles: brute-force enumeration of every state path on tiny
models, hmmlearn 0.3.3 from the same initial parameters (real data: EuStockMarkets log returns, the Old
Faithful sequence, flights per aircraft), the NumPy twin, hand-computed likelihoods, sampling frequencies
within standard errors."""
import itertools
import warnings

import numpy as np
import pytest

import engine
from engine.hmm import core
from engine.reference import hmm as twin

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")


def _tiny(K=3, D=2, seed=0, ct="diag"):
    rng = np.random.default_rng(seed)
    m = engine.GaussianHMM(K, covariance_type=ct, init_params="")
    m.startprob_ = rng.dirichlet(np.ones(K))
    m.transmat_ = rng.dirichlet(np.ones(K), size=K)
    m.means_ = rng.normal(scale=2, size=(K, D))
    m.covars_ = {"diag": rng.uniform(0.5, 2, (K, D)), "spherical": rng.uniform(0.5, 2, K),
                 "full": np.array([np.eye(D) + 0.3 for _ in range(K)]), "tied": np.eye(D) + 0.3}[ct]
    return m


def _log_emissions(m, X):
    """Per-state log-densities by scipy (an oracle independent of engine's kernels)."""
    from scipy.stats import multivariate_normal

    return np.column_stack([multivariate_normal(m.means_[k], m.covars_[k]).logpdf(X)
                            for k in range(m.n_components)]).reshape(len(X), -1)


def _brute_force(m, X):
    """(log p(X), the best path and its log-probability, posteriors) by enumerating every state path."""
    logB = _log_emissions(m, X)
    T, K = logB.shape
    log_pi, log_A = np.log(m.startprob_), np.log(m.transmat_)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    lp = log_pi[paths[:, 0]] + logB[0, paths[:, 0]]
    for t in range(1, T):
        lp = lp + log_A[paths[:, t - 1], paths[:, t]] + logB[t, paths[:, t]]
    total = np.logaddexp.reduce(lp)
    post = np.zeros((T, K))
    w = np.exp(lp - total)
    for t in range(T):
        np.add.at(post[t], paths[:, t], w)
    best = int(np.argmax(lp))
    return total, paths[best], lp[best], post


@pytest.mark.parametrize("ct", ["diag", "spherical", "full", "tied"])
def test_forward_viterbi_posteriors_equal_brute_force(ct):
    m = _tiny(ct=ct)
    X = np.random.default_rng(1).normal(size=(6, 2)) * 2
    total, best_path, best_lp, post = _brute_force(m, X)
    assert m.score(X) == pytest.approx(total, rel=1e-12)
    lp, path = m.decode(X)
    assert lp == pytest.approx(best_lp, rel=1e-12)
    np.testing.assert_array_equal(path, best_path)
    ll, p = m.score_samples(X)
    np.testing.assert_allclose(p, post, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)


def test_numpy_twin_agrees_on_many_sequences():
    m = _tiny(K=4, D=3, seed=3)
    X, _ = m.sample(lengths=[50, 1, 80, 7], random_state=2)
    lengths = [50, 1, 80, 7]
    logB = _log_emissions(m, X)
    ll, post = twin.forward_backward(m.startprob_, m.transmat_, logB, lengths)
    e_ll, e_post = m.score_samples(X, lengths)
    assert e_ll == pytest.approx(ll.sum(), rel=1e-12)
    np.testing.assert_allclose(e_post, post, atol=1e-10)
    v_lp, v_path = twin.viterbi(m.startprob_, m.transmat_, logB, lengths)
    lp, path = m.decode(X, lengths)
    assert lp == pytest.approx(v_lp.sum(), rel=1e-12)
    np.testing.assert_array_equal(path, v_path)


@pytest.mark.parametrize("K", [1, 3, 8, 9, 12])
def test_viterbi_many_sequences_zero_transitions_and_ties_equal_twin(K):
    """Up to 8 states take the vector kernel, more the generic one: both equal the NumPy twin's
    paths over 150 sequences of mixed lengths (more than the 64 parts, so parts hold several), with zero
    transition probabilities and an exact duplicate of state 0 (ties must go to the lower state)."""
    m = _tiny(K=K, D=2, seed=K)
    A = m.transmat_.copy()
    if K >= 3:
        A[np.arange(K), (np.arange(K) + 1) % K] = 0.0  # forbidden transitions: -inf in log space
        means, covars = m.means_.copy(), m._covars_.copy()  # _covars_: the diag layout (covars_ is full)
        means[K - 1], covars[K - 1] = means[0], covars[0]
        m.means_, m.covars_ = means, covars
        A[:, K - 1] = A[:, 0]  # state K-1 is state 0's twin: equal columns give exact ties
        A[K - 1] = A[0]
    m.transmat_ = A / A.sum(axis=1, keepdims=True)
    lengths = np.random.default_rng(7).integers(1, 60, size=150)
    X, _ = m.sample(lengths=lengths, random_state=3)
    v_lp, v_path = twin.viterbi(m.startprob_, m.transmat_, _log_emissions(m, X), lengths)
    lp, path = m.decode(X, lengths)
    np.testing.assert_array_equal(path, v_path)
    assert lp == pytest.approx(v_lp.sum(), rel=1e-12)


@pytest.mark.parametrize("K", [1, 2, 5, 8])
def test_vector_viterbi_kernel_equals_twin_on_uneven_and_empty_sequences(K):
    """The up-to-8-state kernel runs two lanes of sequences side by side, each pipelining one sequence's
    backtrack with the next one's forward pass. Uneven lengths (empty sequences, one-step ones, a few long
    ones), a random grouping of sequences into parts and impossible emissions (-inf) must not change any
    path or log-probability: each non-empty sequence equals the NumPy twin run on it alone."""
    from engine.kernels import hmm as hk

    rng = np.random.default_rng(K)
    lengths = rng.integers(0, 300, size=41)
    lengths[[0, 5, 6, 20]] = 0
    lengths[[1, 9]] = 1
    lengths[[3, 30]] = 2500
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    frame = rng.normal(scale=3.0, size=(bounds[-1], K))
    frame[rng.random(frame.shape) < 0.02] = -np.inf
    start = rng.dirichlet(np.ones(K))
    A = rng.dirichlet(np.ones(K), size=K)
    if K >= 2:
        A[0, 1] = 0.0
        A /= A.sum(axis=1, keepdims=True)
    part_seqs = rng.permutation(lengths.size)
    part_bounds = np.concatenate([[0], np.sort(rng.choice(np.arange(1, lengths.size), 9, replace=False)),
                                  [lengths.size]])
    path = np.full(bounds[-1], -1, dtype=np.int64)
    with np.errstate(divide="ignore"):
        out = hk.viterbi_sequences8(frame, np.empty((bounds[-1], 8), np.uint8), bounds, part_bounds, part_seqs,
                                    np.log(start), np.log(A), path)
    for s in np.flatnonzero(lengths):
        lo, hi = bounds[s], bounds[s + 1]
        lp, tp = twin.viterbi(start, A, frame[lo:hi])
        np.testing.assert_array_equal(path[lo:hi], tp, err_msg=f"sequence {s}")
        assert out[s] == lp[0] or (out[s] == -np.inf and lp[0] == -np.inf)
    # the vector step writes 8 back-pointers per row without bounds checks: wrong scratch shapes are refused
    with np.errstate(divide="ignore"), pytest.raises(ValueError, match="back"):
        hk.viterbi_sequences8(frame, np.empty((bounds[-1], K), np.uint8) if K != 8 else np.empty((10, 8), np.uint8),
                              bounds, part_bounds, part_seqs, np.log(start), np.log(A), path)


def test_parts_are_the_longest_first_greedy_partition():
    """core._parts (with its shortcut of one sequence per part) equals longest-processing-time-first
    written out here: sequences by decreasing length (stable), each to the least-loaded part, ties to the
    lowest part; within a part, sequences in index order."""
    rng = np.random.default_rng(11)
    for trial in range(300):
        S = int(rng.integers(1, 150))
        lengths = rng.integers(0 if trial % 3 == 0 else 1, 4 if trial % 2 else 1000, size=S)
        P = min(core.MAX_PARTS, S)
        loads, members = [0] * P, [[] for _ in range(P)]
        for s in sorted(range(S), key=lambda s: -lengths[s]):
            p = min(range(P), key=lambda p: (loads[p], p))
            members[p].append(s)
            loads[p] += int(lengths[s])
        part_bounds, part_seqs = core._parts(lengths)
        np.testing.assert_array_equal(part_bounds, np.cumsum([0] + [len(m) for m in members]))
        np.testing.assert_array_equal(part_seqs, [s for m in members for s in sorted(m)])


@pytest.mark.parametrize("K", [3, 9])
def test_long_sequence_in_segments_equals_one_chunk(monkeypatch, K):
    """A sequence longer than a chunk is run in segments with forward checkpoints: same numbers. Viterbi
    over segments has its own kernels (up to 8 states: the vector step with uint8 back-pointers)."""
    m = _tiny(K=K, D=2, seed=4)
    X, _ = m.sample(5000, random_state=5)
    whole = engine.GaussianHMM(K, init_params="", n_iter=3, tol=-np.inf)
    for name in ("startprob_", "transmat_", "means_", "_covars_"):
        setattr(whole, name, getattr(m, name).copy())
    ref_ll, ref_post = whole.score_samples(X)
    ref_path = whole.predict(X)
    whole.fit(X)
    monkeypatch.setattr(core, "CHUNK_CELLS", K * 700)  # segments of 1024 rows (the floor): 5 of them
    seg = engine.GaussianHMM(K, init_params="", n_iter=3, tol=-np.inf)
    for name in ("startprob_", "transmat_", "means_", "_covars_"):
        setattr(seg, name, getattr(m, name).copy())
    ll, post = seg.score_samples(X)
    assert ll == pytest.approx(ref_ll, rel=1e-12)
    np.testing.assert_allclose(post, ref_post, atol=1e-10)
    np.testing.assert_array_equal(seg.predict(X), ref_path)
    # the segmented Viterbi (its own kernel, back-pointers across segments) against the NumPy twin too
    v_lp, v_path = twin.viterbi(m.startprob_, m.transmat_, _log_emissions(m, X))
    seg_lp, seg_path = seg.decode(X)
    np.testing.assert_array_equal(seg_path, v_path)
    assert seg_lp == pytest.approx(v_lp[0], rel=1e-12)
    seg.fit(X)
    np.testing.assert_allclose(list(seg.monitor_.history), list(whole.monitor_.history), rtol=1e-12)
    np.testing.assert_allclose(seg.means_, whole.means_, rtol=1e-10)
    np.testing.assert_allclose(seg.transmat_, whole.transmat_, rtol=1e-10)


def test_no_underflow_on_a_long_sequence():
    m = _tiny(K=2, D=1, seed=6)
    X, _ = m.sample(200_000, random_state=1)
    ll = m.score(X)
    assert np.isfinite(ll) and ll < -1e5
    assert np.isfinite(m.decode(X)[0])


def _same_start(a, b, src):
    for model in (a, b):
        model.startprob_ = src.startprob_.copy()
        model.transmat_ = src.transmat_.copy()
    return a, b


def _compare_fits(eng, ref, X, lengths, rtol=1e-6):
    eng.fit(X, lengths)
    ref.fit(X, lengths)
    np.testing.assert_allclose(list(eng.monitor_.history), list(ref.monitor_.history), rtol=rtol)
    np.testing.assert_allclose(eng.transmat_, ref.transmat_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(eng.startprob_, ref.startprob_, rtol=rtol, atol=1e-10)
    assert eng.monitor_.iter == ref.monitor_.iter


def _eustock_returns():
    import pyarrow.parquet as pq
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "datasets", "eustock.parquet")
    t = pq.read_table(path)
    prices = np.column_stack([t.column(c).to_numpy() for c in ("DAX", "SMI", "CAC", "FTSE")])
    return np.diff(np.log(prices), axis=0) * 100  # percent log returns


@pytest.mark.parametrize("ct", ["diag", "spherical", "full", "tied"])
def test_gaussian_hmm_equals_hmmlearn_on_eustock(ct):
    X = _eustock_returns()
    K, D = 3, X.shape[1]
    rng = np.random.default_rng(0)
    kw = {}
    if ct in ("full", "tied"):
        # a matrix covars_prior: both libraries then add the same inverse-Wishart scale (README: decisions)
        kw["covars_prior"] = np.full((K, D, D) if ct == "full" else (D, D), 1e-2) * np.eye(D)
    eng = engine.GaussianHMM(K, covariance_type=ct, init_params="", n_iter=15, tol=-np.inf, **kw)
    ref = hmmlearn_hmm.GaussianHMM(K, covariance_type=ct, init_params="", n_iter=15, tol=-np.inf, **kw)
    src = engine.GaussianHMM(K)
    src.startprob_ = rng.dirichlet(np.ones(K) * 3)
    src.transmat_ = rng.dirichlet(np.ones(K), size=K) + 3 * np.eye(K)
    src.transmat_ /= src.transmat_.sum(axis=1, keepdims=True)
    means = X[rng.choice(len(X), K, replace=False)]
    cv = np.cov(X.T)
    covars = {"diag": np.tile(np.diag(cv), (K, 1)), "spherical": np.full(K, np.trace(cv) / D),
              "full": np.tile(cv, (K, 1, 1)), "tied": cv}[ct]
    _same_start(eng, ref, src)
    for model in (eng, ref):
        model.means_ = means.copy()
        model.covars_ = covars.copy()
    lengths = [len(X) // 2, len(X) - len(X) // 2]
    _compare_fits(eng, ref, X, lengths)
    np.testing.assert_allclose(eng.means_, ref.means_, rtol=1e-6, atol=1e-9)
    ref_c = ref._covars_[:, 0] if ct == "spherical" else ref._covars_
    np.testing.assert_allclose(eng._covars_, ref_c, rtol=1e-6, atol=1e-12)
    assert eng.score(X, lengths) == pytest.approx(ref.score(X, lengths), rel=1e-10)
    np.testing.assert_array_equal(eng.predict(X, lengths), ref.predict(X, lengths))


def test_gaussian_hmm_default_scalar_prior_on_full_is_identity_scaled():
    """engine's documented decision: a scalar covars_prior for full covariances is covars_prior * I, i.e.
    hmmlearn's numbers with a diagonal matrix prior, not hmmlearn's add-to-every-entry."""
    X = _eustock_returns()[:400]
    K, D = 2, X.shape[1]
    src = engine.GaussianHMM(K)
    src.startprob_, src.transmat_ = np.array([0.6, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]])
    eng = engine.GaussianHMM(K, covariance_type="full", init_params="", n_iter=5, tol=-np.inf)
    ref = hmmlearn_hmm.GaussianHMM(K, covariance_type="full", init_params="", n_iter=5, tol=-np.inf,
                                   covars_prior=1e-2 * np.eye(D)[None].repeat(K, 0))
    _same_start(eng, ref, src)
    for model in (eng, ref):
        model.means_ = X[:K].copy()
        model.covars_ = np.tile(np.cov(X.T), (K, 1, 1))
    _compare_fits(eng, ref, X, None)


def test_poisson_hmm_equals_hmmlearn():
    rng = np.random.default_rng(1)
    K = 3
    gen = engine.PoissonHMM(K, init_params="")
    gen.startprob_ = np.full(K, 1 / K)
    gen.transmat_ = 0.8 * np.eye(K) + 0.2 / K
    gen.lambdas_ = rng.uniform(0.5, 8, (K, 2))
    X, _ = gen.sample(lengths=[300, 200, 500], random_state=3)
    eng = engine.PoissonHMM(K, init_params="", n_iter=20, tol=-np.inf)
    ref = hmmlearn_hmm.PoissonHMM(K, init_params="", n_iter=20, tol=-np.inf)
    src = engine.PoissonHMM(K)
    src.startprob_, src.transmat_ = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K)
    _same_start(eng, ref, src)
    lam = rng.uniform(1, 5, (K, 2))
    eng.lambdas_, ref.lambdas_ = lam.copy(), lam.copy()
    _compare_fits(eng, ref, X, [300, 200, 500])
    np.testing.assert_allclose(eng.lambdas_, ref.lambdas_, rtol=1e-6)


def test_categorical_hmm_equals_hmmlearn_on_faithful():
    import os
    import pyarrow.parquet as pq

    t = pq.read_table(os.path.join(os.path.dirname(__file__), "..", "datasets", "faithful.parquet"))
    waiting = t.column("waiting").to_numpy()
    X = np.digitize(waiting, [60, 70, 80])[:, None]  # 4 symbols: the Old Faithful sequence, coarsened
    K = 2
    rng = np.random.default_rng(2)
    eng = engine.CategoricalHMM(K, init_params="", n_iter=30, tol=-np.inf)
    ref = hmmlearn_hmm.CategoricalHMM(K, init_params="", n_iter=30, tol=-np.inf)
    src = engine.CategoricalHMM(K)
    src.startprob_, src.transmat_ = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K)
    _same_start(eng, ref, src)
    ep = rng.dirichlet(np.ones(4), size=K)
    eng.emissionprob_, ref.emissionprob_ = ep.copy(), ep.copy()
    _compare_fits(eng, ref, X, None)
    np.testing.assert_allclose(eng.emissionprob_, ref.emissionprob_, rtol=1e-6, atol=1e-12)
    # this fit has co-optimal Viterbi paths (equal log-probabilities): hmmlearn breaks the ties its own way,
    # engine (and the NumPy twin) to the lowest state; the best log-probability is what must agree
    lp, path = eng.decode(X)
    assert lp == pytest.approx(ref.decode(X)[0], rel=1e-10)
    t_lp, t_path = twin.viterbi(eng.startprob_, eng.transmat_, np.log(eng.emissionprob_[:, X[:, 0]].T))
    np.testing.assert_array_equal(path, t_path)


def test_sample_weights_equal_repeated_sequences():
    m = _tiny(K=2, D=2, seed=7)
    X, _ = m.sample(lengths=[100, 60], random_state=8)
    a = engine.GaussianHMM(2, init_params="", n_iter=4, tol=-np.inf)
    b = engine.GaussianHMM(2, init_params="", n_iter=4, tol=-np.inf)
    for model in (a, b):
        for name in ("startprob_", "transmat_", "means_", "_covars_"):
            setattr(model, name, getattr(m, name).copy())
    a.fit(X, [100, 60], sample_weight=[2.0, 1.0])
    b.fit(np.concatenate([X[:100], X]), [100, 100, 60])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.transmat_, b.transmat_, rtol=1e-12)
    np.testing.assert_allclose(a._covars_, b._covars_, rtol=1e-12)


def test_missing_steps_are_marginalised_by_hand():
    """An all-NaN step has emission probability 1: p(x1, _, x3) = sum_{z1,z2,z3} pi A A b1 b3."""
    m = _tiny(K=2, D=2, seed=9)
    X = np.array([[0.3, -0.2], [np.nan, np.nan], [1.0, 2.0]])
    logB = _log_emissions(m, np.nan_to_num(X))
    B = np.exp(logB)
    B[1] = 1.0
    pi, A = m.startprob_, m.transmat_
    by_hand = np.log(((pi * B[0]) @ A * B[1]) @ A @ B[2])
    assert m.score(X) == pytest.approx(by_hand, rel=1e-12)
    post = m.predict_proba(X)
    np.testing.assert_allclose(post.sum(axis=1), 1, atol=1e-12)
    with pytest.raises(ValueError, match="row 1"):
        m.score(np.array([[0.3, -0.2], [np.nan, 1.0]]))


def test_transition_frequencies_of_samples_within_standard_errors():
    m = _tiny(K=3, D=1, seed=10)
    _, z = m.sample(200_000, random_state=11)
    counts = np.zeros((3, 3))
    np.add.at(counts, (z[:-1], z[1:]), 1)
    n_i = counts.sum(axis=1, keepdims=True)
    freq = counts / n_i
    se = np.sqrt(m.transmat_ * (1 - m.transmat_) / n_i)
    assert np.all(np.abs(freq - m.transmat_) < 5 * se + 1e-12)


def test_sampling_is_reproducible_and_thread_independent():
    import numba

    m = _tiny(K=3, D=2, seed=12)
    a = m.sample(lengths=[1000, 500], random_state=4)
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = m.sample(lengths=[1000, 500], random_state=4)
        fit1 = engine.GaussianHMM(3, random_state=0, n_iter=3).fit(a[0], [1000, 500])
    finally:
        numba.set_num_threads(prev)
    fit2 = engine.GaussianHMM(3, random_state=0, n_iter=3).fit(a[0], [1000, 500])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(fit1.means_, fit2.means_)
    np.testing.assert_array_equal(fit1.transmat_, fit2.transmat_)


def test_family_hmm_poisson_equals_poisson_hmm_em():
    """HMM(emission='poisson') runs the product family's M-step: with the same start it takes the same steps as
    PoissonHMM (whose MAP update with zero priors is the same maximum-likelihood rate)."""
    rng = np.random.default_rng(13)
    gen = engine.PoissonHMM(2, init_params="")
    gen.startprob_, gen.transmat_ = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]])
    gen.lambdas_ = np.array([[1.0, 6.0], [5.0, 2.0]])
    X, _ = gen.sample(lengths=[400, 400], random_state=1)
    a = engine.HMM(2, emission="poisson", init_params="", n_iter=5, tol=-np.inf, params="ste")
    a.fit(X[:10])  # builds the family; then set the start by hand
    from engine.families.product import ProductParams

    lam = rng.uniform(1, 6, (2, 2))
    a.startprob_, a.transmat_ = gen.startprob_.copy(), np.full((2, 2), 0.5)
    a.emission_params_ = ProductParams(np.full(2, 0.5), lam.copy(), np.ones((2, 2)), np.zeros((2, 0)))
    b = engine.PoissonHMM(2, init_params="", n_iter=5, tol=-np.inf)
    b.startprob_, b.transmat_, b.lambdas_ = gen.startprob_.copy(), np.full((2, 2), 0.5), lam.copy()
    a.fit(X, [400, 400])
    b.fit(X, [400, 400])
    np.testing.assert_allclose(list(a.monitor_.history), list(b.monitor_.history), rtol=1e-9)
    np.testing.assert_allclose(a.emission_params_.loc, b.lambdas_, rtol=1e-8)


def test_family_hmm_mixed_columns_with_missing_values():
    rng = np.random.default_rng(14)
    n = 600
    z = (np.arange(n) // 50) % 2
    counts = rng.poisson(np.where(z == 0, 1.0, 7.0))
    flag = (rng.random(n) < np.where(z == 0, 0.1, 0.9)).astype(float)
    level = rng.normal(np.where(z == 0, -2.0, 2.0))
    X = np.column_stack([counts, flag, level]).astype(float)
    X[::37, 2] = np.nan
    X[5] = np.nan  # a wholly missing step
    model = engine.HMM(2, emission={0: "poisson", 1: "bernoulli", 2: "gaussian"}, missing="marginalize",
                       random_state=0, n_iter=50).fit(X, [300, 300])
    acc = max((model.predict(X, [300, 300]) == z).mean(), (model.predict(X, [300, 300]) != z).mean())
    assert acc > 0.97
    ll, post = model.score_samples(X, [300, 300])
    assert np.isfinite(ll)
    np.testing.assert_allclose(post.sum(axis=1), 1, atol=1e-12)
    with pytest.raises(ValueError, match="column 0, input row 3"):
        model.score(np.array([[1, 0, 0.0], [2, 1, 0.5], [0, 0, 1.0], [-1, 1, 0.0]]))


def test_bad_input_is_named():
    m = _tiny()
    with pytest.raises(ValueError, match="lengths sum to 9 but X has 10 rows"):
        m.score(np.zeros((10, 2)), [4, 5])
    with pytest.raises(ValueError, match="row 3"):
        m.score(np.array([[0, 0], [0, 0], [0, 0], [np.inf, 0.0]]))
    with pytest.raises(ValueError, match="sample_weight"):
        engine.GaussianHMM(2).fit(np.zeros((10, 2)), [5, 5], sample_weight=[1.0])
    c = engine.CategoricalHMM(2, n_features=3)
    c.startprob_, c.transmat_, c.emissionprob_ = np.array([.5, .5]), np.full((2, 2), .5), np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="row 2: symbol 5"):
        c.score(np.array([[0], [1], [5]]))
    z = engine.GaussianHMM(2, init_params="")
    z.startprob_, z.transmat_ = np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])
    z.means_, z.covars_ = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
    z.fit(np.zeros((4, 1)))  # a reachable path exists: fine
    assert np.isfinite(z.score(np.zeros((4, 1))))


def test_model_files_round_trip(tmp_path):
    m = _tiny(K=3, D=2, ct="full")
    X, _ = m.sample(300, random_state=1)
    for model in (m, engine.PoissonHMM(2, random_state=0).fit(np.random.default_rng(0).poisson(3, (200, 2))),
                  engine.CategoricalHMM(2, random_state=0).fit(np.random.default_rng(0).integers(0, 4, (200, 1))),
                  engine.HMM(2, emission={0: "gaussian", 1: "gaussian"}, random_state=0, n_iter=5).fit(X)):
        path = tmp_path / f"{type(model).__name__}.engine"
        model.save(path)
        back = engine.load(path)
        assert type(back) is type(model)
        data = X if not isinstance(model, (engine.PoissonHMM, engine.CategoricalHMM)) else (
            np.random.default_rng(0).poisson(3, (50, 2)) if isinstance(model, engine.PoissonHMM)
            else np.random.default_rng(0).integers(0, 4, (50, 1)))
        assert back.score(data) == pytest.approx(model.score(data), rel=1e-12)
        np.testing.assert_array_equal(back.predict(data), model.predict(data))


def test_markov_chain_counts_and_likelihood():
    seqs = [list("aabba"), list("bbbab"), list("ab")]
    X = np.array(sum(seqs, []), dtype=object)
    mc = engine.MarkovChain().fit(X, [5, 5, 2])
    np.testing.assert_array_equal(mc.states_, ["a", "b"])
    # counts by hand: a->a 1, a->b 3, b->b 3, b->a 2
    np.testing.assert_allclose(mc.transmat_, [[1 / 4, 3 / 4], [2 / 5, 3 / 5]])
    np.testing.assert_allclose(mc.startprob_, [2 / 3, 1 / 3])
    by_hand = np.log(2 / 3) + np.log(1 / 4) + np.log(3 / 4) + np.log(3 / 5) + np.log(2 / 5)
    assert mc.score(np.array(seqs[0], dtype=object)) == pytest.approx(by_hand)
    s = mc.sample(50_000, random_state=0)
    codes = np.searchsorted(mc.states_, s)
    counts = np.zeros((2, 2))
    np.add.at(counts, (codes[:-1], codes[1:]), 1)
    freq = counts / counts.sum(axis=1, keepdims=True)
    se = np.sqrt(mc.transmat_ * (1 - mc.transmat_) / counts.sum(axis=1, keepdims=True))
    assert np.all(np.abs(freq - mc.transmat_) < 5 * se)
    with pytest.raises(ValueError, match="row 1: state 'c'"):
        mc.score(np.array(["a", "c"], dtype=object))


def test_hmm_kl_rate_monte_carlo():
    p = _tiny(K=2, D=1, seed=15)
    assert engine.kl_divergence(p, p, method="mc", n_sequences=50, length=100, random_state=0).estimate == 0.0
    q = _tiny(K=2, D=1, seed=16)
    r = engine.kl_divergence(p, q, method="mc", n_sequences=400, length=200, random_state=0)
    # the rate is (1/T) E_p[log p - log q]; by its own sample, against an independent twin estimate
    X, _ = p.sample(lengths=[200] * 400, random_state=123)
    ls = [200] * 400
    d = (p.score_sequences(X, ls) - q.score_sequences(X, ls)) / 200
    assert abs(r.estimate - d.mean()) < 4 * np.hypot(r.stderr, d.std(ddof=1) / np.sqrt(d.size))
    assert r.estimate > 0


def test_dask_fit_equals_local_fit():
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    m = _tiny(K=2, D=2, seed=17)
    lengths = [150, 90, 200, 60, 120]
    X, _ = m.sample(lengths=lengths, random_state=3)
    seq = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    df = pd.DataFrame({"id": seq, "t": t, "x": X[:, 0], "y": X[:, 1]}).sample(frac=1.0, random_state=0)
    ddf = dd.from_pandas(df, npartitions=3)

    def start():
        h = engine.GaussianHMM(2, init_params="", n_iter=6, tol=-np.inf)
        for name in ("startprob_", "transmat_", "means_", "_covars_"):
            setattr(h, name, getattr(m, name).copy())
        return h

    local = start().fit(X, lengths)
    from engine.dask import fit_hmm

    dist = fit_hmm(start(), ddf, "id", "t", columns=["x", "y"], scheduler="sync")
    np.testing.assert_allclose(list(dist.monitor_.history), list(local.monitor_.history), rtol=1e-12)
    np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-10)
    np.testing.assert_allclose(dist.transmat_, local.transmat_, rtol=1e-10)
    np.testing.assert_allclose(dist._covars_, local._covars_, rtol=1e-10)


def _flight_sequences(n_aircraft=400):
    """dep_delay and arr_delay of the flights data as one sequence per aircraft (tailnum), ordered by
    time_hour (then by scheduled departure), rows with nulls dropped; the first ``n_aircraft`` aircraft
    (sorted by tail number) with at least 2 flights."""
    import os

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = os.path.join(os.path.dirname(__file__), "..", "datasets", "flights.parquet")
    t = pq.read_table(path, columns=["tailnum", "time_hour", "sched_dep_time", "dep_delay", "arr_delay"])
    t = t.filter(pc.is_valid(t["tailnum"])).drop_null()
    t = t.sort_by([("tailnum", "ascending"), ("time_hour", "ascending"), ("sched_dep_time", "ascending")])
    tail = t.column("tailnum").to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, tail[1:] != tail[:-1]])
    lengths = np.diff(np.r_[starts, len(tail)])
    keep = np.flatnonzero(lengths >= 2)[:n_aircraft]
    rows = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in keep])
    X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False).astype(float)[rows]
                         for c in ("dep_delay", "arr_delay")])
    return X / 10.0, lengths[keep]  # tens of minutes: covariances of order 1


def test_gaussian_hmm_equals_hmmlearn_on_flight_sequences():
    """The issue's third real data set: one sequence per aircraft, from the same start, 8 Baum-Welch
    iterations: the same log-likelihood trajectory, parameters, score and Viterbi path as hmmlearn."""
    X, lengths = _flight_sequences()
    K = 3
    src = engine.GaussianHMM(K)
    src.startprob_ = np.array([0.5, 0.3, 0.2])
    src.transmat_ = np.array([[0.8, 0.15, 0.05], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    eng = engine.GaussianHMM(K, covariance_type="diag", init_params="", n_iter=8, tol=-np.inf)
    ref = hmmlearn_hmm.GaussianHMM(K, covariance_type="diag", init_params="", n_iter=8, tol=-np.inf)
    _same_start(eng, ref, src)
    q = np.quantile(X[:, 0], [0.2, 0.6, 0.95])
    for model in (eng, ref):
        model.means_ = np.column_stack([q, q])
        model.covars_ = np.tile(X.var(axis=0), (K, 1))
    _compare_fits(eng, ref, X, lengths)
    np.testing.assert_allclose(eng.means_, ref.means_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(eng._covars_, ref._covars_, rtol=1e-6, atol=1e-12)
    assert eng.score(X, lengths) == pytest.approx(ref.score(X, lengths), rel=1e-10)
    np.testing.assert_array_equal(eng.predict(X, lengths), ref.predict(X, lengths))


# ------------------------------------------------------------------------------------------ Student-t emissions
def _t_hmm(ct, K=2, D=2, seed=0):
    """An engine.HMM with Student-t states and set parameters (fitted for one iteration, then overwritten)."""
    from engine.families.student_t import StudentTParams

    rng = np.random.default_rng(seed)
    m = engine.HMM(K, emission="student_t", covariance_type=ct, n_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(rng.normal(size=(50, D)))
    shape = {"full": np.array([np.eye(D) + 0.3 * (k + 1) for k in range(K)]), "tied": np.eye(D) + 0.4,
             "diag": rng.uniform(0.5, 2, (K, D)), "spherical": rng.uniform(0.5, 2, K)}[ct]
    m.emission_params_ = StudentTParams(np.full(K, 1.0 / K), rng.normal(scale=2, size=(K, D)), shape,
                                        np.array([2.5, 9.0])[:K])
    m.startprob_ = rng.dirichlet(np.ones(K))
    m.transmat_ = rng.dirichlet(np.ones(K), size=K)
    return m


def _t_shape(m, k):
    ct, c = m.covariance_type, m.emission_params_.covariances
    D = m.emission_params_.means.shape[1]
    return {"full": lambda: c[k], "tied": lambda: c, "diag": lambda: np.diag(c[k]),
            "spherical": lambda: c[k] * np.eye(D)}[ct]()


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_student_t_hmm_equals_brute_force_with_scipy(ct, monkeypatch):
    from scipy.stats import multivariate_t

    m = _t_hmm(ct)
    p = m.emission_params_

    def log_emissions(model, X):
        return np.column_stack([multivariate_t(p.means[k], _t_shape(m, k), df=p.dofs[k]).logpdf(X)
                                for k in range(m.n_components)])

    monkeypatch.setitem(globals(), "_log_emissions", log_emissions)
    X = np.random.default_rng(1).standard_t(3, size=(6, 2)) * 2
    total, best_path, best_lp, post = _brute_force(m, X)
    assert m.score(X) == pytest.approx(total, rel=1e-12)
    lp, path = m.decode(X)
    assert lp == pytest.approx(best_lp, rel=1e-12)
    np.testing.assert_array_equal(path, best_path)
    np.testing.assert_allclose(m.score_samples(X)[1], post, atol=1e-12)


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_one_state_student_t_hmm_is_the_student_t_fit(ct):
    """With one state every posterior is 1, so Baum-Welch is the t mixture's EM (dof equation included): the
    HMM's statistics kernel (posteriors in) against the mixture's E-step kernel (responsibilities computed)."""
    X = _eustock_returns()
    hmm = engine.HMM(1, emission="student_t", covariance_type=ct, n_iter=15, tol=-np.inf, random_state=0)
    mix = engine.Mixture(1, family="student_t", covariance_type=ct, max_iter=15, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hmm.fit(X)
        mix.fit(X)
    np.testing.assert_allclose(hmm.means_, mix.means_, rtol=1e-9)
    np.testing.assert_allclose(hmm.covars_, mix.covariances_, rtol=1e-9)
    np.testing.assert_allclose(hmm.dofs_, mix.dofs_, rtol=1e-9)
    assert hmm.score(X) == pytest.approx(mix.score(X) * len(X), rel=1e-10)


def test_student_t_hmm_fit_recovers_heavy_tailed_regimes_and_round_trips(tmp_path):
    """Two regimes of daily returns-like data (t with 3 and 30 dofs): the fit finds the regimes, the heavy
    tail's dof is small, and the model file scores the same."""
    rng = np.random.default_rng(3)
    T = 6000
    states = np.zeros(T, dtype=int)
    for t in range(1, T):
        states[t] = states[t - 1] if rng.random() < 0.98 else 1 - states[t - 1]
    dof = np.where(states == 0, 3.0, 30.0)
    X = (rng.standard_normal((T, 2)) / np.sqrt(rng.chisquare(dof)[:, None] / dof[:, None])
         * np.where(states == 0, 2.0, 0.5)[:, None])
    m = engine.HMM(2, emission="student_t", covariance_type="diag", n_iter=200, random_state=0).fit(X)
    heavy = int(np.argmin(m.dofs_))
    assert m.dofs_[heavy] == pytest.approx(3.0, rel=0.35)  # SE of a dof estimate at n ~ 3000 is ~10%
    agreement = np.mean((m.predict(X) == heavy) == (states == 0))
    assert agreement > 0.95
    m.save(tmp_path / "t.arrow")
    back = engine.load(tmp_path / "t.arrow")
    assert back.score(X) == m.score(X)
    np.testing.assert_array_equal(back.dofs_, m.dofs_)
    S, Z = m.sample(20000, random_state=2)
    assert np.all(np.abs(np.bincount(Z, minlength=2) / len(Z) - m.get_stationary_distribution()) < 0.1)


# ------------------------------------------------------------------------------------------------------ GMMHMM
def _gmmhmm_pair(ct, seed=0):
    """hmmlearn's GMMHMM after one fitted iteration on EuStockMarkets returns, and engine's with its parameters."""
    hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
    X = _eustock_returns()[:600]
    ref = hmmlearn_hmm.GMMHMM(3, n_mix=2, covariance_type=ct, random_state=seed, n_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X)
    eng = engine.GMMHMM(3, n_mix=2, covariance_type=ct, init_params="")
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        setattr(eng, name, np.array(getattr(ref, name)))
    return eng, ref, X


@pytest.mark.parametrize("ct", ["diag", "spherical", "full", "tied"])
def test_gmmhmm_scores_equal_hmmlearn(ct):
    eng, ref, X = _gmmhmm_pair(ct)
    lengths = [200, 250, 150]
    assert eng.score(X, lengths) == pytest.approx(ref.score(X, lengths), rel=1e-10)
    np.testing.assert_allclose(eng.score_samples(X, lengths)[1], ref.score_samples(X, lengths)[1], atol=1e-9)
    lp, path = eng.decode(X, lengths)
    ref_lp, ref_path = ref.decode(X, lengths)
    assert lp == pytest.approx(ref_lp, rel=1e-10)
    np.testing.assert_array_equal(path, ref_path)


@pytest.mark.parametrize("ct", ["diag", "spherical", "full", "tied"])
def test_one_state_gmmhmm_fit_is_scikit_learns_mixture_em(ct):
    """One state: every posterior is 1, so Baum-Welch is EM for the state's mixture. From the same start,
    scikit-learn's GaussianMixture (reg_covar=0) gives the same parameters after 12 iterations."""
    sk_mixture = pytest.importorskip("sklearn.mixture")
    X = _eustock_returns()
    D, M = X.shape[1], 3
    rng = np.random.default_rng(0)
    means = X[rng.choice(len(X), M, replace=False)]
    cv = np.cov(X.T)
    covars = {"full": np.tile(cv, (1, M, 1, 1)), "tied": cv[None], "diag": np.tile(np.diag(cv), (1, M, 1)),
              "spherical": np.full((1, M), np.trace(cv) / D)}[ct]
    # maximum-likelihood priors (the spherical default is hmmlearn's, not ML)
    priors = dict(covars_prior=-(D / 2 + 1), covars_weight=0.0) if ct == "spherical" else {}
    eng = engine.GMMHMM(1, n_mix=M, covariance_type=ct, init_params="", params="mcw", n_iter=12, tol=-np.inf,
                        **priors)
    eng.startprob_, eng.transmat_ = np.ones(1), np.ones((1, 1))
    eng.weights_, eng.means_, eng.covars_ = np.full((1, M), 1 / M), means[None], covars
    eng.fit(X)
    sk_cov = {"full": covars[0], "tied": covars[0], "diag": covars[0], "spherical": covars[0]}[ct]
    sk = sk_mixture.GaussianMixture(M, covariance_type=ct, reg_covar=0.0, max_iter=12, tol=0.0,
                                    weights_init=np.full(M, 1 / M), means_init=means,
                                    precisions_init=np.linalg.inv(sk_cov) if ct in ("full", "tied") else 1 / sk_cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X)
    np.testing.assert_allclose(eng.weights_[0], sk.weights_, rtol=1e-8)
    np.testing.assert_allclose(eng.means_[0], sk.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(eng.covars_[0], sk.covariances_, rtol=1e-8)
    assert eng.score(X) == pytest.approx(sk.score(X) * len(X), rel=1e-10)


def test_gmmhmm_fit_climbs_and_round_trips(tmp_path):
    eng, ref, X = _gmmhmm_pair("diag")
    lengths = [200, 250, 150]
    eng.set_params(n_iter=30, tol=1e-6).fit(X, lengths)
    history = list(eng.monitor_.history)
    assert history[-1] >= history[0]
    assert eng.score(X, lengths) > ref.score(X, lengths)
    eng.save(tmp_path / "g.arrow")
    back = engine.load(tmp_path / "g.arrow")
    assert type(back) is engine.GMMHMM and back.score(X, lengths) == eng.score(X, lengths)
    S, Z = back.sample(lengths=[300, 300], random_state=4)
    S2, Z2 = back.sample(lengths=[300, 300], random_state=4)
    np.testing.assert_array_equal(S, S2)
    np.testing.assert_array_equal(Z, Z2)


def test_gmmhmm_collapsed_component_is_named():
    eng, _, X = _gmmhmm_pair("full")
    covars = eng.covars_.copy()
    covars[1, 0] = np.zeros((4, 4))
    eng.covars_ = covars
    with pytest.raises(ValueError, match="covars_ of state 1, mixture component 0"):
        eng.score(X)


def test_gmmhmm_and_student_t_dask_fits_equal_local_fits():
    """The emission protocol is all the Dask fit needs: GMMHMM and Student-t HMMs fit on Dask as locally."""
    dd = pytest.importorskip("dask.dataframe")
    import copy

    import pandas as pd
    from engine.dask import fit_hmm

    eng, _, X = _gmmhmm_pair("diag")
    lengths = [200, 250, 150]
    seq = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    df = pd.DataFrame({"id": seq, "t": t, **{f"c{j}": X[:, j] for j in range(X.shape[1])}}).sample(frac=1.0,
                                                                                                   random_state=0)
    ddf = dd.from_pandas(df, npartitions=3)
    columns = [f"c{j}" for j in range(X.shape[1])]
    eng.set_params(n_iter=5, tol=-np.inf)
    th = _t_hmm("full", D=X.shape[1])
    th.set_params(n_iter=5, tol=-np.inf, init_params="")
    for model in (eng, th):
        local = copy.deepcopy(model).fit(X, lengths)
        dist = fit_hmm(copy.deepcopy(model), ddf, "id", "t", columns=columns, scheduler="sync")
        np.testing.assert_allclose(list(dist.monitor_.history), list(local.monitor_.history), rtol=1e-12)
        np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-10)
        np.testing.assert_allclose(dist.transmat_, local.transmat_, rtol=1e-10)
