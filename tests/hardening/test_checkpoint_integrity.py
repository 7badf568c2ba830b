"""Untrusted model files: no pickle runs, tampered weights are refused by name, identity is the recipe.

Every hostile file here is refused with :class:`IntegrityError` (or a resume mismatch ``ValueError``) whose
message names the file; nothing is silently retrained, loaded or turned into a verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

import empirical.checkpoints as ck
from empirical.errors import IntegrityError
from empirical.models.lsa import LinearTransformer
from empirical.registry import get_claim
from empirical.registry.core import RunContext
from empirical.train import TrainConfig, train
from theory.samplers import LinearRegressionTask

CPU = torch.device("cpu")
TASK = LinearRegressionTask(d=3, n=8)


class _Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant_pickle(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # torch.save format (a zip holding data.pkl) and a raw pickle: both must be refused
    torch.save({"model": _Payload(marker), "optimizer": {}, "scheduler": {}, "step": 1, "losses": []}, path)


def _tiny_model() -> LinearTransformer:
    return LinearTransformer(3, 1, "full", init_std=0.1, generator=torch.Generator().manual_seed(0))


def _fit(model, ckpt: Path | None, cfg=None, identity=None):
    cfg = cfg or TrainConfig(steps=4, batch_size=4, lr=1e-2, checkpoint_every=2)
    return train(model, lambda g, s: TASK.sample(4, g, dtype=torch.float32), lambda m, p: ((m(p) - p.yq) ** 2).mean(),
                 cfg, checkpoint_path=ckpt, progress=False, identity=identity)


# -- 1. no pickle from files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["torch_zip", "raw_pickle"])
def test_planted_resume_pickle_runs_no_code(tmp_path, kind):
    marker = tmp_path / "pwned"
    state = tmp_path / "state.pt"
    if kind == "torch_zip":
        _plant_pickle(state, marker)
    else:
        state.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(IntegrityError, match=str(state)):
        _fit(_tiny_model(), state)
    assert not marker.exists()


def test_planted_resume_next_to_a_claim_model_runs_no_code(tmp_path, monkeypatch):
    """A results folder from someone else holds a planted ``*.resume.pt`` where a retrain would resume."""
    cid = "ahn23.trained_1layer"
    ctx = RunContext(profile="quick", device=CPU, seed=0, out_dir=tmp_path, claim_id=cid, progress=False,
                     retrain=True)
    seen = {}

    def spy(**kw):
        seen.update(kw)
        raise RuntimeError("stop")

    monkeypatch.setattr(ck, "load_or_train", spy)
    with pytest.raises(RuntimeError, match="stop"):
        get_claim(cid).runner(ctx)
    monkeypatch.undo()
    target = ck.run_checkpoint_path(tmp_path, "ahn23", seen["name"], seen["recipe"])
    marker = tmp_path / "pwned"
    _plant_pickle(target.with_suffix(".resume.pt"), marker)
    with pytest.raises(IntegrityError, match="resume.pt"):
        get_claim(cid).runner(ctx)
    assert not marker.exists()


def test_planted_train_state_in_a_distributed_out_folder_runs_no_code(tmp_path):
    from empirical.distributed import main

    marker = tmp_path / "pwned"
    _plant_pickle(tmp_path / "out" / "train_state.pt", marker)
    code = main(["--family", "toy-linreg", "--device", "cpu", "--steps", "4", "--batch-size", "4",
                 "--checkpoint-every", "2", "--quiet", "--out", str(tmp_path / "out")])
    assert code != 0
    assert not marker.exists()


# -- 2. checkpoints by recipe, with integrity -----------------------------------------------------------------


def _saved(tmp_path: Path) -> Path:
    return ck.save_model(_tiny_model(), tmp_path / "m.safetensors", config={"d": 3, "lr": 0.02}, command="cmd",
                         seed=0)


def _rewrite_weights(path: Path, state: dict, *, update_sha: bool) -> None:
    data = st_save(state)
    path.write_bytes(data)
    if update_sha:  # an attacker who also edits the sidecar
        side = json.loads(path.with_suffix(".json").read_text())
        side["weights_sha256"] = hashlib.sha256(data).hexdigest()
        path.with_suffix(".json").write_text(json.dumps(side))


def _tamper_flip_byte(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[-1] ^= 0x01
    p.write_bytes(bytes(b))


def _tamper_random_weights(p: Path) -> None:
    _rewrite_weights(p, {k: torch.randn_like(v) for k, v in _tiny_model().state_dict().items()}, update_sha=False)


def _tamper_nan_weights_with_matching_sha(p: Path) -> None:
    _rewrite_weights(p, {k: torch.full_like(v, float("nan")) for k, v in _tiny_model().state_dict().items()},
                     update_sha=True)


def _tamper_wrong_shapes_with_matching_sha(p: Path) -> None:
    _rewrite_weights(p, {k: torch.zeros(7) for k in _tiny_model().state_dict()}, update_sha=True)


def _tamper_truncated_with_matching_sha(p: Path) -> None:
    data = p.read_bytes()[:40]
    p.write_bytes(data)
    side = json.loads(p.with_suffix(".json").read_text())
    side["weights_sha256"] = hashlib.sha256(data).hexdigest()
    p.with_suffix(".json").write_text(json.dumps(side))


def _tamper_sidecar_garbage(p: Path) -> None:
    p.with_suffix(".json").write_bytes(b"\xff\xfe\x00garbage")


def _tamper_sidecar_other_weights(p: Path) -> None:
    side = json.loads(p.with_suffix(".json").read_text())
    side["weights"] = "other.safetensors"
    p.with_suffix(".json").write_text(json.dumps(side))


def _tamper_recipe_edited(p: Path) -> None:
    side = json.loads(p.with_suffix(".json").read_text())
    side["config"]["lr"] = 0.5  # the recipe no longer matches the hash it was stored under
    p.with_suffix(".json").write_text(json.dumps(side))


def _tamper_old_format(p: Path) -> None:
    side = json.loads(p.with_suffix(".json").read_text())
    del side["format"]
    p.with_suffix(".json").write_text(json.dumps(side))


TAMPERS = [_tamper_flip_byte, _tamper_random_weights, _tamper_nan_weights_with_matching_sha,
           _tamper_wrong_shapes_with_matching_sha, _tamper_truncated_with_matching_sha, _tamper_sidecar_garbage,
           _tamper_sidecar_other_weights, _tamper_recipe_edited, _tamper_old_format]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__.removeprefix("_tamper_"))
def test_tampered_checkpoint_is_an_integrity_error_naming_the_file(tmp_path, tamper):
    path = _saved(tmp_path)
    ck.load_model_state(_tiny_model(), path)  # intact: loads
    tamper(path)
    with pytest.raises(IntegrityError, match=r"m\.(safetensors|json)"):
        ck.load_model_state(_tiny_model(), path)


def test_missing_sidecar_is_named(tmp_path):
    path = _saved(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="sidecar"):
        ck.load_model_state(_tiny_model(), path)


def test_every_shipped_checkpoint_verifies():
    assert ck.verify_all() == []
    assert len(list(ck.STORED.glob("*/*.safetensors"))) >= 11


def test_tampered_shipped_model_fails_the_claim_instead_of_retraining(tmp_path, monkeypatch):
    """A corrupt shipped file is reported, never silently replaced by a fresh training."""
    fake_root = tmp_path / "stored"
    shutil.copytree(ck.STORED / "ahn23", fake_root / "ahn23")
    _tamper_flip_byte(fake_root / "ahn23" / "trained_1layer.safetensors")
    monkeypatch.setattr(ck, "STORED", fake_root)
    ctx = RunContext(profile="quick", device=CPU, seed=0, out_dir=tmp_path / "out", claim_id="ahn23.trained_1layer",
                     progress=False)
    with pytest.raises(IntegrityError, match="trained_1layer.safetensors"):
        get_claim("ahn23.trained_1layer").runner(ctx)
    assert not (tmp_path / "out" / "checkpoints").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("perturb", ["none", "one_ulp"])
def test_checkpoint_identity_ignores_computed_floats(tmp_path, monkeypatch, perturb):
    """What another torch build or CPU changes (the last bit of a drawn Σ) does not change which model is used:
    the shipped ahn23 models load with Σ perturbed by one ulp, and nothing is trained or written."""
    import theory.samplers as samplers

    if perturb == "one_ulp":
        for name in ("spd_with_condition", "spd_from_spectrum"):
            real = getattr(samplers, name)
            monkeypatch.setattr(samplers, name, lambda *a, _real=real, **k: torch.nextafter(
                _real(*a, **k), torch.tensor(float("inf"), dtype=torch.float64)))
    shipped = _tree(ck.STORED)
    for cid in ("ahn23.trained_1layer", "ahn23.trained_3layer"):
        ctx = RunContext(profile="quick", device=CPU, seed=0, out_dir=tmp_path, claim_id=cid, progress=False,
                         overrides={})
        out = get_claim(cid).runner(ctx)
        assert out.measured["checkpoint"]["source"] == "shipped"
    assert _tree(ck.STORED) == shipped
    assert not (tmp_path / "checkpoints").exists()


def test_recipe_identity_is_a_hash_of_settings_as_given():
    a = {"lr": 0.02, "steps": 3000, "sigma": {"kind": "spd_with_condition", "kappa": 4.0}}
    assert ck.recipe_sha256(a) == ck.recipe_sha256(dict(reversed(list(a.items()))))  # key order is irrelevant
    assert ck.recipe_sha256(a) != ck.recipe_sha256({**a, "lr": 0.021})
    with pytest.raises(ValueError):
        ck.recipe_sha256({"x": float("nan")})  # a NaN setting has no canonical identity


def test_other_seed_trains_into_the_out_folder_never_the_package(tmp_path, monkeypatch):
    """Seed 1 has no shipped model: it is trained (here: a stand-in fit) under <out>/checkpoints/ and reused."""
    import empirical.train as tr

    calls = []

    def no_op_train(model, *a, **k):
        calls.append(1)
        return tr.TrainResult(losses=[1.0])

    monkeypatch.setattr(tr, "train", no_op_train)
    shipped = _tree(ck.STORED)
    cid = "ahn23.trained_1layer"
    for _ in range(2):
        ctx = RunContext(profile="quick", device=CPU, seed=1, out_dir=tmp_path, claim_id=cid, progress=False,
                         overrides={})
        out = get_claim(cid).runner(ctx)
    assert calls == [1] and out.measured["checkpoint"]["source"] == "run"
    assert _tree(ck.STORED) == shipped
    (w,) = (tmp_path / "checkpoints" / "ahn23").glob("trained_1layer.*.safetensors")
    assert ck.read_sidecar(w)["config"]["seed"] == 1


def test_promote_refuses_an_installed_package(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "STORED", tmp_path / "site-packages" / "empirical" / "checkpoints")
    with pytest.raises(IntegrityError, match="source checkout"):
        ck.promote(tmp_path, ["ahn23"])


def test_promote_copies_verified_models_under_their_shipped_names(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "empirical" / "checkpoints").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    monkeypatch.setattr(ck, "STORED", root / "empirical" / "checkpoints")
    src = ck.run_checkpoint_path(tmp_path / "res", "toy", "m", {"a": 1})
    ck.save_model(_tiny_model(), src, config={"a": 1}, command="cmd", seed=0)
    (dest,) = ck.promote(tmp_path / "res", ["toy"])
    assert dest.name == "m.safetensors" and ck.verify_checkpoint(dest)["recipe_sha256"] == ck.recipe_sha256({"a": 1})
    _tamper_flip_byte(src)
    with pytest.raises(IntegrityError, match=src.name):
        ck.promote(tmp_path / "res", ["toy"])


# -- 4. resume identity ---------------------------------------------------------------------------------------


def test_resume_refuses_another_model_with_the_difference_named(tmp_path):
    state = tmp_path / "s.pt"
    _fit(_tiny_model(), state, identity={"family": "lsa", "options": {"n": 8}})
    with pytest.raises(ValueError, match=r"options.*n.*8.*12"):
        _fit(_tiny_model(), state, identity={"family": "lsa", "options": {"n": 12}})
    wider = LinearTransformer(3, 2, "full", init_std=0.1, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="model"):
        _fit(wider, state, identity={"family": "lsa", "options": {"n": 8}})
    with pytest.raises(ValueError, match="dtype|float64"):
        _fit(_tiny_model().double(), state, identity={"family": "lsa", "options": {"n": 8}})


def test_distributed_resume_with_another_option_is_refused(tmp_path, capsys):
    from empirical.distributed import main

    base = ["--family", "toy-linreg", "--device", "cpu", "--steps", "4", "--batch-size", "4", "--quiet",
            "--checkpoint-every", "2", "--out", str(tmp_path)]
    assert main(base) == 0
    before = (tmp_path / "train_state.pt").read_bytes()
    code = main([*base[:-2], "--steps", "6", "--option", "n=12", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "n" in err and "Traceback" not in err
    assert (tmp_path / "train_state.pt").read_bytes() == before


# -- 5. settings that would silently train wrong ---------------------------------------------------------------


@pytest.mark.parametrize("field,value", [("grad_clip", -1.0), ("grad_clip", 0.0), ("grad_clip", float("nan")),
                                         ("lr", float("inf")), ("lr", -0.1), ("weight_decay", -1.0),
                                         ("warmup", -1), ("seed", -3), ("steps", 2.5), ("batch_size", 0),
                                         ("checkpoint_every", -1)])
def test_train_config_refuses_values_that_train_wrong(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{"steps": 1, "batch_size": 1, "lr": 0.1, field: value})
