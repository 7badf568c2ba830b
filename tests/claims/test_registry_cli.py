"""Registry, verdict logic, artifacts and the CLI's contract (exit codes, one-line errors)."""

from __future__ import annotations

import json

import pytest
import torch

import empirical.registry as registry
from empirical import cli
from empirical.artifacts import SCHEMA, load_results
from empirical.registry.core import Check, Claim, Outcome, SkipClaim, verdict_of
from empirical.runner import run_claims


def test_check_semantics():
    assert Check("a", 1e-13, "<=", 1e-12, "r").passed
    assert not Check("a", 2e-12, "<=", 1e-12, "r").passed
    assert not Check("a", float("nan"), "<=", 1.0, "r").passed
    assert Check("a", 3.0, ">", 2.0, "r").passed
    with pytest.raises(ValueError, match="op"):
        Check("a", 1.0, "==", 1.0, "r")
    assert verdict_of([Check("a", 0, "<=", 1, "r"), Check("b", 2, "<=", 1, "r")]) == "not reproduced"
    with pytest.raises(ValueError, match="checks"):
        verdict_of([])


def test_claim_validation_error():
    with pytest.raises(ValueError, match="id"):
        Claim("x.y", "ahn23", "s", "src", ("symbolic",), lambda c: Outcome())
    with pytest.raises(ValueError, match="evidence"):
        Claim("ahn23.z", "ahn23", "s", "src", ("vibes",), lambda c: Outcome())


def test_registry_lists_every_ahn23_claim_of_the_sheet():
    ids = {c.id for c in registry.select_claims(["ahn23"])}
    assert {"ahn23.lemma1", "ahn23.thm1", "ahn23.thm1_isotropic", "ahn23.data_inadequacy", "ahn23.thm3_critical",
            "ahn23.fig2", "ahn23.thm4_gdpp", "ahn23.trained_1layer", "ahn23.trained_3layer"} <= ids


def test_select_error():
    with pytest.raises(ValueError, match="unknown claim id or paper key 'nope'"):
        registry.select_claims(["nope"])


def _fake(cid, checks=None, skip=None, boom=False):
    def runner(ctx):
        if skip:
            raise SkipClaim(skip)
        if boom:
            raise RuntimeError("bug")
        return Outcome(checks=checks, measured={"t": torch.tensor([1.0, 2.0])})

    return Claim(cid, "fake", "statement", "Thm 0", ("numerical",), runner)


def test_runner_writes_atomic_json_and_summary(tmp_path):
    claims = [_fake("fake.ok", [Check("c", 0.0, "<=", 1.0, "why")]),
              _fake("fake.bad", [Check("c", 2.0, "<=", 1.0, "why")]),
              _fake("fake.skip", skip="needs cuda"),
              _fake("fake.err", boom=True)]
    res = run_claims(claims, profile="quick", device=torch.device("cpu"), seed=3, out_dir=tmp_path, progress=False)
    assert [r["verdict"] for r in res.values()] == ["verified", "not reproduced", "skipped: needs cuda", "error"]
    data = json.loads((tmp_path / "fake.bad.json").read_text())
    assert data["schema"] == SCHEMA and data["seed"] == 3 and data["device"] == "cpu"
    assert data["tolerances"]["c"] == {"op": "<=", "threshold": 1.0, "reason": "why"}
    assert data["measured"]["t"] == [1.0, 2.0] and "torch" in data["versions"]
    assert not list(tmp_path.glob("*.tmp"))
    assert set(load_results(tmp_path)) == {"fake.ok", "fake.bad", "fake.skip", "fake.err"}
    summary = (tmp_path / "summary.md").read_text()
    assert "`fake.bad` | not reproduced" in summary


def test_cli_list(capsys):
    assert cli.main(["list", "ahn23"]) == 0
    assert "ahn23.thm1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "nope"], "unknown claim id or paper key 'nope'"),
        (["run", "ahn23", "--profile", "huge"], "--profile"),
        (["run", "ahn23", "--device", "tpu"], "--device"),
        (["run", "ahn23", "--seed", "-1"], "--seed"),
        (["construct", "nope", "--d", "2", "--n", "2", "--layers", "1"], "NAME: unknown construction"),
        (["construct", "preconditioned-gd", "--d", "0", "--n", "2", "--layers", "1"], "--d"),
        (["construct", "preconditioned-gd", "--d", "2", "--n", "2"], "--layers: required"),
        (["construct", "preconditioned-gd", "--d", "2", "--n", "2", "--layers", "1", "--cond", "0.5"], "--cond"),
        (["construct", "preconditioned-gd", "--d", "2", "--n", "2", "--layers", "1", "--option", "precond=x"],
         "--option precond"),
    ],
)
def test_cli_usage_error(argv, needle, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_cli_cuda_without_gpu_is_a_usage_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert cli.main(["run", "ahn23.fig2", "--device", "cuda"]) == 2
    assert "device" in capsys.readouterr().err


def test_cli_run_exit_codes(tmp_path, monkeypatch, capsys):
    bad = _fake("fake.bad", [Check("c", 2.0, "<=", 1.0, "why")])
    monkeypatch.setattr(registry, "select_claims", lambda sel: [bad])
    assert cli.main(["run", "fake.bad", "--out", str(tmp_path), "--quiet"]) == 1
    assert cli.main(["run", "fake.bad", "--out", str(tmp_path), "--quiet", "--no-fail"]) == 0
    assert "not reproduced" in capsys.readouterr().out


def test_cli_construct_preconditioned_gd_json(capsys):
    assert cli.main(["construct", "preconditioned-gd", "--d", "6", "--n", "3", "--layers", "5", "--cond", "50",
                     "--option", "precond=random", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["layers"]) == 6 and out["passed"] and out["max_rel_dev"] < 1e-12


def test_cli_construct_reports_its_time(capsys):
    """Issue #17 §2: construct reports how long the build, forward pass and comparison took."""
    assert cli.main(["construct", "newton", "--d", "4", "--n", "8", "--layers", "5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("time: ") and last.split()[1].replace(".", "").isdigit(), last
    assert cli.main(["construct", "newton", "--d", "4", "--n", "8", "--layers", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seconds"] > 0
