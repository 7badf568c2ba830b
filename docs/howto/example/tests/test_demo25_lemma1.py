# ruff: noqa: I001  (theory.demo25 is the example's own module: ruff cannot classify it)
"""tests/claims/test_demo25_lemma1.py — the claim's runner in the quick profile, and its pieces checked
against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.registry import get_claim
from empirical.registry.core import RunContext
from theory.demo25 import insample_loss, one_gd_step
from theory.samplers import LinearRegressionTask


def test_insample_loss_matches_numpy(gen):
    p = LinearRegressionTask(d=3, n=7).sample(4, gen)
    w = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    X, y = p.X.numpy(), p.y.numpy()
    expected = [0.5 * np.mean((X[b] @ w[b].numpy() - y[b]) ** 2) for b in range(4)]
    np.testing.assert_allclose(insample_loss(p, w).numpy(), expected, rtol=1e-13)


def test_one_gd_step_error(gen):
    p = LinearRegressionTask(d=3, n=7).sample(2, gen)
    with pytest.raises(ValueError, match="eta_scale"):
        one_gd_step(p, 0.0)


def test_claim_verified_quick(out_dir):
    claim = get_claim("demo25.lemma1")
    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=out_dir, claim_id=claim.id)
    outcome = claim.runner(ctx)
    assert all(c.passed for c in outcome.checks)
    assert (out_dir / outcome.figures[0]).is_file()
