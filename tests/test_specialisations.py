"""Start-up cost: each heavy kernel is compiled for one argument type per parameter layout, whatever the input.

A float32, read-only or strided input, or a read-only parameter array, used to give every kernel another
Numba specialisation, i.e. another full compile on a cold start (10-20 s each on 2 cores). This runs in a
fresh process, so it counts exactly the specialisations that the calls below create."""
import subprocess
import sys

CODE = r"""
import warnings
import numpy as np
import engine
from engine.estimation.em import e_step_stats
from engine.kernels.em import em_statistics
from engine.kernels.gaussian import mixture_log_density
from engine.kernels.kmeans import kmeans_plusplus
from engine.kernels.sampling import mixture_sample

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 3))
readonly = X.copy()
readonly.flags.writeable = False
for ct in ("full", "tied", "diag", "spherical"):
    for data in (X, X.astype(np.float32), readonly, np.asfortranarray(X), X[::2]):
        for init in ("kmeans", "k-means++", "random", "random_from_data"):
            g = engine.GaussianMixture(2, covariance_type=ct, init_params=init, max_iter=3, random_state=0).fit(data)
        g.score_samples(data)
        g.predict_proba(data)
        e_step_stats(g, data)
    g.sample(100)
    g.sample(100, dtype=np.float32)
print(len(em_statistics.signatures), len(mixture_log_density.signatures), len(kmeans_plusplus.signatures),
      len(mixture_sample.signatures))
"""


def test_one_specialisation_per_parameter_layout():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
    # em_statistics / mixture_log_density: dense (P, D, D) and diagonal (K, D) precision layouts;
    # k-means++: contiguous candidates only (the strided view appears above 2^20 rows);
    # the sampler: dense and diagonal factor layouts
    assert [int(v) for v in out] == [2, 2, 1, 2], out
