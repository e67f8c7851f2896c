"""Estimation drivers: closed-form maximum likelihood (and EM, KL in later modules)."""
