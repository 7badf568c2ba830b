"""``icl-verify`` under bad input: exit codes, one-line messages, nothing written outside ``--out``.

Contract (empirical/cli.py): 2 = bad command-line value, one stderr line naming the argument; 1 = not
reproduced / error inside a claim / corrupt file / unexpected error (one line naming a log file); never a
traceback on stderr. Stray files in the out folder are listed in summary.md as skipped, never fatal.

Budget: in-process cases use fake claims (milliseconds); three subprocess cases check real exit codes with
the cheap symbolic claim he25.relu_pair_linear_attention (~1 s of work, ~2 s interpreter start each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import empirical.registry as registry
from empirical import cli
from empirical.artifacts import SCHEMA, check_out_dir, fmt_number, scan_results, write_json
from empirical.errors import IntegrityError, UsageError
from empirical.registry.core import Check, Claim, Outcome

from .conftest import one_line

ROOT = Path(__file__).resolve().parents[2]
CHEAP = "he25.relu_pair_linear_attention"  # a symbolic claim, about a second


# -- helpers ------------------------------------------------------------------------------------------------


def _claim(cid: str, measured: float = 0.0, raises: BaseException | None = None, calls: list | None = None) -> Claim:
    """A fake claim: one check ``measured <= 1``, or raising ``raises`` from inside the runner."""

    def runner(ctx) -> Outcome:
        if calls is not None:
            calls.append(cid)
        if raises is not None:
            raise raises
        return Outcome(checks=[Check("c", measured, "<=", 1.0, "why")])

    return Claim(cid, "fake", "statement", "Thm 0", ("numerical",), runner)


@pytest.fixture
def fakes(monkeypatch):
    """Replace the registry by fake claims; returns (claims by id, list of ids whose runner ran)."""
    calls: list[str] = []
    claims = {c.id: c for c in (_claim("fake.ok", calls=calls), _claim("fake.bad", 2.0, calls=calls),
                                _claim("fake.nan", float("nan"), calls=calls), _claim("fake.ok2", calls=calls))}

    def select(selectors):
        unknown = [s for s in selectors if s not in claims]
        if unknown:
            raise ValueError(f"claims: unknown claim id or paper key {unknown[0]!r}")
        return [claims[s] for s in selectors] if selectors else list(claims.values())

    monkeypatch.setattr(registry, "select_claims", select)
    return claims, calls


_line = one_line  # shared with the other bad-input files (tests/hardening/conftest.py)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


# -- usage errors: exit 2, one line naming the argument, no work done ---------------------------------------

USAGE_CASES = [
    # (id, argv with {out} {file} placeholders, the name the message must contain)
    ("out-empty", ["run", "fake.ok", "--out", ""], "--out"),
    ("out-dev-null", ["run", "fake.ok", "--out", "/dev/null"], "--out"),
    ("out-is-file", ["run", "fake.ok", "--out", "{file}"], "--out"),
    ("out-under-file", ["run", "fake.ok", "--out", "{file}/results"], "--out"),
    ("out-in-proc", ["run", "fake.ok", "--out", "/proc/icl-verify-no/such"], "--out"),
    ("unknown-id", ["run", "nope", "--out", "{out}"], "ID_OR_PAPER"),
    ("unknown-id-after-good", ["run", "fake.ok", "nope", "--out", "{out}"], "ID_OR_PAPER"),
    ("seed-negative", ["run", "fake.ok", "--seed", "-1", "--out", "{out}"], "--seed"),
    ("seed-text", ["run", "fake.ok", "--seed", "abc", "--out", "{out}"], "--seed"),
    ("seed-float", ["run", "fake.ok", "--seed", "1.5", "--out", "{out}"], "--seed"),
    ("seed-empty", ["run", "fake.ok", "--seed", "", "--out", "{out}"], "--seed"),
    ("seed-too-big", ["run", "fake.ok", "--seed", str(2**64), "--out", "{out}"], "--seed"),
    ("profile", ["run", "fake.ok", "--profile", "huge", "--out", "{out}"], "--profile"),
    ("device", ["run", "fake.ok", "--device", "tpu", "--out", "{out}"], "--device"),
    ("unknown-flag", ["run", "fake.ok", "--bogus", "--out", "{out}"], "--bogus"),
    ("no-command", [], "command"),
    ("unknown-command", ["fly"], "command"),
    ("list-unknown-id", ["list", "nope"], "ID_OR_PAPER"),
    ("list-unknown-flag", ["list", "--csv"], "--csv"),
    ("jobs-zero", ["run", "fake.ok", "--jobs", "0", "--out", "{out}"], "--jobs"),
    ("jobs-text", ["run", "fake.ok", "--jobs", "many", "--out", "{out}"], "--jobs"),
    ("set-no-value", ["run", "fake.ok", "--set", "steps", "--out", "{out}"], "--set"),
    ("set-no-name", ["run", "fake.ok", "--set", "=3", "--out", "{out}"], "--set"),
    ("set-not-json", ["run", "fake.ok", "--set", "steps=ten", "--out", "{out}"], "steps"),
    ("set-unselected-claim", ["run", "fake.ok", "--set", "fake.bad:steps=3", "--out", "{out}"], "--set"),
]


@pytest.mark.parametrize("argv,needle", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_error(argv, needle, fakes, cwd, tmp_path, capsys):
    out, afile = tmp_path / "out", tmp_path / "afile"
    afile.write_text("not a folder\n")
    argv = [a.format(out=out, file=afile) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2
    line = _line(err)
    assert line.startswith("icl-verify: error:") and needle in line, line
    assert fakes[1] == []  # no claim ran
    assert not out.exists()  # the out folder is made only once every other argument is good
    assert os.listdir(cwd) == []
    assert afile.read_text() == "not a folder\n"


def test_cuda_without_gpu_is_a_usage_error(fakes, cwd, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, _, err = _run(["run", "fake.ok", "--device", "cuda", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "--device" in _line(err)
    assert fakes[1] == [] and os.listdir(cwd) == []


def test_unwritable_out_found_before_any_claim(fakes, cwd, tmp_path, monkeypatch, capsys):
    """A folder that refuses new files (root ignores chmod, so the refusal is simulated at the probe)."""
    out = tmp_path / "ro"
    out.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, _, err = _run(["run", "fake.ok", "--out", str(out)], capsys)
    assert code == 2
    line = _line(err)
    assert "--out" in line and "not writable" in line and "Permission denied" in line
    assert fakes[1] == [] and os.listdir(cwd) == [] and os.listdir(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 500 folder")
def test_read_only_out_folder(fakes, cwd, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        code, _, err = _run(["run", "fake.ok", "--out", str(out)], capsys)
    finally:
        out.chmod(0o700)
    assert code == 2 and "--out" in _line(err) and fakes[1] == []


def test_check_out_dir_removes_the_folders_it_made(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(UsageError, match="--out: .* not writable"):
        check_out_dir(tmp_path / "a" / "b")
    assert os.listdir(tmp_path) == []


# -- exit 1: claims that fail, crash, or meet a corrupt file; unexpected errors ----------------------------


def test_not_reproduced_exits_1(fakes, cwd, tmp_path, capsys):
    code, out, err = _run(["run", "fake.bad", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "not reproduced" in err.strip().splitlines()[-1] and "not reproduced" in out
    assert os.listdir(cwd) == []


@pytest.mark.parametrize(
    "exc,needle",
    [
        (ValueError("d: expected an integer"), "ValueError: d: expected an integer"),
        (IntegrityError("/w/model.safetensors: sha256 differs"), "/w/model.safetensors"),
        (RuntimeError("bug"), "RuntimeError: bug"),
    ],
    ids=["value-error", "integrity-error", "runtime-error"],
)
def test_error_inside_a_claim_exits_1(exc, needle, fakes, cwd, tmp_path, capsys, monkeypatch):
    """A ValueError from inside a claim is the claim's error, not a usage error."""
    claims, _ = fakes
    claims["fake.boom"] = _claim("fake.boom", raises=exc)
    code, _, err = _run(["run", "fake.boom", "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 1 and "Traceback" not in err
    assert any(line.startswith("[error] fake.boom") and needle in line for line in err.splitlines()), err
    assert json.loads((tmp_path / "out" / "fake.boom.json").read_text())["verdict"] == "error"
    assert os.listdir(cwd) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), ValueError("shape mismatch"), KeyError("k")],
                         ids=["runtime", "value", "key"])
def test_internal_error_in_run_logs_to_out(exc, fakes, cwd, tmp_path, capsys, monkeypatch):
    import empirical.runner

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(empirical.runner, "run_claims", broken)
    code, _, err = _run(["run", "fake.ok", "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    line = _line(err)
    assert line.startswith("icl-verify: internal error:") and type(exc).__name__ in line
    logs = list((tmp_path / "out" / "logs").glob("*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert "Traceback" in logs[0].read_text() and "broken" in logs[0].read_text()
    assert os.listdir(cwd) == []


def test_internal_error_without_out_logs_to_temp(cwd, tmp_path, capsys, monkeypatch):
    """``list`` has no out folder: the log goes to the temp folder, never into the current one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def broken(selectors):
        raise RuntimeError("registry broke")

    monkeypatch.setattr(registry, "select_claims", broken)
    code, _, err = _run(["list"], capsys)
    assert code == 1
    line = _line(err)
    logs = list((tmp_path / "tmp").glob("icl-verify-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line and "registry broke" in line
    assert "Traceback" in logs[0].read_text()
    assert os.listdir(cwd) == []


def test_integrity_error_outside_claims_is_one_line_exit_1(fakes, cwd, tmp_path, capsys, monkeypatch):
    import empirical.runner

    def tampered(*args, **kwargs):
        raise IntegrityError("/w/model.safetensors: sha256 of the weights differs from the sidecar's")

    monkeypatch.setattr(empirical.runner, "run_claims", tampered)
    code, _, err = _run(["run", "fake.ok", "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert _line(err) == "icl-verify: error: /w/model.safetensors: sha256 of the weights differs from the sidecar's"


@pytest.mark.parametrize(
    "message,code",
    [("--layers: need at least 1 layer, got 0", 2), ("NAME: unknown construction 'x'", 2),
     ("prompt: X is all zeros, XᵀX has no positive eigenvalue", 1)],
    ids=["names-flag", "names-positional", "computation"],
)
def test_construct_value_error_is_usage_only_when_it_names_an_argument(message, code, cwd, tmp_path, capsys,
                                                                       monkeypatch):
    """A construction validates its config first and names the flag; later ValueErrors are its own failures."""
    import constructions.registry
    from constructions.base import ConstructionSpec

    def run(cfg):
        raise ValueError(message)

    spec = ConstructionSpec("fake", "fake", "a fake construction", run)
    monkeypatch.setattr(constructions.registry, "get_construction", lambda name: spec)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    got, _, err = _run(["construct", "fake", "--d", "2", "--n", "2", "--layers", "1"], capsys)
    assert got == code
    line = _line(err)
    assert message in line
    assert ("internal error" in line) == (code == 1)
    assert os.listdir(cwd) == []


# -- stray files in the out folder: summary.md is built from what can be read ------------------------------


def _payload(cid: str, verdict: str = "verified", measured: float = 0.5, **extra) -> dict:
    return {"schema": SCHEMA, "id": cid, "verdict": verdict, "wall_time_s": 0.1,
            "checks": [{"name": "c", "measured": measured, "op": "<=", "threshold": 1.0, "reason": "r",
                        "passed": verdict == "verified"}], **extra}


def _stray_bytes(out: Path) -> str:
    (out / "junk.json").write_bytes(b"\xff\xfe\x00garbage")
    return "`junk.json`: not UTF-8"


def _stray_text(out: Path) -> str:
    (out / "notes.json").write_text("{ half a json")
    return "`notes.json`: not valid JSON"


def _missing_key(out: Path) -> str:
    p = _payload("fake.lost")
    del p["verdict"]
    write_json(out / "fake.lost.json", p)
    return "`fake.lost.json`: missing key(s) verdict"


def _check_missing_key(out: Path) -> str:
    p = _payload("fake.lost")
    del p["checks"][0]["measured"]
    write_json(out / "fake.lost.json", p)
    return "`fake.lost.json`: a check lacks key(s) measured"


def _folder(out: Path) -> str:
    (out / "x.json").mkdir()
    return "`x.json`: a folder"


def _other_schema(out: Path) -> str:
    write_json(out / "old.json", {**_payload("fake.old"), "schema": "icl-verify/claim@0"})
    return "`old.json`: schema 'icl-verify/claim@0'"


def _json_list(out: Path) -> str:
    (out / "list.json").write_text("[1, 2]\n")
    return "`list.json`: not a claim result"


STRAY = {"undecodable-bytes": _stray_bytes, "invalid-json": _stray_text, "missing-key": _missing_key,
         "check-missing-key": _check_missing_key, "folder-named-json": _folder, "other-schema": _other_schema,
         "json-list": _json_list}


@pytest.mark.parametrize("make", list(STRAY.values()), ids=list(STRAY))
def test_stray_file_is_listed_as_skipped(make, fakes, cwd, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    expected = make(out)
    for _ in range(2):  # the stray file does not break this run, nor the next one into the same folder
        code, _, err = _run(["run", "fake.ok", "--out", str(out), "--quiet"], capsys)
        assert code == 0 and "Traceback" not in err
    summary = (out / "summary.md").read_text()
    assert "| `fake.ok` | verified |" in summary
    assert "## Skipped files" in summary and expected in summary
    assert os.listdir(cwd) == []


@pytest.mark.parametrize(
    "copy_time,winner",
    [("2020-01-01T00:00:00+00:00", "current"), (None, "current"), ("2999-01-01T00:00:00+00:00", "copy")],
    ids=["older-copy", "copy-without-time", "newer-copy"],
)
def test_duplicate_claim_id_resolves_to_newest_run(copy_time, winner, fakes, cwd, tmp_path, capsys):
    """A backup copy must not silently replace the current verdict; the summary names both files."""
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["run", "fake.ok", "--out", str(out), "--quiet"]) == 0
    backup = _payload("fake.ok", "not reproduced", 7.0)
    if copy_time is not None:
        backup["finished_at"] = copy_time
    write_json(out / "fake.ok (copy).json", backup)  # written last: the newest mtime
    assert cli.main(["run", "fake.ok2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    summary = (out / "summary.md").read_text()
    used, ignored = ("fake.ok.json", "fake.ok (copy).json")[:: 1 if winner == "current" else -1]
    verdict = "verified" if winner == "current" else "not reproduced"
    assert f"| `fake.ok` | {verdict} |" in summary
    assert f"- `fake.ok`: used `{used}`; ignored `{ignored}`" in summary


def test_duplicates_without_recorded_time_fall_back_to_mtime(tmp_path):
    write_json(tmp_path / "a.json", _payload("fake.x", "verified"))
    write_json(tmp_path / "b.json", _payload("fake.x", "not reproduced"))
    os.utime(tmp_path / "a.json", (2e9, 2e9))
    os.utime(tmp_path / "b.json", (1e9, 1e9))
    scan = scan_results(tmp_path)
    assert scan.sources["fake.x"].name == "a.json" and [p.name for p in scan.ignored["fake.x"]] == ["b.json"]


def test_the_robustness_table_beside_results_is_not_a_skipped_claim(tmp_path):
    write_json(tmp_path / "fake.x.json", _payload("fake.x", "verified"))
    write_json(tmp_path / "robustness.json", {"seeds": [0, 1], "rows": []})
    write_json(tmp_path / "stray.json", {"seeds": [0, 1]})
    scan = scan_results(tmp_path)
    assert set(scan.results) == {"fake.x"}
    assert [p.name for p, _ in scan.skipped] == ["stray.json"]  # any other foreign JSON is still reported


def test_runner_records_finished_at(fakes, cwd, tmp_path, capsys):
    from datetime import datetime

    assert cli.main(["run", "fake.ok", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    stamp = json.loads((tmp_path / "out" / "fake.ok.json").read_text())["finished_at"]
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 0


def test_nan_measurement_prints_nan_and_the_folder_stays_usable(fakes, cwd, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(["run", "fake.nan", "--out", str(out), "--quiet"], capsys)
    assert code == 1 and "Traceback" not in err  # a NaN check never passes: not reproduced
    assert "nan" in stdout.splitlines()[2]
    assert json.loads((out / "fake.nan.json").read_text())["checks"][0]["measured"] == "nan"
    assert "| `fake.nan` | not reproduced | c | nan | <= 1 |" in (out / "summary.md").read_text()
    code, _, err = _run(["run", "fake.ok", "--out", str(out), "--quiet"], capsys)  # the next run still works
    assert code == 0 and "Traceback" not in err
    summary = (out / "summary.md").read_text()
    assert "| `fake.nan` | not reproduced | c | nan |" in summary and "| `fake.ok` | verified |" in summary


def test_inf_in_a_claim_json_prints_inf(fakes, cwd, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    write_json(out / "fake.inf.json", {**_payload("fake.inf", "not reproduced", float("inf")),
                                       "checks": [{"name": "c", "measured": float("inf"), "op": ">=",
                                                   "threshold": float("-inf"), "reason": "r", "passed": False}]})
    assert cli.main(["run", "fake.ok", "--out", str(out), "--quiet"]) == 0
    assert "| `fake.inf` | not reproduced | c | inf | >= -inf |" in (out / "summary.md").read_text()


@pytest.mark.parametrize(
    "value,text",
    [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"), ("nan", "nan"), ("inf", "inf"),
     ("-inf", "-inf"), (0.123456, "0.1235"), (3, "3"), (None, "—"), ("n/a", "n/a")],
)
def test_fmt_number(value, text):
    assert fmt_number(value) == text


# -- real exit codes through the interpreter ------------------------------------------------------------------


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(
    "argv,needle",
    [(["run", CHEAP, "--out", "/dev/null"], "--out"), (["run", "nope", "--out", "{out}"], "ID_OR_PAPER")],
    ids=["dev-null", "unknown-id"],
)
def test_subprocess_usage_exit_2(argv, needle, cwd, tmp_path):
    r = _python("empirical.cli", *[a.format(out=tmp_path / "out") for a in argv], cwd=cwd)
    assert r.returncode == 2, r.stderr
    assert needle in _line(r.stderr) and r.stdout == ""
    assert os.listdir(cwd) == [] and not (tmp_path / "out").exists()


@pytest.mark.timeout(120)
def test_subprocess_run_into_a_folder_with_stray_files(cwd, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "junk.json").write_bytes(b"\x80\x81")
    (out / "x.json").mkdir()
    write_json(out / "fake.nan.json", _payload("fake.nan", "not reproduced", float("nan")))
    write_json(out / f"{CHEAP} (copy).json", {**_payload(CHEAP, "not reproduced", 9.0),
                                               "finished_at": "2000-01-01T00:00:00+00:00"})
    r = _python("empirical.cli", "run", CHEAP, "--out", str(out), "--quiet", "--device", "cpu", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    summary = (out / "summary.md").read_text()
    assert f"| `{CHEAP}` | verified |" in summary and "| `fake.nan` | not reproduced | c | nan |" in summary
    assert f"- `{CHEAP}`: used `{CHEAP}.json`; ignored `{CHEAP} (copy).json`" in summary
    assert "`junk.json`: not UTF-8" in summary and "`x.json`: a folder" in summary
    assert os.listdir(cwd) == []


def test_set_reaches_the_claim_and_an_unread_name_is_an_error(monkeypatch, cwd, tmp_path, capsys):
    """``--set`` overrides a named setting (recorded in the JSON); a name the runner never reads ends in 'error'."""

    def runner(ctx) -> Outcome:
        return Outcome(checks=[Check("c", float(ctx.setting("steps", 10, 100)), "<=", 1000.0, "why")])

    claim = Claim("fake.sized", "fake", "statement", "Thm 0", ("numerical",), runner)
    monkeypatch.setattr(registry, "select_claims", lambda sel: [claim])
    out = tmp_path / "out"
    code, _, _ = _run(["run", "fake.sized", "--out", str(out), "--set", "steps=7", "--quiet"], capsys)
    r = json.loads((out / "fake.sized.json").read_text())
    assert code == 0 and r["settings"]["steps"] == 7 and r["checks"][0]["measured"] == 7
    code, _, err = _run(["run", "fake.sized", "--out", str(out), "--set", "fake.sized:stepz=7", "--quiet"], capsys)
    r = json.loads((out / "fake.sized.json").read_text())
    assert code == 1 and r["verdict"] == "error" and "'stepz'" in r["error"], r.get("error")
