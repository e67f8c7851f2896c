"""Mixture families on real tables (shipped in datasets/) and the exactness of marginalised missing values."""
import os

import numpy as np
import pytest

import engine

pq = pytest.importorskip("pyarrow.parquet")
DATA = os.path.join(os.path.dirname(__file__), "..", "datasets")


def _adjusted_rand(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


def test_marginalised_missing_equals_the_model_on_the_observed_columns():
    """A row with column j missing scores exactly as the same model without column j (built by hand)."""
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(size=400), rng.integers(0, 2, 400), rng.poisson(3, 400), rng.integers(0, 3, 400)])
    X = X.astype(float)
    X[rng.random(X.shape) < 0.15] = np.nan
    fam = {0: "gaussian", 1: "bernoulli", 2: "poisson", 3: "categorical"}
    m = engine.Mixture(2, family=fam, missing="marginalize", random_state=0).fit(X)
    full = m.score_samples(X)
    for j in range(4):
        rows = np.isnan(X[:, j]) & ~np.isnan(np.delete(X, j, axis=1)).any(axis=1)
        assert rows.sum() > 10
        keep = [c for c in range(4) if c != j]
        sub_fam = {i: fam[c] for i, c in enumerate(keep)}
        init = {i: m.params_[c] for i, c in enumerate(keep)}
        init = {i: ({"probs": v["probs"]} if "categories" in v else v) for i, v in init.items()}
        sub = engine.Mixture(2, family=sub_fam, params_init=init, weights_init=m.weights_, max_iter=0).fit(X[:, keep][~np.isnan(X[:, keep]).any(axis=1)])
        np.testing.assert_allclose(full[rows], sub.score_samples(X[rows][:, keep]), rtol=1e-12)


def test_marginalised_fit_equals_the_twin_with_entries_removed():
    """EM statistics with NaN entries equal the twin's sums over the observed entries only."""
    from engine.reference import product as twin

    rng = np.random.default_rng(4)
    X = np.column_stack([rng.exponential(2, 500), rng.integers(0, 2, 500)]).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    m = engine.Mixture(2, family={0: "exponential", 1: "bernoulli"}, missing="marginalize", random_state=1,
                       max_iter=3, tol=0)
    with pytest.warns(engine.ConvergenceWarning):
        m.fit(X)
    fam, p = m._family_obj, m._params
    new = fam.m_step(fam.statistics(X, np.empty(0), p))
    w, loc, var, cat, ll = twin.em_step(X, ["exponential", "bernoulli"], p.weights, p.loc, p.var, p.cat_probs,
                                        fam.encoder.cat_offsets, fam.encoder.cat_sizes)
    np.testing.assert_allclose(new.loc, loc, rtol=1e-10)
    np.testing.assert_allclose(new.weights, w, rtol=1e-10)


def test_unknown_category_is_an_error_or_missing():
    train = np.array([["a"], ["b"], ["a"], ["c"]], dtype=object)
    m = engine.Mixture(1, family="categorical", random_state=0).fit(train)
    with pytest.raises(ValueError, match=r"column 0, input row 1: unknown category 'zzz'"):
        m.score_samples(np.array([["a"], ["zzz"]], dtype=object))
    m2 = engine.Mixture(1, family="categorical", unknown="ignore", random_state=0).fit(train)
    np.testing.assert_allclose(m2.score_samples(np.array([["a"], ["zzz"]], dtype=object)), [np.log(0.5), 0.0])


def test_lsat6_latent_classes_by_bic():
    """lsat6 (1,000 answers to 5 yes/no items): Bernoulli latent classes, K chosen by BIC. The fitted
    log-likelihood is checked against brute force: the 32 answer patterns' probabilities sum to 1."""
    t = pq.read_table(os.path.join(DATA, "lsat6.parquet"))
    fits = {K: engine.Mixture(K, family="bernoulli", n_init=5, random_state=0).fit(t) for K in (1, 2, 3)}
    bics = {K: m.bic(t) for K, m in fits.items()}
    patterns = np.array(np.meshgrid(*[[0, 1]] * 5, indexing="ij")).reshape(5, -1).T.astype(float)
    for m in fits.values():
        assert np.exp(m.score_samples(patterns)).sum() == pytest.approx(1.0, abs=1e-12)
    # K = 1 is the independence model; its MLE is the item means
    X = np.column_stack([t.column(c).to_numpy() for c in t.column_names]).astype(float)
    np.testing.assert_allclose(fits[1].probs_[0], X.mean(axis=0), rtol=1e-12)
    assert min(bics, key=bics.get) in (1, 2)
    assert fits[2].lower_bound_ > fits[1].lower_bound_


def test_titanic_mixed_types_with_age_nulls_marginalised():
    t = pq.read_table(os.path.join(DATA, "titanic.parquet"))
    fam = {"survived": "categorical", "sex": "categorical", "passengerClass": "categorical", "age": "gaussian"}
    with pytest.raises(ValueError, match=r"column 'age', input row \d+: missing value"):
        engine.Mixture(2, family=fam, random_state=0).fit(t)
    m = engine.Mixture(3, family=fam, missing="marginalize", n_init=3, tol=1e-12, max_iter=5000, random_state=0).fit(t)
    assert np.isfinite(m.score_samples(t)).all()
    assert [list(c) for c in m.params_["sex"]["categories"]] == [["female", "male"]]
    # the observed-age rows' mean age under the fit equals the data's mean age (a moment the M-step preserves)
    age = t.column("age").to_numpy(zero_copy_only=False)
    obs = ~np.isnan(age)
    resp = m.predict_proba(t)
    np.testing.assert_allclose((resp[obs] * m.params_["age"]["means"][:, 0]).sum() / obs.sum(), age[obs].mean(),
                               rtol=1e-3)


def test_penguins_mixed_types_against_the_held_back_species():
    t = pq.read_table(os.path.join(DATA, "penguins.parquet"))
    measures = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    fam = {"island": "categorical", "sex": "categorical", measures: "gaussian"}
    m = engine.Mixture(3, family=fam, missing="marginalize", n_init=10, random_state=0).fit(t)
    species = t.column("species").to_numpy(zero_copy_only=False)
    ari = _adjusted_rand(species, m.predict(t))
    print(f"penguins: adjusted Rand index vs species = {ari:.3f}")
    assert ari > 0.3
    path_roundtrip = m.score_samples(t)
    assert np.isfinite(path_roundtrip).all()


def test_titanic_on_dask_dataframe_equals_local_stream():
    dd = pytest.importorskip("dask.dataframe")
    from engine import dask as edask

    df = pq.read_table(os.path.join(DATA, "titanic.parquet")).to_pandas()
    fam = {"survived": "categorical", "sex": "categorical", "passengerClass": "categorical", "age": "gaussian"}
    ddf = dd.from_pandas(df, npartitions=4)
    parts = [ddf.get_partition(i).compute() for i in range(4)]
    kw = dict(family=fam, missing="marginalize", max_iter=5, tol=0, random_state=2)
    with pytest.warns(engine.ConvergenceWarning):
        local = engine.Mixture(3, **kw).fit_stream(parts, init_sample_size=300)
        dist = edask.fit(engine.Mixture(3, **kw), ddf, init_sample_size=300, scheduler="sync")
    np.testing.assert_allclose(dist._params.cat_probs, local._params.cat_probs, rtol=1e-12)
    np.testing.assert_allclose(dist._params.loc, local._params.loc, rtol=1e-12)
    scored = edask.score(dist, ddf).compute(scheduler="sync")
    np.testing.assert_allclose(scored["log_density"].to_numpy(), dist.score_samples(df), rtol=1e-12)


def test_inputs_parameters_and_devices():
    import pandas as pd
    import pyarrow as pa

    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], 300)
    count = rng.poisson(2, 300)
    df = pd.DataFrame({"colour": colour, "count": count, "flag": rng.random(300) < 0.3})
    fam = {"colour": "categorical", "count": "poisson", "flag": "bernoulli"}
    a = engine.Mixture(2, family=fam, random_state=0).fit(df)
    table = pa.table({"colour": pa.array(colour).dictionary_encode(), "count": count, "flag": df["flag"].to_numpy()})
    b = engine.Mixture(2, family=fam, random_state=0).fit(table)
    np.testing.assert_allclose(a.score_samples(df), b.score_samples(table), rtol=1e-12)
    assert list(a.params_["colour"]["categories"][0]) == ["blue", "green", "red"]
    # scikit-learn's estimator protocol: clone keeps every parameter
    from sklearn.base import clone

    c = clone(engine.Mixture(3, family="poisson", dof=None, missing="marginalize"))
    assert c.get_params()["missing"] == "marginalize" and c.n_components == 3
    # wrong parameters and devices: clear errors naming them
    with pytest.raises(ValueError, match="CPU only"):
        engine.Mixture(2, family="poisson", device="cuda").fit(count[:, None])
    with pytest.raises(ValueError, match=r"params_init\['rates'\] must have shape \(2, 1\)"):
        engine.Mixture(2, family="poisson", params_init={"rates": [1.0, 2.0, 3.0]}).fit(count[:, None])
    with pytest.raises(ValueError, match="parameter 'family' must be one of"):
        engine.Mixture(2, family="gamma").fit(count[:, None])
    with pytest.raises(ValueError, match="covariance_type 'diag' or 'spherical'"):
        engine.Mixture(2, family="gaussian", covariance_type="full", missing="marginalize").fit(rng.normal(size=(50, 2)))
