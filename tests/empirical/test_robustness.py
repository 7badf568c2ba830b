"""Seed robustness: the per-seed verdict table flags a verdict that changes with the seed, and only then."""

from __future__ import annotations

import json

import pytest
import torch

import empirical.registry as registry
from empirical.registry.core import Check, Claim, Outcome
from empirical.robustness import main, parse_seeds, robustness_table, seed_rows


def _claim(cid: str, runner) -> Claim:
    return Claim(cid, "toy", "statement", "source", ("numerical",), runner)


def _stable(ctx):
    return Outcome(checks=[Check("x", 1.0, "<=", 2.0, "a priori")])


def _seed_dependent(ctx):  # verified at even seeds only: what a threshold at round-off of an optimiser does
    return Outcome(checks=[Check("x", float(ctx.seed % 2), "<=", 0.5, "a priori")])


def test_a_seed_dependent_verdict_is_flagged(tmp_path):
    claims = [_claim("toy.stable", _stable), _claim("toy.flaky", _seed_dependent)]
    rows = seed_rows(claims, [0, 1, 2], tmp_path, device=torch.device("cpu"), profile="quick", max_seconds=60,
                     progress=False)
    assert [r.stable for r in rows] == [True, False]
    assert rows[1].verdicts == {0: "verified", 1: "not reproduced", 2: "verified"}
    table = robustness_table(rows, [0, 1, 2], 60)
    assert "| `toy.flaky` | verified | not reproduced | verified | **NO** |" in table
    assert json.loads((tmp_path / "seed-1" / "toy.flaky.json").read_text())["seed"] == 1


def test_slow_claims_run_at_the_first_seed_only(tmp_path):
    rows = seed_rows([_claim("toy.stable", _stable)], [0, 1], tmp_path, device=torch.device("cpu"),
                     profile="quick", max_seconds=1e-9, progress=False)
    assert rows[0].verdicts[1] is None and not rows[0].looped and rows[0].stable
    assert "not looped" in robustness_table(rows, [0, 1], 1e-9)


def test_command_line_exit_codes(tmp_path, monkeypatch, capsys):
    claims = {"toy.flaky": _claim("toy.flaky", _seed_dependent)}
    monkeypatch.setattr(registry, "select_claims", lambda sel: list(claims.values()))
    assert main(["--seeds", "0-1", "--out", str(tmp_path), "--quiet"]) == 1
    assert (tmp_path / "robustness.md").exists() and json.loads((tmp_path / "robustness.json").read_text())["rows"]
    assert main(["--seeds", "0,2", "--out", str(tmp_path), "--quiet"]) == 0


@pytest.mark.parametrize("text", ["0", "1-0", "a-b", "0,0", "-1,2"])
def test_bad_seed_lists_are_refused(text):
    with pytest.raises(ValueError, match="--seeds"):
        parse_seeds(text)


def test_runs_made_side_by_side_merge_into_one_table(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    seed_rows_a = seed_rows([_claim("toy.stable", _stable)], [0, 1], a, device=torch.device("cpu"), profile="quick",
                            max_seconds=60, progress=False)
    seed_rows_b = seed_rows([_claim("toy.flaky", _seed_dependent)], [0, 1], b, device=torch.device("cpu"),
                            profile="quick", max_seconds=60, progress=False)
    for folder, rows in ((a, seed_rows_a), (b, seed_rows_b)):
        (folder / "robustness.json").write_text(json.dumps(
            {"seeds": [0, 1], "max_seconds": 60, "profile": "quick", "rows": [r.as_dict() for r in rows]}))
    assert main(["--merge", str(a), str(b), "--out", str(tmp_path / "all")]) == 1  # the flaky claim
    merged = json.loads((tmp_path / "all" / "robustness.json").read_text())
    assert [r["id"] for r in merged["rows"]] == ["toy.stable", "toy.flaky"]
    assert [r["stable"] for r in merged["rows"]] == [True, False]
    assert main(["--merge", str(a), str(a), "--out", str(tmp_path / "twice")]) == 2  # a claim twice
    (b / "robustness.json").write_text(json.dumps({"seeds": [0, 2], "max_seconds": 60, "profile": "quick",
                                                   "rows": []}))
    assert main(["--merge", str(a), str(b), "--out", str(tmp_path / "mixed")]) == 2  # other seeds


def _loads_a_stored_model(seconds):
    def runner(ctx):
        metrics = {} if seconds is None else {"train_seconds": seconds}
        info = {"source": "shipped" if ctx.seed == 0 else "trained", "recipe_sha256": "0" * 64, "metrics": metrics}
        return Outcome(checks=[Check("x", 1.0, "<=", 2.0, "a priori")], measured={"model": {"checkpoint": info}})
    return runner


@pytest.mark.parametrize("seconds,looped", [(None, False), (1e6, False), (1.0, True)])
def test_a_claim_that_loads_a_model_counts_its_training_time(tmp_path, seconds, looped):
    """Seed 0 loads a shipped model; every other seed trains its own, which the budget must include."""
    from empirical.robustness import training_cost

    rows = seed_rows([_claim("toy.trained", _loads_a_stored_model(seconds))], [0, 1], tmp_path,
                     device=torch.device("cpu"), profile="quick", max_seconds=60, progress=False)
    assert rows[0].looped is looped
    if not looped:
        assert ("not recorded" if seconds is None else "trains a model") in rows[0].note
    assert training_cost({"measured": {"a": [{"b": 1}]}}) == 0.0
