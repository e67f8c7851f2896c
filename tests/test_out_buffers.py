"""Caller-owned outputs (issue 20, item 1): out= / resp_out= / labels_out= write into the caller's arrays and
give exactly what a fresh call returns; a wrong buffer is a clear error naming the parameter."""
import numpy as np
import pytest

import engine

RNG = np.random.default_rng(20)


def test_normal_logpdf_and_sample_into_buffers():
    m = engine.Normal(0.5, 2.0)
    x = RNG.normal(size=10_001)
    buf = np.full(len(x), np.nan)
    assert m.logpdf(x, out=buf) is buf
    np.testing.assert_array_equal(buf, m.logpdf(x))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(m.logpdf(x32, out=np.empty(len(x), np.float32)), m.logpdf(x32))
    s = np.empty(5000, dtype=np.float32)
    assert m.sample(5000, random_state=3, out=s) is s
    np.testing.assert_array_equal(s, m.sample(5000, random_state=3, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normal_logpdf_streams_large_buffers_with_the_same_bits(dtype):
    """A caller's buffer of STREAM_BYTES or more is written with non-temporal stores past each span's first
    partial 64-byte line: every value equals a fresh (not streamed) call's, bit for bit, at each of the 8
    offsets a buffer can have from a line (a span's head is then 0-7 elements long) and for strided x;
    nothing outside the buffer is written; a NaN is named by its row in a span's head, its body and the
    last span's tail."""
    from scipy import stats

    from engine.kernels.normal import SPAN, STREAM_BYTES

    n = STREAM_BYTES // np.dtype(dtype).itemsize + 13
    x = RNG.normal(size=n).astype(dtype)
    m = engine.Normal(0.5, 2.0)
    fresh = m.logpdf(x)
    rtol = 2e-7 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(fresh, stats.norm(0.5, 2.0).logpdf(x.astype(np.float64)), rtol=rtol)
    for offset in range(8):
        backing = np.full(n + 16, 7.0, dtype)
        buf = backing[offset:offset + n]
        assert m.logpdf(x, out=buf) is buf
        np.testing.assert_array_equal(buf, fresh)
        assert np.all(backing[:offset] == 7.0) and np.all(backing[offset + n:] == 7.0)
    np.testing.assert_array_equal(m.logpdf(np.repeat(x, 2)[::2], out=np.empty(n, dtype)), fresh)
    for bad in (3 * SPAN, 5 * SPAN + 100, n - 2):
        xb = x.copy()
        xb[bad] = np.nan
        xb[bad + 1] = np.inf  # a later bad row is not the one named
        with pytest.raises(ValueError, match=f"row: {bad}$"):
            m.logpdf(xb, out=np.empty(n, dtype))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_scoring_and_sampling_into_buffers(covariance_type):
    X = RNG.normal(size=(3000, 3))
    gm = engine.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    out, resp = np.empty(3000), np.empty((3000, 3))
    logd, r = gm.log_density_and_responsibilities(X, out=out, resp_out=resp)
    assert logd is out and r is resp
    fresh_logd, fresh_resp = gm.log_density_and_responsibilities(X)
    np.testing.assert_array_equal(out, fresh_logd)
    np.testing.assert_array_equal(resp, fresh_resp)
    np.testing.assert_array_equal(gm.score_samples(X, out=np.empty(3000)), fresh_logd)
    np.testing.assert_array_equal(gm.predict_proba(X, out=np.empty((3000, 3))), fresh_resp)
    # staged input (float32): the output keeps the input's dtype
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(gm.score_samples(X32, out=np.empty(3000, np.float32)), gm.score_samples(X32))
    S, lab = np.empty((700, 3)), np.empty(700, dtype=np.int64)
    got = gm.sample(700, random_state=5, out=S, labels_out=lab)
    assert got[0] is S and got[1] is lab
    want = gm.sample(700, random_state=5)
    np.testing.assert_array_equal(S, want[0])
    np.testing.assert_array_equal(lab, want[1])
    mvn = engine.MultivariateNormal(np.zeros(3), np.eye(3))
    np.testing.assert_array_equal(mvn.logpdf(X, out=np.empty(3000)), mvn.logpdf(X))


def test_bad_buffers_are_named_errors():
    m = engine.Normal()
    x = RNG.normal(size=100)
    with pytest.raises(ValueError, match=r"out must have shape \(100,\)"):
        m.logpdf(x, out=np.empty(99))
    with pytest.raises(ValueError, match="out must have dtype float64"):
        m.logpdf(x, out=np.empty(100, dtype=np.float32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        m.logpdf(x, out=np.empty(200)[::2])
    ro = np.empty(100)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        m.logpdf(x, out=ro)
    with pytest.raises(ValueError, match="shares memory with the input"):
        m.logpdf(x, out=x)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        m.logpdf(x, out=[0.0] * 100)
    gm = engine.GaussianMixture.from_params([0.5, 0.5], np.zeros((2, 2)), np.array([np.eye(2)] * 2))
    with pytest.raises(ValueError, match=r"resp_out must have shape \(4, 2\)"):
        gm.log_density_and_responsibilities(np.zeros((4, 2)), resp_out=np.empty((4, 3)))
    with pytest.raises(ValueError, match=r"labels_out must have shape \(4,\)"):
        gm.sample(4, labels_out=np.empty(5, dtype=np.int64))


def test_family_mixtures_and_transformed_models_into_buffers():
    X = np.abs(RNG.normal(size=(2000, 2))) + 0.1
    for family in ("exponential", "student_t"):
        m = engine.Mixture(2, family=family, random_state=0).fit(X)
        buf, resp = np.empty(2000), np.empty((2000, 2))
        assert m.score_samples(X, out=buf) is buf
        np.testing.assert_array_equal(buf, m.score_samples(X))
        np.testing.assert_array_equal(m.predict_proba(X, out=resp), m.predict_proba(X))
    t = engine.Transformed(engine.GaussianMixture(2, random_state=0), engine.transforms.Log()).fit(X)
    p = engine.Transformed(engine.Mixture(2, family="exponential", random_state=0),
                           engine.transforms.Affine(0.0, 2.0)).fit(X)
    for model in (t, p):  # the fused and the chunked path
        buf = np.empty(2000)
        assert model.score_samples(X, out=buf) is buf
        np.testing.assert_array_equal(buf, model.score_samples(X))
    with pytest.raises(ValueError, match=r"out must have shape \(2000,\)"):
        p.score_samples(X, out=np.empty(3))


def test_family_sampling_into_buffers():
    """Student-t (scaled in place in blocks: the same bits as the fresh call's arithmetic) and the Gaussian
    family; a product model whose categories are not numbers cannot fill a float buffer: a named error."""
    X = RNG.standard_t(5, size=(3000, 3))
    for family in ("student_t", "gaussian"):
        m = engine.Mixture(2, family=family, random_state=0).fit(X)
        S, labels = m.sample(2500, random_state=9)
        out, lab = np.empty((2500, 3)), np.empty(2500, dtype=np.int64)
        got = m.sample(2500, random_state=9, out=out, labels_out=lab)
        assert got[0] is out and got[1] is lab
        np.testing.assert_array_equal(out, S)
        np.testing.assert_array_equal(lab, labels)
    import pyarrow as pa

    table = pa.table({"x": RNG.normal(size=400), "color": RNG.choice(["red", "blue"], 400)})
    m = engine.Mixture(2, family={"x": "gaussian", "color": "categorical"}, random_state=0).fit(table)
    with pytest.raises(TypeError, match="categorical column 'color' holds non-numeric categories"):
        m.sample(5, out=np.empty((5, 2)))
    assert m.sample(5, random_state=1)[0].dtype == object


def _hmm(K=3, D=2):
    rng = np.random.default_rng(5)
    m = engine.GaussianHMM(K, covariance_type="diag", init_params="")
    m.startprob_ = rng.dirichlet(np.ones(K))
    m.transmat_ = rng.dirichlet(np.ones(K), size=K)
    m.means_ = rng.normal(scale=2, size=(K, D))
    m.covars_ = rng.uniform(0.5, 2, (K, D))
    return m


def test_hmm_scoring_and_sampling_into_buffers():
    m = _hmm()
    lengths = [300, 500, 200]
    X, states = m.sample(1000, random_state=2, lengths=lengths)
    out, st = np.empty((1000, 2)), np.empty(1000, dtype=np.int64)
    got = m.sample(1000, random_state=2, lengths=lengths, out=out, states_out=st)
    assert got[0] is out and got[1] is st
    np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(st, states)
    ll, post = m.score_samples(X, lengths)
    resp = np.empty((1000, 3))
    ll2, post2 = m.score_samples(X, lengths, resp_out=resp)
    assert post2 is resp and ll2 == ll
    np.testing.assert_array_equal(resp, post)
    assert m.predict_proba(X, lengths, out=resp) is resp
    per_seq = np.empty(3)
    assert m.score_sequences(X, lengths, out=per_seq) is per_seq
    np.testing.assert_array_equal(per_seq, m.score_sequences(X, lengths))
    with pytest.raises(ValueError, match=r"resp_out must have shape \(1000, 3\)"):
        m.score_samples(X, lengths, resp_out=np.empty((1000, 2)))
    with pytest.raises(ValueError, match=r"out must have shape \(3,\)"):
        m.score_sequences(X, lengths, out=np.empty(1))
    with pytest.raises(ValueError, match="states_out must have dtype int64"):
        m.sample(10, states_out=np.empty(10))
    with pytest.raises(ValueError, match=r"out must have shape \(10, 2\)"):
        m.sample(10, out=np.empty((10, 3)))
    # CategoricalHMM's symbols are int64, and so must its buffer be
    c = engine.CategoricalHMM(2, init_params="")
    c.startprob_, c.transmat_ = np.array([0.6, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]])
    c.emissionprob_ = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    symbols, _ = c.sample(400, random_state=3)
    into = np.empty((400, 1), dtype=np.int64)
    assert c.sample(400, random_state=3, out=into)[0] is into
    np.testing.assert_array_equal(into, symbols)
    with pytest.raises(ValueError, match="out must have dtype int64"):
        c.sample(400, random_state=3, out=np.empty((400, 1)))


def test_transformed_posteriors_and_samples_into_buffers():
    X = np.abs(RNG.normal(size=(2000, 2))) + 0.1
    t = engine.Transformed(engine.GaussianMixture(2, random_state=0), engine.transforms.Log()).fit(X)
    resp = np.empty((2000, 2))
    assert t.predict_proba(X, out=resp) is resp
    np.testing.assert_array_equal(resp, t.predict_proba(X))
    # Box-Cox with lambda = 3 has no preimage below -1/3: some of the base's draws are redrawn, and the
    # redraws land in the caller's arrays too
    b = engine.Transformed(engine.GaussianMixture(1, random_state=0), engine.transforms.BoxCox(lmbda=3.0))
    b.fit(RNG.uniform(0.01, 0.5, size=(2000, 1)))
    for model, D in ((t, 2), (b, 1)):
        S, labels = model.sample(5000, random_state=6)
        out, lab = np.empty((5000, D)), np.empty(5000, dtype=np.int64)
        draws = []
        base_sample = model.base.sample
        model.base.sample = lambda *a, **k: draws.append(1) or base_sample(*a, **k)
        try:
            got = model.sample(5000, random_state=6, out=out, labels_out=lab)
        finally:
            del model.base.sample
        assert got[0] is out and got[1] is lab
        assert len(draws) == (1 if model is t else 2)  # b: one redraw
        np.testing.assert_array_equal(out, S)
        np.testing.assert_array_equal(lab, labels)
    with pytest.raises(TypeError, match="out must be a float32 or float64 NumPy array"):
        t.sample(10, out=np.empty((10, 2), dtype=np.int64))


def test_markov_chain_scores_and_samples_into_buffers():
    chain = engine.MarkovChain().fit(np.array(list("aababbbaabbbab" * 20)), lengths=[140, 140])
    seqs = chain.sample(300, random_state=1, lengths=[100, 200])
    into = np.empty(300, dtype=chain.states_.dtype)
    assert chain.sample(300, random_state=1, lengths=[100, 200], out=into) is into
    np.testing.assert_array_equal(into, seqs)
    per_seq = np.empty(2)
    assert chain.score_sequences(seqs, [100, 200], out=per_seq) is per_seq
    np.testing.assert_array_equal(per_seq, chain.score_sequences(seqs, [100, 200]))
    with pytest.raises(ValueError, match="out must have dtype"):
        chain.sample(300, random_state=1, lengths=[100, 200], out=np.empty(300))
