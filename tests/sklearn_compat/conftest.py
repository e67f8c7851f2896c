"""Fixtures that scikit-learn's own conftest provides to its mixture tests (copied so the test files below run
unchanged but for the import of engine's GaussianMixture). float32 runs too: engine keeps float32 fitted
attributes for float32 data, as scikit-learn does."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

#: the two test files are scikit-learn 1.9's (they import its private helpers, which move between releases)
SKLEARN_SERIES = "1.9."


def pytest_ignore_collect(collection_path, config):
    if collection_path.name.startswith("test_") and not sklearn.__version__.startswith(SKLEARN_SERIES):
        return True  # a different scikit-learn: its own tests, not these copies, describe it
    return None


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    yield request.param


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", [42])


#: scikit-learn's tests that cannot pass unchanged, and why (also listed in the README's compatibility section).
#: They are marked xfail(strict=True): if one starts passing, the list must be updated.
KNOWN_DIFFERENCES = {
    "test_gaussian_mixture_precisions_init[": "calls scikit-learn's private helpers with their private signatures: "
        "_set_parameters((weights, means, covariances, precisions_cholesky)) and _initialize(X, resp) with an "
        "n x K responsibility matrix (engine has no n x K array; its _set_parameters takes named parameters)",
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": "monkeypatches scikit-learn's private "
        "_estimate_gaussian_parameters, which engine never calls (its M-step consumes additive statistics)",
    "test_gaussian_mixture_precisions_init_diag": "needs engine's k-means to number the components as "
        "scikit-learn's KMeans(random_state=0) does; engine's k-means++ draws from its own counter-based stream, "
        "so the same clusters come out in the other order (both fits reach the same lower bound)",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name, why in KNOWN_DIFFERENCES.items():
            if item.name.startswith(name):
                item.add_marker(pytest.mark.xfail(reason=why, strict=True))
