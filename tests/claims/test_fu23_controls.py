"""fu23 trained claims: every judge reads its positive control as true and its negative control as false, through
the same pipeline (probes, SimE, paper grids, best match, bootstrap interval, thresholds) the trained models go
through; and the instrument recovers the Newton rate of a known subject at several (d, n, κ)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch

import empirical.papers.fu23.runners as fu23
from empirical.papers.fu23.training import RECIPES
from empirical.probes import gd_prefix_predictions, newton_prefix_predictions, prefix_prompts
from empirical.registry.core import Control
from theory.samplers import LinearRegressionTask

#: (probe-training, held-out) prompts for the controls here (the claims use fu23.STUDY_SIZES).
SIZES = (256, 128)


@cache
def _prompts(d: int, n: int, cond: float):
    g = torch.Generator().manual_seed(1234)
    return (LinearRegressionTask(d=d, n=n, m=1, cond=cond).sample(SIZES[0], g),
            LinearRegressionTask(d=d, n=n, m=2 * d, cond=cond).sample(SIZES[1], g))


@cache
def _stand_in(kind: str, layers: int, d: int, n: int, cond: float):
    tr, te = _prompts(d, n, cond)
    return fu23.stand_in_study(kind, layers, tr, te, seed=7)


def _control(cid: str, subject: str) -> Control:
    """The claim's judge on one of its controls, at its model's task (d, n, cond Σ) and depth."""
    spec = fu23.TRAINED[cid]
    r = RECIPES["quick"][spec.model]
    c = next(c for c in spec.controls if c.subject == subject)
    checks, measured = spec.judge(_stand_in(subject, r.layers, r.d, r.n, r.cond), np.random.default_rng(0))
    return Control(c.subject, c.role, c.why, checks, measured)


CASES = [(cid, c.subject, c.role) for cid, spec in fu23.TRAINED.items() for c in spec.controls]


@pytest.mark.parametrize("cid,subject,role", CASES, ids=[f"{c}-{s}" for c, s, _ in CASES])
def test_fu23_control_behaves(cid, subject, role):
    ctl = _control(cid, subject)
    if role == "positive":
        assert all(c.status == "pass" for c in ctl.checks), [c.as_dict() for c in ctl.checks]
    else:
        assert any(c.status == "fail" for c in ctl.checks), [c.as_dict() for c in ctl.checks]
    assert ctl.behaved


def test_fu23_every_trained_claim_has_a_positive_and_a_negative_control():
    for cid, spec in fu23.TRAINED.items():
        assert {c.role for c in spec.controls} == {"positive", "negative"}, cid
        assert all(c.subject in fu23.STAND_INS for c in spec.controls)


@pytest.mark.parametrize("d,n,cond", [(5, 10, 1.0), (5, 10, 100.0), (8, 12, 30.0)])
def test_fu23_pipeline_recovers_newton_rate_and_rejects_gd(d, n, cond):
    """Newton at 3 steps per layer: the slope interval holds 3 and lies above the threshold (so it excludes the
    GD reading, ≤ 2); GD doubling its steps per layer: the interval lies wholly below it (and excludes 3)."""
    newton, _ = fu23._newton_tracking(_stand_in("newton_3_per_layer", 4, d, n, cond), np.random.default_rng(1))
    lo, hi = newton[0].interval
    assert fu23.NEWTON_SLOPE_MIN < lo <= 3.0 <= hi, newton[0].as_dict()
    gd, m = fu23._newton_tracking(_stand_in("gd_doubling", 4, d, n, cond), np.random.default_rng(1))
    assert gd[0].status == "fail" and gd[0].interval[1] < 3.0, (gd[0].as_dict(), m)


def test_fu23_gd_stand_in_is_the_pgd_construction():
    """gd_1_per_layer holds what L stacked preconditioned-GD layers (Ahn et al., A = 0.01·n·I) predict."""
    from constructions.linear_attention import read_predictions
    from constructions.pgd import run_preconditioned_gd

    p = LinearRegressionTask(d=4, n=7, m=1).sample(5, torch.Generator().manual_seed(3))
    pp = prefix_prompts(p)
    A = [0.01 * p.n * torch.eye(4, dtype=torch.float64)] * 3
    resid = run_preconditioned_gd(pp, A)  # (L+1, B·n, d+1, n+1+d)
    built = read_predictions(resid, p.n)[..., 0].reshape(4, 5, 7)
    ours = gd_prefix_predictions(p, [0, 1, 2, 3], "official")[..., 1:]
    torch.testing.assert_close(built, ours, rtol=1e-10, atol=1e-12)


def test_fu23_newton_stand_in_is_the_compact_construction():
    """newton_3_per_layer holds what the compact construction's read-out gives after Newton layer 3ℓ (one prompt
    per run, so the construction's α = 1/λ_max² is the reference's)."""
    from constructions.newton import read_estimates, run_newton_construction

    p = LinearRegressionTask(d=3, n=5, m=1).sample(2, torch.Generator().manual_seed(4))
    pp = prefix_prompts(p)
    ours = newton_prefix_predictions(p, [0, 3, 6])[..., 1:].reshape(3, -1)  # (3, B·n)
    for b in range(pp.batch_size):
        one = pp.to(dtype=torch.float64)
        one = type(one)(one.X[b:b + 1], one.y[b:b + 1], one.xq[b:b + 1], one.yq[b:b + 1])
        tr = run_newton_construction(one, 6)
        w = read_estimates(tr.transformer, tr.states)[[2, 5, 8], 0]  # after newton_init, newton_step[2], [5]
        torch.testing.assert_close(w @ one.xq[0, 0], ours[:, b], rtol=1e-9, atol=1e-12)
