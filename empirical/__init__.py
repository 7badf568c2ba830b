"""Trained models, probes, the claims registry, artifacts and the CLI."""
