"""The he25 instruments can fail: every trained claim's pipeline passes on its positive control and fails on its
negative control (the controls the runners attach, fed in directly through ``_*_run(ctx, setup, role)``).

Sizes are the smallest at which the control's effect is clear of the noise (the margin analysis of
``he25.EFFECT_MARGIN``); the shipped quick models are used, never trained here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.papers.he25 import claims as he25_claims
from empirical.papers.he25 import runners as he25
from empirical.registry.core import Control, RunContext, verdict_of


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    import empirical.papers.he25.training as tr

    def fail(recipe, *a, **kw):
        pytest.fail(f"stored quick model {recipe.name} missing/stale: "
                    f"python -m empirical.papers.he25.training {recipe.name}")

    monkeypatch.setattr(tr, "_fit", fail)


def _synthetic_transfer_setup(ctx: RunContext) -> dict:
    """The transfer claim's setup without the digits (its controls use synthetic prompts only)."""
    return {"synthetic": he25._pca_batch(ctx, he25.REAL_DATA_MODEL),
            "synthetic2": he25._pca_batch(ctx, he25.REAL_DATA_MODEL, "no-shift")}


#: claim -> (setup, pipeline on one object, size overrides)
CASES = {
    "pretrained_pca_first_eigenpair": (he25._first_setup, he25._first_run, {"test_instances": 1000}),
    "pretrained_pca_harder_later_and_larger": (he25._harder_setup, he25._harder_run, {"harder_instances": 2000}),
    "pretrained_pca_depth_diminishing": (he25._depth_setup, he25._depth_run, {"test_instances": 3000}),
    "pretrained_gmm_near_spectral": (he25._gmm_setup, he25._gmm_run, {"test_instances": 500}),
    "pretrained_layers_track_iterates": (he25._probe_setup, he25._probe_run,
                                         {"test_instances": 1000, "probe_train": 1000}),
    "real_data_transfer": (_synthetic_transfer_setup, he25._transfer_run, {"test_instances": 4000}),
}
SPECS = {
    "pretrained_pca_first_eigenpair": he25.FIRST_CONTROLS,
    "pretrained_pca_harder_later_and_larger": he25.HARDER_CONTROLS,
    "pretrained_pca_depth_diminishing": he25.DEPTH_CONTROLS,
    "pretrained_gmm_near_spectral": he25.GMM_CONTROLS,
    "pretrained_layers_track_iterates": he25.PROBE_CONTROLS,
    "real_data_transfer": he25.TRANSFER_CONTROLS,
}


def _ctx(tmp_path, claim: str, overrides: dict) -> RunContext:
    return RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=f"he25.{claim}",
                      progress=False, overrides=overrides)


@pytest.mark.parametrize("role", ["positive", "negative"])
@pytest.mark.parametrize("claim", list(CASES))
def test_control_behaves(claim, role, tmp_path):
    setup, run, overrides = CASES[claim]
    ctx = _ctx(tmp_path, claim, overrides)
    checks, measured = run(ctx, setup(ctx), role)
    name, desc = SPECS[claim][role]
    control = Control(name, role, desc, checks, measured)
    statuses = {c.name: (c.status, round(c.measured, 4), c.interval) for c in checks}
    if role == "positive":
        assert all(c.status == "pass" for c in checks), statuses
    else:
        assert any(c.status == "fail" for c in checks), statuses
    assert control.behaved


def test_every_trained_claim_has_both_controls():
    trained = {c.id.split(".", 1)[1] for c in he25_claims.CLAIMS if "trained" in c.evidence}
    assert trained == set(CASES) | {"generalization_rate"}
    assert all(set(spec) == {"positive", "negative"} for spec in (*SPECS.values(), he25.RATE_CONTROLS))


NS = (100, 300, 1000, 3000)


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_generalization_rate_controls(role):
    """Claim 17 skips (full profile only), but its pipeline is in place and reads its controls correctly."""
    errors = he25._rate_control_errors(role, NS, 400, np.random.default_rng(0))
    checks = he25._rate_checks(NS, errors, np.random.default_rng(1))
    if role == "positive":
        assert all(c.status == "pass" for c in checks), [c.as_dict() for c in checks]
    else:
        assert any(c.status == "fail" for c in checks), [c.as_dict() for c in checks]


def test_a_flat_probe_curve_is_not_a_rise():
    """The old non-rejection trap: a flat curve (no step significantly down) must not pass as 'rising'."""
    rng = np.random.default_rng(0)
    flat = np.repeat(rng.uniform(0.3, 1.0, (1, 500)), 5, axis=0) + rng.normal(0, 0.01, (5, 500))
    checks = he25._probe_checks(flat, 5, np.random.default_rng(1))
    assert checks[0].status == "fail" and all(c.status == "pass" for c in checks[1:])


def test_chance_predictors_show_no_drop_with_d():
    """Raw |cos| at chance falls with d (0.375 → 0.259); skill units remove that, so chance shows no 'drop'."""
    rng = np.random.default_rng(0)

    def chance(d: int, n: int = 4000) -> np.ndarray:
        a, b = rng.standard_normal((2, n, d))
        return np.abs((a * b).sum(-1)) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)

    small = np.stack([chance(5), chance(5)], 1)
    checks = he25._harder_checks(small, 5, chance(10), 10, np.random.default_rng(1))
    assert all(c.status == "fail" for c in checks), [c.as_dict() for c in checks]
    # a d = 10 object at chance is a failed precondition: the experiment cannot speak (not a negative result)
    assert verdict_of(checks).startswith("inconclusive: precondition skill v1, d=10")


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_seed_lemma_monte_carlo_controls(role):
    """Claim 4's Monte-Carlo rows: aligned seeds stay below the bound, squeezed seeds are detected above it."""
    draws = 200_000
    hits = he25._seed_hits(np.random.default_rng(0), draws, chunk=100_000)
    checks = he25._seed_checks(hits[role], draws)
    if role == "positive":
        assert all(c.status == "pass" for c in checks), [c.as_dict() for c in checks]
    else:
        assert all(c.status == "fail" for c in checks), [c.as_dict() for c in checks]


#: claim 10 at two of the sheet's settings, one where the Bayes-gap check applies (d/N = 2); 40 trials (~1 s)
CLUSTER_SMALL = {"cluster_ref": {"N": 200, "trials": 40, "d": (50, 400), "mu": (2.0,)}}
CLUSTER_FAMILIES = ("error < exp(−SNR/2)", "error − oracle error", "|error − sheet §6|")


@pytest.fixture(scope="module")
def cluster_setup(tmp_path_factory):
    ctx = _ctx(tmp_path_factory.mktemp("scr"), "spectral_clustering_reference", CLUSTER_SMALL)
    return ctx, he25._cluster_setup(ctx)


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_spectral_clustering_reference_controls(role, cluster_setup):
    """Claim 10's pipeline: the oracle at the sheet's angle (error = the sheet's value by construction) passes every
    check; a random projection fails the exp(−SNR/2) check at d = 50 and every sheet equivalence."""
    ctx, setup = cluster_setup
    checks, measured = he25._cluster_run(ctx, setup, role)
    assert {f for f in CLUSTER_FAMILIES for c in checks if c.name.startswith(f)} == set(CLUSTER_FAMILIES)
    statuses = {c.name: (c.status, round(c.measured, 4), c.interval) for c in checks}
    if role == "positive":
        assert all(c.status == "pass" for c in checks), statuses
    else:
        assert all(c.status == "fail" for c in checks if c.name.startswith("|error − sheet")), statuses
        assert statuses["error < exp(−SNR/2), d=50, ‖μ‖=2.0"][0] == "fail", statuses
    name, desc = he25.CLUSTER_CONTROLS[role]
    assert Control(name, role, desc, checks, measured).behaved


def test_the_oracle_is_not_at_the_spectral_error_scale(cluster_setup):
    """The Bayes-gap check can fail: the oracle itself (μ known, no estimation cost) is not above the oracle, and at
    d/N = 2 its error is far below the sheet's spectral value."""
    ctx, setup = cluster_setup
    checks = [c for s in setup["settings"] for c in he25._cluster_checks(s, s["errors"]["oracle"],
                                                                          np.random.default_rng(0))]
    status = {c.name: c.status for c in checks}
    assert status["error − oracle error, d=400, ‖μ‖=2.0"] == "fail", status
    assert status["|error − sheet §6|, d=400, ‖μ‖=2.0"] == "fail", status
