"""Reproductions of the seed's studies."""
