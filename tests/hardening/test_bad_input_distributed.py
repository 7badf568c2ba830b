"""``python -m empirical.distributed`` under bad input: the exit-code contract of ``icl-verify``.

2 = a bad command-line value, one stderr line naming the argument, found before any folder is made or any
step is trained; 1 = an error while training (one line naming ``<out>/logs/*.log``) or a corrupt file (one
line naming it); never a traceback on stderr; nothing written outside ``--out``.

Budget: in-process cases stop before training (milliseconds) or train the toy family for 2 steps; two
subprocess cases check the real exit code (~3 s each, an interpreter importing torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import empirical.distributed as dist
from empirical.errors import IntegrityError

from .conftest import one_line

TOY = ["--family", "toy-linreg", "--steps", "2", "--batch-size", "4", "--device", "cpu", "--quiet",
       "--option", "d=2", "--option", "n=3", "--option", "hidden=4"]


_line = one_line  # shared with the other bad-input files (tests/hardening/conftest.py)


def _args(*replace: str, out: str | None = "{out}") -> list[str]:
    """TOY with ``replace``'s flag/value pairs substituted or appended, plus ``--out``."""
    argv = list(TOY)
    pairs = list(zip(replace[::2], replace[1::2], strict=True))
    for flag, value in pairs:
        if flag in argv and flag != "--option":
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv + (["--out", out] if out is not None else [])


USAGE_CASES = [
    # (id, argv with {out} {file} placeholders, the name the message must contain)
    ("out-empty", _args(out=""), "--out"),
    ("out-dev-null", _args(out="/dev/null"), "--out"),
    ("out-is-file", _args(out="{file}"), "--out"),
    ("out-under-file", _args(out="{file}/run"), "--out"),
    ("out-in-proc", _args(out="/proc/icl-verify-no/such"), "--out"),
    ("out-missing", _args(out=None), "--out"),
    ("family-missing", ["--out", "{out}"], "--family"),
    ("family-unknown", _args("--family", "nope"), "--family"),
    ("steps-negative", _args("--steps", "-1"), "--steps"),
    ("steps-text", _args("--steps", "ten"), "--steps"),
    ("batch-zero", _args("--batch-size", "0"), "--batch-size"),
    ("seed-negative", _args("--seed", "-1"), "--seed"),
    ("seed-text", _args("--seed", "x"), "--seed"),
    ("lr-nan", _args("--lr", "nan"), "--lr"),
    ("lr-zero", _args("--lr", "0"), "--lr"),
    ("grad-clip-negative", _args("--grad-clip", "-1"), "--grad-clip"),
    ("option-bad-value", _args("--option", "d=x"), "--option d"),
    ("option-unknown-key", _args("--option", "width=3"), "--option"),
    ("option-no-equals", _args("--option", "d"), "--option"),
    ("nccl-on-cpu", _args("--backend", "nccl"), "--backend"),
    ("device-unknown", _args("--device", "tpu"), "--device"),
    ("dtype-unknown", _args("--dtype", "float8"), "--dtype"),
    ("unknown-flag", _args("--bogus", "1"), "--bogus"),
]


@pytest.mark.parametrize("argv,needle", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_error(argv, needle, cwd, tmp_path, capsys, monkeypatch):
    trained = []
    monkeypatch.setattr(dist, "train_distributed", lambda *a, **k: trained.append(1))
    out, afile = tmp_path / "out", tmp_path / "afile"
    afile.write_text("not a folder\n")
    code = dist.main([a.format(out=out, file=afile) for a in argv])
    line = _line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("python -m empirical.distributed: error:") and needle in line, line
    assert trained == [] and not out.exists() and os.listdir(cwd) == []


def test_batch_not_divisible_by_world_size(cwd, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert dist.main(_args(out=str(tmp_path / "out"))) == 2
    assert "--batch-size" in _line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_cuda_without_gpu(cwd, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert dist.main(_args("--device", "cuda", out=str(tmp_path / "out"))) == 2
    assert "--device" in _line(capsys.readouterr().err)


def test_unwritable_out(cwd, tmp_path, capsys, monkeypatch):
    """Root ignores chmod, so a folder refusing new files is simulated at the probe."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert dist.main(_args(out=str(tmp_path / "ro" / "run"))) == 2
    line = _line(capsys.readouterr().err)
    assert "--out" in line and "not writable" in line
    assert not (tmp_path / "ro").exists()  # the folders the check made are gone again


@pytest.mark.parametrize("exc", [RuntimeError("nccl timeout"), ValueError("loss shape"), FloatingPointError("nan")],
                         ids=["runtime", "value", "floating-point"])
def test_error_while_training_exits_1_with_a_log(exc, cwd, tmp_path, capsys, monkeypatch):
    """A ValueError raised while training is not a usage error: exit 1, traceback in <out>/logs."""

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(dist, "train_distributed", broken)
    out = tmp_path / "out"
    assert dist.main(_args(out=str(out))) == 1
    line = _line(capsys.readouterr().err)
    assert line.startswith("python -m empirical.distributed: internal error:") and str(exc) in line
    logs = list((out / "logs").glob("*.log"))
    assert len(logs) == 1 and str(logs[0]) in line and "Traceback" in logs[0].read_text()
    assert os.listdir(cwd) == []


def test_integrity_error_is_one_line_exit_1(cwd, tmp_path, capsys, monkeypatch):
    def tampered(*args, **kwargs):
        raise IntegrityError(f"{tmp_path}/out/train_state.pt: refused as training state")

    monkeypatch.setattr(dist, "train_distributed", tampered)
    assert dist.main(_args(out=str(tmp_path / "out"))) == 1
    assert _line(capsys.readouterr().err).endswith("train_state.pt: refused as training state")


def test_good_arguments_still_train(cwd, tmp_path, capsys):
    out = tmp_path / "deep" / "out"
    assert dist.main(_args(out=str(out))) == 0
    assert (out / "model.safetensors").exists() and not (out / "logs").exists()
    assert capsys.readouterr().err == "" and os.listdir(cwd) == []


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return subprocess.run([sys.executable, "-m", "empirical.distributed", *args], cwd=cwd,
                          env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize(
    "argv,needle",
    [([], "--family"), (_args("--steps", "-1"), "--steps"), (_args(out="/dev/null"), "--out")],
    ids=["no-arguments", "steps-negative", "out-dev-null"],
)
def test_subprocess_usage_exit_2(argv, needle, cwd, tmp_path):
    r = _python(*[a.format(out=tmp_path / "out") for a in argv], cwd=cwd)
    assert r.returncode == 2, r.stderr
    assert needle in _line(r.stderr)
    assert os.listdir(cwd) == [] and not (tmp_path / "out").exists()
