"""he25's full profile: recipes per profile and their identities, sizes as settings, fixed training sets, the
retrain command, the CUDA gate and the full-profile checks of the depth and generalization claims.

The full-profile runners themselves run shrunk in tests/empirical/test_full_profile_shrunk.py.
"""

from __future__ import annotations

import dataclasses
import shlex

import numpy as np
import pytest
import torch

import empirical.papers.he25.training as ht
from empirical.checkpoints import read_sidecar, recipe_sha256
from empirical.papers.he25 import claims as he25_claims
from empirical.papers.he25 import runners as he25
from empirical.registry.core import RunContext, SkipClaim

SHRUNK = {"pca.d": 3, "pca.N": 6, "pca.k": 2, "pca.layers": 2, "model.E": 8, "model.heads": 2, "model.steps": 3,
          "model.batch": 8, "model.warmup": 1}


def _ctx(tmp_path, profile: str, overrides: dict | None = None, claim_id: str = "he25.test") -> RunContext:
    return RunContext(profile=profile, device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id=claim_id,
                      progress=False, overrides=dict(overrides or {}))


def _tiny(**changes) -> ht.Recipe:
    return dataclasses.replace(ht.RECIPES["pca_d5_L4"], d=3, N=6, E=8, heads=2, layers=1, **changes)


# -- identities ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ht.RECIPES))
def test_shipped_models_keep_their_identity(name):
    """The fields added for the full profile stay out of a quick recipe's identity: the shipped sidecars match."""
    side = read_sidecar(ht.CHECKPOINT_DIR / f"{name}.safetensors")
    identity = ht.recipe_identity(ht.RECIPES[name])
    assert side["config"] == identity and recipe_sha256(identity) == side["recipe_sha256"]
    assert ht.profile_of(ht.RECIPES[name]) == "quick"


@pytest.mark.parametrize("change", [{"warmup": 10}, {"schedule": "cosine"}, {"grad_clip": 1.0},
                                    {"train_instances": 100}])
def test_a_later_field_in_use_is_part_of_the_identity(change):
    r = ht.RECIPES["pca_d5_L4"]
    assert recipe_sha256(ht.recipe_identity(dataclasses.replace(r, **change))) != recipe_sha256(ht.recipe_identity(r))


def test_recipe_errors():
    with pytest.raises(ValueError, match="train_instances"):
        dataclasses.replace(ht.RECIPES["gmm_d5_L4"], train_instances=10)  # a fixed set is for PCA only
    with pytest.raises(ValueError, match="train_instances"):
        _tiny(train_instances=-1)
    with pytest.raises(ValueError, match="task"):
        dataclasses.replace(ht.RECIPES["gmm_d5_L4"], task="ica")
    with pytest.raises(ValueError, match="profile"):
        ht.recipes("medium")


# -- sizes are settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_recipe_of_at_the_defaults_is_the_profiles_recipe(profile, tmp_path):
    """At the defaults every role, depth and sweep model is the profile's own recipe (quick: the shipped model)."""
    ctx, book, i = _ctx(tmp_path, profile), ht.recipes(profile), int(profile == "full")
    for role, names in ht.ROLES.items():
        assert he25.recipe_of(ctx, role) == book[names[i]], role
    d = book[ht.ROLES["pca"][i]].d
    for L in ht.DEPTHS[profile]:
        assert he25.recipe_of(ctx, "pca", layers=L) == book[ht.recipe_name("pca", d, L)]
    if profile == "full":
        for n in ht.GENERALIZATION_SIZES:
            assert he25.recipe_of(ctx, "pca", train_instances=n) == book[f"pca_d10_L8_n{n}"]
        assert (ctx.settings["pca.d"], ctx.settings["pca_large.d"]) == (10, 20)  # the sheet's full d


def test_recipe_of_reads_every_size_as_a_setting(tmp_path):
    ctx = _ctx(tmp_path, "full", SHRUNK)
    r = he25.recipe_of(ctx, "pca", train_instances=8)
    assert (r.name, r.d, r.N, r.k, r.layers, r.E, r.heads, r.steps, r.batch, r.warmup, r.train_instances) == (
        "pca_d3_L2_n8", 3, 6, 2, 2, 8, 2, 3, 8, 1, 8)
    assert (r.schedule, r.grad_clip) == ("cosine", 1.0)  # the full profile's optimisation, shrunk in size only
    assert not ctx.unread_overrides() and ht.profile_of(r) == "custom"
    with pytest.raises(ValueError, match="role"):
        he25.recipe_of(ctx, "pca_huge")


def test_depths_and_train_sizes_are_checked(tmp_path):
    with pytest.raises(ValueError, match="depths"):
        he25._depth_recipes(_ctx(tmp_path, "full", {**SHRUNK, "depths": (4, 2)}))
    with pytest.raises(ValueError, match="train_sizes"):
        he25._rate_setup(_ctx(tmp_path, "full", {"train_sizes": (10, 20)}))


# -- fixed training sets ----------------------------------------------------------------------------------------


def test_fixed_sets_are_nested_reproducible_and_labelled():
    r = _tiny(k=2, train_instances=ht.TRAIN_SET_CHUNK + 500)
    big, small = ht.fixed_pca_set(r), ht.fixed_pca_set(dataclasses.replace(r, train_instances=700))
    assert all(torch.equal(big[key][:700], small[key]) for key in small)  # nested: same start
    assert all(torch.equal(a, b) for a, b in zip(big.values(), ht.fixed_pca_set(r).values(), strict=True))
    assert big["X"].shape == (r.train_instances, r.N, r.d) and big["X"].dtype == torch.float32
    X = big["X"].double()
    S = X.transpose(1, 2) @ X / r.N
    v, lam = big["vecs"].double(), big["vals"].double()
    # labels are the top-k eigenpairs of each instance's own second moment (float32 storage: ~1e-6 relative)
    assert torch.allclose(S @ v.transpose(1, 2), v.transpose(1, 2) * lam.unsqueeze(1), atol=1e-4 * float(lam.max()))
    assert torch.allclose(lam, torch.linalg.eigvalsh(S).flip(-1)[:, : r.k], rtol=1e-5)
    with pytest.raises(ValueError, match="train_instances"):
        ht.fixed_pca_set(ht.RECIPES["pca_d5_L4"])


def test_a_fixed_set_recipe_trains_on_its_set_only(monkeypatch):
    r = _tiny(steps=2, batch=16, train_instances=5)
    pool = ht.fixed_pca_set(r)["X"]
    seen, loss = [], ht.pca_loss
    monkeypatch.setattr(ht, "pca_loss", lambda m, b, rr: (seen.append(b["X"]), loss(m, b, rr))[1])
    ht.train_recipe(r)
    rows = torch.cat(seen)
    assert len(rows) == r.steps * r.batch
    assert all(any(torch.equal(x, p) for p in pool) for x in rows)


def test_pca_risk_is_the_loss_per_instance(gen):
    r = _tiny()
    model, batch = ht.build_model(r), ht.pca_batch(r, gen, 6)
    vec, val, _ = ht.predict_pca(model, r, batch["X64"])
    risk = ht.pca_risk(vec, val, batch)
    assert risk.shape == (6,) and risk.dtype == torch.float64
    with torch.no_grad():
        assert float(ht.pca_loss(model, batch, r)) == pytest.approx(float(risk.mean()), rel=1e-5)  # float32 loss


# -- the retrain command ----------------------------------------------------------------------------------------


def test_the_recorded_command_retrains_the_same_recipe(tmp_path, monkeypatch):
    r = dataclasses.replace(ht.FULL_RECIPES["pca_d10_L8_n1000"], d=3, N=6, E=8, heads=2, layers=1, steps=2)
    cmd = shlex.split(ht._command(tmp_path, r))
    assert cmd[:3] == ["python", "-m", "empirical.papers.he25.training"] and "--recipe" in cmd
    trained = []
    monkeypatch.setattr(ht, "_fit", lambda rr, *a: trained.append(rr) or {})
    assert ht.main(cmd[3:]) == 0 and trained == [r]
    assert list((tmp_path / "checkpoints" / "he25").glob(f"{r.name}.*.safetensors"))
    assert ht._command("OUT", ht.FULL_RECIPES["pca_d20_L8"]).endswith("--out OUT --profile full pca_d20_L8")
    assert ht._command("OUT", ht.RECIPES["pca_d5_L4"]).endswith("--out OUT pca_d5_L4")
    assert ht.main(["--profile", "full", "--out", str(tmp_path), "pca_d5_L4"]) == 2  # a quick name, not a full one


# -- the full profile's CUDA gate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", [c for c in he25_claims.CLAIMS if "trained" in c.evidence], ids=lambda c: c.id)
def test_full_profile_training_needs_cuda(claim, tmp_path, monkeypatch):
    monkeypatch.setattr(ht, "_fit", lambda *a, **kw: pytest.fail("trained before the CUDA gate"))
    with pytest.raises(SkipClaim, match="needs cuda: full-profile"):
        claim.runner(_ctx(tmp_path, "full", claim_id=claim.id))


# -- full-profile checks ------------------------------------------------------------------------------------------


def _curve(levels, rng: np.random.Generator, B: int = 3000) -> list[np.ndarray]:
    """|cos| per depth (B,) around the given means, the same prompts (a shared per-prompt offset)."""
    offset = 0.05 * rng.standard_normal(B)
    return [np.clip(level + offset + 0.02 * rng.standard_normal(B), 0, 1) for level in levels]


def test_depth_checks_judge_the_full_shape():
    depths = (2, 4, 8, 12)
    rng = np.random.default_rng(0)
    power_like = he25._depth_checks(_curve([0.5, 0.7, 0.8, 0.82], rng), 10, depths, np.random.default_rng(1))
    assert [c.name for c in power_like][0] == "skill v1: L=12 − L=2" and len(power_like) == 5
    assert all(c.status == "pass" for c in power_like), [c.as_dict() for c in power_like]
    accelerating = he25._depth_checks(_curve([0.4, 0.42, 0.5, 0.8], rng), 10, depths, np.random.default_rng(1))
    assert accelerating[-1].status == "fail" and accelerating[0].status == "pass"
    dip = he25._depth_checks(_curve([0.4, 0.7, 0.5, 0.8], rng), 10, depths, np.random.default_rng(1))
    assert dip[2].name == "skill v1: L=8 − L=4" and dip[2].status == "fail"
    quick = he25._depth_checks(_curve([0.5, 0.7], rng), 10, (2, 4), np.random.default_rng(1))
    assert [c.name for c in quick] == ["skill v1: L=4 − L=2"]  # the quick profile's one check, as before


@pytest.mark.parametrize("role", ["positive", "negative"])
def test_rate_controls_at_the_full_sizes(role):
    """n up to 1e5 at 4000 prompts: the control's sample means are drawn directly (not n draws per prompt)."""
    ns, prompts, d = ht.GENERALIZATION_SIZES, 4000, 10
    errors = he25._rate_control_errors(role, ns, prompts, np.random.default_rng(0), d)
    assert [e.shape for e in errors] == [(prompts,)] * len(ns)
    if role == "positive":  # E‖x̄ − μ‖² = d/n, the mean of d/n·χ²_d/d over 4000 prompts: within 10 %
        assert all(abs(e.mean() * n / d - 1) < 0.1 for e, n in zip(errors, ns, strict=True))
    checks = he25._rate_checks(ns, errors, np.random.default_rng(1))
    statuses = [c.status for c in checks]
    assert all(s == "pass" for s in statuses) if role == "positive" else "fail" in statuses


def test_rate_checks_refuse_unpaired_or_short_sweeps():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="ns"):
        he25._rate_checks((10, 20), [np.ones(5)] * 2, rng)
    with pytest.raises(ValueError, match="errors"):
        he25._rate_checks((10, 20, 40), [np.ones(5), np.ones(5), np.ones(6)], rng)
