"""Every ahn23 runner in the quick profile (trained claims load the suite's stored checkpoints)."""

from __future__ import annotations

import pytest
import torch

from empirical.registry import get_claim
from empirical.registry.core import RunContext, verdict_of

EXACT = ["ahn23.lemma1", "ahn23.thm1", "ahn23.thm1_isotropic", "ahn23.data_inadequacy", "ahn23.thm3_critical",
         "ahn23.fig2"]


#: Smaller Monte-Carlo sizes than the quick profile: the runners' code paths, at test cost.
SMALL = {"mc_batches": 12, "mc_per_batch": 1000, "hessian_samples": 500, "fit_prompts": 1500, "eval_prompts": 20_000,
         "lbfgs_iterations": 30, "random_starts": 2}


#: Claims with Monte-Carlo or trained evidence: each carries a positive and a negative control.
CONTROLLED = ["ahn23.thm1", "ahn23.thm1_isotropic", "ahn23.thm3_critical", "ahn23.thm4_gdpp", "ahn23.trained_1layer",
              "ahn23.trained_3layer"]


def _ctx(cid, tmp_path, overrides=None):
    return RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=cid,
                      progress=False, overrides=overrides or {})


@pytest.mark.parametrize("cid", EXACT)
def test_exact_claims_verified(cid, tmp_path):
    out = get_claim(cid).runner(_ctx(cid, tmp_path, SMALL))
    failed = [c.as_dict() for c in out.checks if not c.passed] + [c.as_dict() for c in out.controls if not c.behaved]
    assert verdict_of(out.checks, out.controls) == "verified", failed
    if cid in CONTROLLED:
        assert {c.role for c in out.controls} == {"positive", "negative"}
    for f in out.figures:
        assert (tmp_path / f).stat().st_size > 1000


def test_thm4_runner_reports_every_start_and_judges_the_lowest_fit(tmp_path):
    out = get_claim("ahn23.thm4_gdpp").runner(_ctx("ahn23.thm4_gdpp", tmp_path, SMALL))
    assert {c.name for c in out.checks} >= {"q1_rel_diff", "b2_rel_diff", "loss_rel_diff"}
    assert out.measured["loss"] > 0 and out.measured["loss_se"] > 0
    fits = out.measured["fits"]
    assert set(fits) == {"zero", "theorem3_optimum", "paper_values"} | {f"random_{i}" for i in range(2)}
    assert out.measured["best_uninformed_start"] in out.measured["uninformed_starts"]
    assert "paper_values" not in out.measured["uninformed_starts"]
    judged = out.measured["judged_start"]
    assert fits[judged]["fit_loss"] == min(f["fit_loss"] for f in fits.values())
    assert {c.role for c in out.controls} == {"positive", "negative"}
    assert all(c.interval is not None for c in out.checks)


@pytest.mark.parametrize("cid", ["ahn23.trained_1layer", "ahn23.trained_3layer"])
def test_trained_claims_use_stored_checkpoints(cid, tmp_path):
    out = get_claim(cid).runner(_ctx(cid, tmp_path))
    assert out.measured["checkpoint"]["source"] == "shipped", "retrain with the recorded command"
    assert "--retrain" in out.measured["checkpoint"]["command"]
    assert not (tmp_path / "checkpoints").exists()  # nothing trained
    assert all(c.measured == c.measured for c in out.checks)  # no NaN
    assert {c.role for c in out.controls} == {"positive", "negative"} and all(c.behaved for c in out.controls)
