"""scikit-learn's own mixture tests, run against engine.GaussianMixture (only the import changed)."""
