"""goulart24 controls: for every claim with controls, the positive control passes its checks and the negative
control fails at least one outright, on a reduced benchmark (stored quick checkpoints, small baselines)."""

from __future__ import annotations

import pytest
import torch

import empirical.claims.goulart24 as g24
from empirical.claims import select_claims
from empirical.claims.core import RunContext
from empirical.llm.baselines import BaselineSettings
from empirical.llm.benchmark import BenchConfig
from empirical.llm.tasks import MatrixFunctionTask as T

#: Enough prompts for the controls' effects, small per-prompt networks (the controls do not depend on their size).
SMALL = BenchConfig(
    tasks=(T("pnorm", 5, p=0.5), T("nuclear", 2), T("nuclear", 3), T("nuclear", 5), T("topk", 5, k=2),
           T("pnorm", 5, regime="family"), T("nuclear", 5, regime="family")),
    cs=(1, 2, 8, 16), prompts=100, cheap_prompts=2000, cnn_tasks=("nuclear_5x5",), reseed_tasks=("pnorm_n5_p0.5",),
    settings=BaselineSettings(sgd_steps=60, mlp_steps=60, cnn_steps=20, cnn_channels=4, mlp_hidden=16))

WITH_CONTROLS = ("mean_predictor_mse", "simple_task_nn_competitive", "complex_tasks_icl_beats_baselines",
                 "icl_beats_mean_predictor", "fast_convergence_in_examples", "baselines_overfit_few_examples",
                 "scales_with_matrix_size", "function_family_icl")


@pytest.fixture(scope="module")
def small():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(g24, "bench_config", lambda profile: SMALL)
        mp.setattr(g24, "MEAN_PREDICTOR_PROMPTS", {"quick": 600, "full": 600})
        torch.set_num_threads(1)
        yield


def test_every_trained_claim_has_both_controls():
    trained = {c.id.split(".", 1)[1] for c in select_claims(["goulart24"]) if "trained" in c.evidence}
    assert trained <= set(WITH_CONTROLS)


@pytest.mark.parametrize("name", WITH_CONTROLS)
def test_positive_control_passes_and_negative_control_fails(name, small, tmp_path):
    claim = next(c for c in select_claims(["goulart24"]) if c.id == f"goulart24.{name}")
    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=claim.id,
                     progress=False)
    out = claim.runner(ctx)
    roles = {c.role for c in out.controls}
    assert roles == {"positive", "negative"}, roles
    for c in out.controls:
        # The same checks as the claim's own (names and thresholds), run on the control's learner.
        assert [(k.name, k.op, k.threshold) for k in c.checks] == [(k.name, k.op, k.threshold) for k in out.checks] \
            or name == "baselines_overfit_few_examples"  # there the claim judges two baselines, each control one
        detail = [(k.name, k.status, k.measured, k.interval) for k in c.checks]
        if c.role == "positive":
            assert all(k.status == "pass" for k in c.checks), detail
        else:
            assert any(k.status == "fail" for k in c.checks), detail
        assert c.behaved
