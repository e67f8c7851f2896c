"""Bad input: a clear ValueError/TypeError that names the parameter and, for data, the first bad row."""
import numpy as np
import pytest

import engine


@pytest.fixture
def mixture():
    return engine.GaussianMixture.from_params([0.3, 0.7], [[0.0, 0.0], [3.0, 3.0]], [[1.0, 1.0], [2.0, 0.5]], "diag")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_data_names_first_row(mixture, bad):
    X = np.zeros((10_000, 2))
    X[7321, 1] = bad
    X[9000, 0] = bad
    with pytest.raises(ValueError, match="row: 7321"):
        mixture.logpdf(X)
    x = np.zeros(50)
    x[42] = bad
    with pytest.raises(ValueError, match="row: 42"):
        engine.Normal().logpdf(x)
    with pytest.raises(ValueError, match="row: 7321"):
        engine.fit_mle(X)


def test_wrong_shapes_and_dtypes(mixture):
    with pytest.raises(ValueError, match="3 features"):
        mixture.logpdf(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        mixture.logpdf(np.zeros(4))
    with pytest.raises(TypeError, match="dtype"):
        mixture.logpdf(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="dtype"):
        mixture.logpdf(np.zeros((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="dtype"):
        engine.Normal().logpdf(np.array(["x"], dtype=object))
    # integers are numbers: cast to float64
    assert mixture.logpdf(np.zeros((2, 2), dtype=np.int32)).dtype == np.float64


def test_bad_parameters():
    with pytest.raises(ValueError, match="'scale' must be positive"):
        engine.Normal(0.0, 0.0)
    with pytest.raises(ValueError, match="'scale' must be positive"):
        engine.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="'loc' must be finite"):
        engine.Normal(np.nan, 1.0)
    with pytest.raises(ValueError, match="not positive definite"):
        engine.MultivariateNormal([0, 0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        engine.MultivariateNormal([0, 0], [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"covariances\[1\] is not positive definite"):
        engine.GaussianMixture.from_params([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[0.0]]], "full")
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        engine.GaussianMixture.from_params([1.0], [[0.0]], [1.0], "banana")
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        engine.MultivariateNormal([0.0], [[1.0]], "tied")
    with pytest.raises(ValueError, match=r"weights\[1\] = -0.1"):
        engine.GaussianMixture.from_params([1.1, -0.1], [[0.0], [1.0]], [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match="sum to 1"):
        engine.GaussianMixture.from_params([0.5, 0.6], [[0.0], [1.0]], [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match="'covariances' must have shape"):
        engine.GaussianMixture.from_params([0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match="'means' must have shape"):
        engine.GaussianMixture.from_params([0.5, 0.5], [0.0, 1.0], [1.0, 1.0], "spherical")
    with pytest.raises(ValueError, match="variances"):
        engine.GaussianMixture.from_params([0.5, 0.5], [[0.0], [1.0]], [[1.0], [-1.0]], "diag")
    with pytest.raises(TypeError, match="'weights' must be numeric"):
        engine.GaussianMixture.from_params(["a"], [[0.0]], [1.0], "spherical")


def test_unfitted_mixture_says_so():
    with pytest.raises(ValueError, match="from_params"):
        engine.GaussianMixture(2).logpdf(np.zeros((1, 2)))


def test_bad_sampling_arguments(mixture):
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        mixture.sample(-1)
    with pytest.raises(ValueError, match="n_samples must be >= 0"):
        engine.Normal().sample(-1)
    with pytest.raises(TypeError, match="n_samples must be an integer"):
        mixture.sample(2.5)
    with pytest.raises(TypeError, match="random_state"):
        mixture.sample(2, random_state="seed")
    with pytest.raises(ValueError, match="random_state"):
        mixture.sample(2, random_state=-3)
