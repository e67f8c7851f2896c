"""hmmlearn 0.3.3's own tests (``hmmlearn/tests``), run against engine's HMMs with only the imports changed
(``from engine import hmm``; ``from engine.hmm import BaseHMM, ConvergenceMonitor, DECODER_ALGORITHMS``). Their
helpers still use ``hmmlearn.utils.normalize``, and five tests of test_base.py exercise ``hmmlearn._hmmc`` (its
private C++ kernels) directly — they pass, but test hmmlearn, not engine: hmmlearn is a test dependency, like
scikit-learn.

hmmlearn's conftest seeds NumPy's global generator from a random number on every run; here the seed is fixed
(``HMMLEARN_SEED``, default 0) so a run is reproducible."""
import os
import random

import numpy as np
import pytest

hmmlearn = pytest.importorskip("hmmlearn")

HMMLEARN_SERIES = "0.3."


def pytest_ignore_collect(collection_path, config):
    if collection_path.name.startswith("test_") and not hmmlearn.__version__.startswith(HMMLEARN_SERIES):
        return True
    return None


def pytest_configure(config):
    seed = int(os.environ.get("HMMLEARN_SEED", 0))
    np.random.seed(seed)
    random.seed(seed)


#: hmmlearn tests that do not pass unchanged, and why (README, "HMMs: decisions against hmmlearn"). They are
#: marked xfail(strict=True): if one starts passing, this list must be updated.
EXPECTED_FAILURES = {
    # hmmlearn's "scaling" forward-backward raises on underflow; engine's scaled recursion cannot underflow, so
    # the fit succeeds (a defect not copied)
    "test_gaussian_hmm.py::TestGaussianHMMWithSphericalCovars::test_underflow_from_scaling[scaling]":
        "engine's scaled forward-backward does not underflow",
    # one sequence of 1,000 steps against five of 200 (different models: the four cut transitions) must give
    # covariances within 1e-3 after 10 iterations; engine's exact covariance update (about the updated means,
    # where hmmlearn's uses the previous means) climbs further in those 10 iterations (log-likelihood -2992.9
    # against hmmlearn's -2993.6) and the two fits end 1.8e-3 apart (hmmlearn's: 0.9e-3)
    "test_gmm_hmm_new.py::TestGMMHMM_MultiSequence::test_chunked[full]":
        "engine's exact M-step converges further in 10 iterations; the two different models end 1.8e-3 apart",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = item.nodeid.split("hmmlearn_compat/")[-1]
        reason = EXPECTED_FAILURES.get(rel)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
