"""The ryu24 instruments can fail: every trained claim's pipeline passes on its positive control (exact
eigenfunctions, the exact optimum, a known ordering) and fails on its negative control (an untrained model, a
reversed ordering, an ordered un-nested solution), so a verdict can only be ``verified`` when the model passes
and both controls behave.

The controls do not depend on how well the model trained, so the runners run at tiny sizes here (a few
training steps); the evaluation grids and thresholds are the claims' own.
"""

from __future__ import annotations

import pytest
import torch

from empirical.papers.ryu24 import claims as ryu24_claims
from empirical.papers.ryu24 import runners as ryu24
from empirical.registry.core import RunContext, verdict_kind, verdict_of

_OSC = {"batch": 16, "lr": 3e-3, "width": 8, "sampler_std": 1.5, "grid": (200, 40)}

#: tiny sizes: a few steps, small pools and grids (the controls' objects are exact or untrained either way)
TINY = {
    "matrix": {"shapes": [(8, 6, 3)], "train_shape": (8, 6, 3), "decay": 0.7, "steps": 20, "lr": 3e-2, "n_gauges": 2},
    "kernel": {"N": 80, "n_heldout": 20, "bandwidth": 1.0, "L": 2, "L_train": 3, "steps": 5, "batch": 16,
               "lr": 3e-3, "width": 8},
    "oscillator": {"runs": [{"d": 1, "L": 2, "L_train": 3, "steps": 5}, {"d": 2, "L": 3, "L_train": 3, "steps": 5}],
                   **_OSC},
    "vs_neuralef": {"seeds": 3, "d": 1, "L": 2, "L_train": 3, "steps": 5, **_OSC},
    "nesting": {"seeds": 3, "params": ["joint"], "d": 1, "L": 2, "L_train": 3, "steps": 5, **_OSC},
    "hydrogen": {"L": 4, "L_train": 5, "steps": 3, "batch": 16, "lr": 3e-3, "width": 8, "fourier": (8, 0.1),
                 "sampler_std": 16.0, "scale": 100.0, "polar": (60.0, 40, 16)},
}

TRAINED = ["ryu24.lora_subspace_only", "ryu24.nested_optimum_is_truncated_svd", "ryu24.kernel_vs_nystrom",
           "ryu24.oscillator", "ryu24.vs_neuralef", "ryu24.seq_vs_joint", "ryu24.hydrogen"]


@pytest.fixture
def tiny(monkeypatch):
    for name, cfg in TINY.items():
        monkeypatch.setitem(ryu24.CONFIG, name, {"quick": cfg, "full": cfg})


@pytest.mark.parametrize("claim_id", TRAINED)
def test_ryu24_positive_control_passes_and_negative_fails(tiny, tmp_path, claim_id):
    claim = next(c for c in ryu24_claims.CLAIMS if c.id == claim_id)
    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=claim_id,
                     progress=False)
    out = claim.runner(ctx)
    roles = {c.role: c for c in out.controls}
    assert set(roles) == {"positive", "negative"}
    pos, neg = roles["positive"], roles["negative"]
    assert all(c.status == "pass" for c in pos.checks), [c.as_dict() for c in pos.checks]
    assert any(c.status == "fail" for c in neg.checks), [c.as_dict() for c in neg.checks]
    # the controls carry the claim's own checks (same names, thresholds and directions)
    own = {c.name: (c.op, c.threshold) for c in out.checks}
    assert all(own[c.name] == (c.op, c.threshold) for c in pos.checks + neg.checks)
    assert "control" not in verdict_of(out.checks, out.controls)  # behaved: the verdict rests on the model


def test_ryu24_ordering_controls_have_a_clear_interval(tiny, tmp_path):
    """The known ordering (error ratio ≈ 1/4 per replicate) is detected with an interval far from the margin."""
    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path,
                     claim_id="ryu24.vs_neuralef", progress=False)
    out = ryu24.vs_neuralef(ctx)
    pos = next(c for c in out.controls if c.role == "positive")
    lo, hi = pos.checks[0].interval
    assert -0.7 < lo <= hi < -0.5  # log10(1/4) ≈ −0.6
    assert verdict_kind(verdict_of(out.checks, out.controls)) in ("verified", "not reproduced", "inconclusive")
