"""goulart24 controls: for every claim with controls, the positive control passes its checks and the negative
control fails at least one outright, on a reduced benchmark (stored quick checkpoints, small baselines); the LLM
arm's controls (stand-in backends) with a fake LLM."""

from __future__ import annotations

import re

import pytest
import torch

import empirical.papers.goulart24.runners as g24
from empirical.papers.goulart24.llm.baselines import BaselineSettings
from empirical.papers.goulart24.llm.benchmark import BenchConfig
from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask as T
from empirical.registry import select_claims
from empirical.registry.core import RunContext, verdict_of

#: Enough prompts for the controls' effects, small per-prompt networks (the controls do not depend on their size).
SMALL = BenchConfig(
    tasks=(T("pnorm", 5, p=0.5), T("nuclear", 2), T("nuclear", 3), T("nuclear", 5), T("topk", 5, k=2),
           T("pnorm", 5, regime="family"), T("nuclear", 5, regime="family")),
    cs=(1, 2, 8, 16), prompts=100, cheap_prompts=2000, cnn_tasks=("nuclear_5x5",), reseed_tasks=("pnorm_n5_p0.5",),
    settings=BaselineSettings(sgd_steps=60, mlp_steps=60, cnn_steps=20, cnn_channels=4, mlp_hidden=16))

WITH_CONTROLS = ("target_concentration", "mean_predictor_mse", "simple_task_nn_competitive",
                 "complex_tasks_icl_beats_baselines", "icl_beats_mean_predictor", "fast_convergence_in_examples",
                 "baselines_overfit_few_examples", "scales_with_matrix_size", "function_family_icl")


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


# -- the LLM arm (claim local_llm_in_context): controls are stand-in backends through the same pipeline ----------
class _MeanEcho:
    """A fake LLM answering the mean of the y's shown: the mean predictor up to 2-decimal rounding, so claim 6's
    rule (beat the mean) can be neither passed nor failed."""

    def complete(self, prompt: str, max_new_tokens: int) -> str:
        ys = [float(v) for v in re.findall(r"y=([-\d.]+);", prompt)]
        return f"{sum(ys) / len(ys):.2f};"

    def describe(self):
        return {"backend": "fake-mean-echo"}


def _llm_ctx(tmp_path, seed=0):
    return RunContext(profile="quick", device=torch.device("cpu"), seed=seed, out_dir=tmp_path,
                      claim_id="goulart24.local_llm_in_context", progress=False)


def test_llm_controls_are_grouped_by_rule_and_scored_like_the_llm(tmp_path):
    lc = {**g24.llm_config("quick"), "prompts": 6, "nn_prompts": 8, "grid": 0}
    out = g24.judge_llm(_llm_ctx(tmp_path), _MeanEcho(), lc)
    by_name = {c.name: c for c in out.controls}
    assert set(by_name) == {"positive_control_oracle_shape_rules", "negative_control_ridgeless_shape_rules",
                            "positive_control_mlp_reseed_nn_rules", "negative_control_oracle_nn_rules"}
    llm = [k.name for k in out.checks]
    nn_rule = [n for n in llm if "nMSE_mlp / nMSE_learner" in n]
    for c in out.controls:  # each control runs exactly its group's checks of the LLM, same names and thresholds
        names = [k.name for k in c.checks]
        assert names == (nn_rule if c.name.endswith("nn_rules") else [n for n in llm if n not in nn_rule])
    # Controls answer through the same parser: none malformed; the NN refit only where claim 4's rule applies.
    assert out.measured["controls_malformed_total_lenient"] == {
        "pnorm_n5_p0.5": {"control_oracle": 0, "control_ridgeless": 0, "control_mlp_reseed": 0},
        "nuclear_2x2": {"control_oracle": 0, "control_ridgeless": 0}}
    assert out.measured["pnorm_n5_p0.5"]["prompts_per_c"] == {2: 6, 4: 6, 8: 8}  # more prompts at claim 4's c
    assert out.measured["nuclear_2x2"]["prompts_per_c"] == {2: 6, 4: 6, 8: 6}


def test_oracle_control_backend_has_the_constructed_error():
    """Independent of its code path: for the same prompt the error scales as √(1 + 1/c) (one draw shared by
    all c), and (error)² / (τ (1 + 1/c) Var) averages to E ξ² = 1 over prompts."""
    from empirical.papers.goulart24.llm.benchmark import ORACLE_TAU, llm_control_backends
    from empirical.papers.goulart24.llm.prompting import build_prompt, parse_answer
    from empirical.papers.goulart24.llm.tasks import target_stats

    task, P = T("nuclear", 2), 400
    oracle = llm_control_backends(task, 2, seed=5, names=("control_oracle",))["control_oracle"]
    d = task.sample(P, 9, torch.Generator().manual_seed(1), decimals=2)
    _, var = target_stats(task)
    err = {}
    for c in (2, 8):
        Xc, Yc, xq, yq = d.split(c)
        answers = [parse_answer(oracle.complete(build_prompt(Xc[i], Yc[i], xq[i], matrix_side=2), 12), 1)
                   for i in range(P)]
        err[c] = torch.tensor([a[0] for a in answers], dtype=torch.float64) - yq[:, 0]
    scale = (ORACLE_TAU * var[0]).sqrt()
    # 2-decimal answers: each error is off by at most 0.005, i.e. 0.005/scale ≈ 3e-4 in units of ξ.
    xi2, xi8 = err[2] / (scale * 1.5**0.5), err[8] / (scale * 1.125**0.5)
    assert float((xi2 - xi8).abs().max()) <= 2 * 0.005 / float(scale) + 1e-9
    # Monte Carlo: SE of the mean of ξ² over 400 prompts is √(2/400) ≈ 0.071; 4 SE.
    assert abs(float((xi2**2).mean()) - 1.0) <= 4 * (2 / P) ** 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 3])
def test_llm_controls_behave_at_the_claims_sizes(tmp_path, seed):
    """At the quick profile's sizes the positive controls pass and the negative ones fail (the design analysis of
    llm_config), and an LLM that only echoes the context mean is not verified: claim 6's rule (beat the mean)
    cannot pass for it."""
    torch.set_num_threads(1)
    out = g24.judge_llm(_llm_ctx(tmp_path, seed), _MeanEcho(), {**g24.llm_config("quick"), "grid": 0})
    for c in out.controls:
        assert c.behaved, (c.name, [(k.name, k.status, k.measured, k.interval) for k in c.checks])
    assert not any(k.status == "pass" for k in out.checks if "nMSE_learner − nMSE_mean" in k.name)
    assert not verdict_of(out.checks, out.controls).startswith("verified")
