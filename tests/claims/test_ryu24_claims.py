"""ryu24 claim runners on tiny configurations (plumbing, determinism, skips); full-size runs are the CLI's job."""

from __future__ import annotations

import math

import pytest
import torch

from empirical.papers.ryu24 import claims as ryu24_claims
from empirical.papers.ryu24 import runners as ryu24
from empirical.registry.core import RunContext, SkipClaim, verdict_of

TINY = {
    "matrix": {"shapes": [(8, 6, 3)], "train_shape": (8, 6, 3), "decay": 0.7, "steps": 40, "lr": 3e-2, "n_gauges": 3},
    "kernel": {
        "N": 60,
        "n_heldout": 20,
        "bandwidth": 1.0,
        "L": 2,
        "L_train": 3,
        "steps": 15,
        "batch": 16,
        "lr": 3e-3,
        "width": 8
    },
    "oscillator": {
        "runs": [{"d": 1, "L": 2, "L_train": 3, "steps": 10}, {"d": 2, "L": 3, "L_train": 3, "steps": 10}],
        "batch": 16,
        "lr": 3e-3,
        "width": 8,
        "sampler_std": 1.5,
        "grid": (100, 30),
    },
    "vs_neuralef": {
        "seeds": 2,
        "d": 1,
        "L": 2,
        "L_train": 3,
        "steps": 10,
        "batch": 16,
        "lr": 3e-3,
        "width": 8,
        "sampler_std": 1.5,
        "grid": (100, 30),
    },
    "nesting": {
        "seeds": 2,
        "params": ["joint"],
        "d": 1,
        "L": 2,
        "L_train": 3,
        "steps": 10,
        "batch": 16,
        "lr": 3e-3,
        "width": 8,
        "sampler_std": 1.5,
        "grid": (100, 30),
    },
    "hydrogen": {
        "L": 4,
        "L_train": 5,
        "steps": 5,
        "batch": 16,
        "lr": 3e-3,
        "width": 8,
        "fourier": (8, 0.1),
        "sampler_std": 16.0,
        "scale": 100.0,
        "polar": (60.0, 20, 16),
    },
}


@pytest.fixture
def tiny(monkeypatch):
    for name, cfg in TINY.items():
        monkeypatch.setitem(ryu24.CONFIG, name, {"quick": cfg, "full": cfg})


def _ctx(tmp_path, claim_id, profile="quick"):
    return RunContext(
        profile=profile, device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=claim_id, progress=False
    )


def _run(tmp_path, claim_id):
    claim = next(c for c in ryu24_claims.CLAIMS if c.id == claim_id)
    out = claim.runner(_ctx(tmp_path, claim_id))
    assert out.checks and all(not math.isnan(c.measured) for c in out.checks)
    assert all(c.reason for c in out.checks)
    verdict_of(out.checks, out.controls)
    for f in out.figures:
        assert (tmp_path / f).exists()
    return out


def test_ryu24_registry():
    ids = {c.id for c in ryu24_claims.CLAIMS}
    assert {
        "ryu24.lora_subspace_only",
        "ryu24.nested_optimum_is_truncated_svd",
        "ryu24.kernel_vs_nystrom",
        "ryu24.oscillator",
        "ryu24.vs_neuralef",
        "ryu24.seq_vs_joint",
        "ryu24.hydrogen",
    } == ids


def test_ryu24_matrix_claims_tiny(tiny, tmp_path):
    out = _run(tmp_path, "ryu24.nested_optimum_is_truncated_svd")
    closed = {c.name: c for c in out.checks if c.name.startswith("closed_form") or c.name.startswith("lbfgs")}
    assert len(closed) == 7 and all(c.passed for c in closed.values())  # closed-form parts hold at any size


def test_ryu24_subspace_claim_tiny(tiny, tmp_path):
    out = _run(tmp_path, "ryu24.lora_subspace_only")
    assert out.checks[0].passed and out.checks[1].passed  # the gauge part is closed form


@pytest.mark.parametrize(
    "claim_id",
    ["ryu24.kernel_vs_nystrom", "ryu24.oscillator", "ryu24.vs_neuralef", "ryu24.seq_vs_joint", "ryu24.hydrogen"],
)
def test_ryu24_trained_claims_tiny(tiny, tmp_path, claim_id):
    _run(tmp_path, claim_id)


def test_ryu24_trained_claims_are_deterministic(tiny, tmp_path):
    a = _run(tmp_path / "a", "ryu24.kernel_vs_nystrom")
    b = _run(tmp_path / "b", "ryu24.kernel_vs_nystrom")
    assert a.measured == b.measured


def test_ryu24_hydrogen_quick_is_a_smoke_test_against_the_true_shells(tiny, tmp_path):
    out = _run(tmp_path, "ryu24.hydrogen")
    assert out.measured["true_eig_T"] == pytest.approx([100.0, 100 / 9, 100 / 9, 100 / 9])  # 1/(2n+1)², n = 0, 1
    assert out.checks[0].threshold == ryu24.HYDROGEN_TOLERANCE["quick"][0] == 0.10
    assert any("smoke test" in n for n in out.notes) and any("2500 s" in n for n in out.notes)


def test_ryu24_skips(tmp_path):
    claims = {c.id: c for c in ryu24_claims.CLAIMS}
    for cid in ("ryu24.hydrogen", "ryu24.oscillator", "ryu24.kernel_vs_nystrom"):
        with pytest.raises(SkipClaim, match="needs cuda"):
            claims[cid].runner(_ctx(tmp_path, cid, "full"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("claim_id", ["ryu24.kernel_vs_nystrom", "ryu24.oscillator"])
def test_ryu24_quick_accuracy_holds_on_seeds_0_to_4(tmp_path, claim_id, seed):
    """The quick profile reaches the fact sheet's accuracy on every seed (kernel ≈ 40 s, oscillator ≈ 90 s of CPU
    per seed): model checks pass and both controls behave."""
    claim = next(c for c in ryu24_claims.CLAIMS if c.id == claim_id)
    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=seed, out_dir=tmp_path, claim_id=claim_id,
                     progress=False)
    out = claim.runner(ctx)
    assert verdict_of(out.checks, out.controls) == "verified", [c.as_dict() for c in out.checks]
