"""The GPU session's planning (budget, order, stopping) and its refusal without CUDA; the nox sessions'
--profile/--out handling."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from empirical.gpu_session import PLAN, PlanItem, main, plan_run, timing_table

ROOT = Path(__file__).resolve().parents[2]


def test_without_cuda_one_clear_line(monkeypatch, capsys, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--budget-s", "10", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no CUDA device" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("budget", ["0", "-5", "nan", "inf"])
def test_bad_budget_is_a_usage_error(budget, capsys):
    assert main(["--budget-s", budget]) == 2
    assert "--budget-s" in capsys.readouterr().err


def test_plan_respects_the_budget_and_order(tmp_path):
    plan = (PlanItem("a.x", 1, ""), PlanItem("b.y", 100, ""), PlanItem("c.z", 2, ""))
    ran = []

    def fake_run(cid, out, timeout, precision):
        ran.append((cid, timeout))
        return "finished (exit 0)", 0.01

    res = plan_run(plan, 10, tmp_path, run_one=fake_run)
    assert [r.claim_id for r in res] == ["a.x", "b.y", "c.z"]
    assert [c for c, _ in ran] == ["a.x", "c.z"]  # b.y's estimate exceeds the budget: not started
    assert res[1].status.startswith("not started") and res[1].wall_s is None
    assert all(t <= 10 for _, t in ran)
    assert "| `b.y` | float32 | 100 | — | not started" in timing_table(res, 10, "test device")


def test_each_claim_runs_in_float32_then_in_mixed_precision_into_its_own_folder(tmp_path):
    from empirical.precision import precision_folder

    ran = []

    def fake_run(cid, out, timeout, precision):
        ran.append((cid, precision, precision_folder(out, precision)))
        return "finished (exit 0)", 0.01

    res = plan_run((PlanItem("a.x", 1, ""), PlanItem("b.y", 1, "")), 10, tmp_path / "full", run_one=fake_run,
                   precisions=("float32", "bf16"))
    assert [(c, p) for c, p, _ in ran] == [("a.x", "float32"), ("a.x", "bf16"), ("b.y", "float32"), ("b.y", "bf16")]
    assert {o.name for _, _, o in ran} == {"full", "full-bf16"}
    assert "| `a.x` | bf16 | 1 |" in timing_table(res, 10, "test device")


@pytest.mark.parametrize(("given", "message"), [("bf16", "must include float32"), ("float32,half", "half")])
def test_bad_precisions_are_usage_errors(given, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--precisions", given])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_claim_past_the_budget_is_stopped_with_its_process_group(tmp_path, monkeypatch):
    import subprocess

    import empirical.gpu_session as gs

    real_popen = subprocess.Popen
    # a claim process that would outlive the budget, with a child of its own (killed with the group)
    monkeypatch.setattr(gs.subprocess, "Popen",
                        lambda cmd, **kw: real_popen(["sh", "-c", "sleep 30 & sleep 30"], **kw))
    status, wall = gs._run_one("x.y", tmp_path, timeout_s=0.5)
    assert status == "stopped at budget" and wall < 10
    monkeypatch.setattr(gs.subprocess, "Popen", lambda cmd, **kw: real_popen(["true"], **kw))
    assert gs._run_one("x.y", tmp_path, timeout_s=10)[0] == "finished (exit 0)"


def test_plan_names_registered_claims():
    from empirical.registry import get_claim

    for item in PLAN:
        assert get_claim(item.claim_id).id == item.claim_id and item.estimate_s > 0


def _noxfile():
    fake = types.ModuleType("nox")
    fake.needs_version = None
    fake.options = types.SimpleNamespace()
    fake.Session = object
    fake.session = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))
    sys.modules["nox"] = fake
    try:
        spec = importlib.util.spec_from_file_location("_noxfile_under_test", ROOT / "noxfile.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        del sys.modules["nox"]


@pytest.mark.parametrize("posargs,out", [
    ([], "results/quick"),
    (["--profile", "full", "--device", "cuda"], "results/full"),
    (["--profile=full"], "results/full"),
    (["--precision", "bf16"], "results/quick-bf16"),
    (["--profile", "full", "--precision=fp16"], "results/full-fp16"),
    (["--out", "x", "--precision", "bf16"], "x"),
])
def test_reproduce_writes_each_profile_and_precision_into_its_own_folder(posargs, out):
    """The sessions pass the user's arguments through and fix no --out, so icl-verify's default folder applies
    (the bug this guards against: a fixed --out sent `-- --profile full` into results/quick)."""
    from empirical.cli import _build_parser
    from empirical.precision import default_out

    nox = _noxfile()
    calls = []
    session = types.SimpleNamespace(posargs=list(posargs), install=lambda *a: None, run=lambda *a: calls.append(a))
    nox.reproduce(session)
    nox._paper_session("ahn23")(session)
    for cmd in calls:
        args = _build_parser().parse_args(list(cmd[1:]))
        assert (args.out or str(default_out(args.profile, args.precision))) == out, cmd
