"""Atomic, schema-versioned result files and the verdict table built from them."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from empirical.errors import UsageError
from empirical.precision import DEFAULT as FLOAT32

__all__ = [
    "controls_summary",
    "SCHEMA",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "load_results",
    "scan_results",
    "ResultScan",
    "folder_summary",
    "fmt_number",
    "check_out_dir",
    "package_versions",
    "git_sha",
    "source_hash",
    "to_jsonable",
    "summary_markdown",
    "table_row",
]

SCHEMA = "icl-verify/claim@1"
_UMASK = os.umask(0)
os.umask(_UMASK)
_PACKAGES = ("icl-verify", "torch", "numpy", "scipy", "sympy", "matplotlib")


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write to a temporary file in the same folder, fsync, then ``os.replace``: readers never see a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def to_jsonable(obj: Any) -> Any:
    """Tensors and arrays to lists, numpy scalars to Python, NaN/inf kept as strings JSON can hold."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return [to_jsonable(x) for x in obj.tolist()] if obj.ndim else to_jsonable(obj.item())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            return str(obj)
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path | str, payload: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n")


def check_out_dir(path: Path | str, flag: str = "--out") -> Path:
    """Make sure results can be written to ``path`` before any work is done; returns it as a Path.

    ``path`` must be non-empty and a folder or creatable as one (missing folders are made), and must accept a
    new file: a probe file is created and removed, which catches read-only folders and mounts that a
    permission check alone misses.

    Raises:
        UsageError: naming ``flag``; folders this call made are removed again.
    """
    if isinstance(path, str) and not path.strip():  # Path("") is ".": an empty --out would write into the cwd
        raise UsageError(f"{flag}: empty path; give an output folder")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag}: {path} exists and is not a folder")
    made = _make_folders(path, flag)
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".icl-verify-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        for folder in reversed(made):
            folder.rmdir()
        raise UsageError(f"{flag}: {path} is not writable ({e.strerror or e})") from None
    return path


def _make_folders(path: Path, flag: str) -> list[Path]:
    """Create ``path`` and its missing parents; returns those created, outermost first."""
    missing = []
    p = path.absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    if not p.is_dir():  # e.g. --out some_file/results: no folder can be made below a file
        raise UsageError(f"{flag}: {p} is not a folder, so {path} cannot be created")
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another process (a torchrun rank) made it meanwhile
            continue
        except OSError as e:
            for m in reversed(made):
                m.rmdir()
            raise UsageError(f"{flag}: cannot create {path} ({e.strerror or e})") from None
        made.append(folder)
    return made


def load_results(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """Every readable claim JSON in ``out_dir`` keyed by claim id; of duplicates, the newest run.

    Unreadable files and JSON of another schema are left out (:func:`scan_results` says which and why).
    """
    return scan_results(out_dir).results


@dataclass
class ResultScan:
    """What :func:`scan_results` found in an output folder.

    Attributes:
        results: claim id -> the payload used (the newest run of that id).
        sources: claim id -> the file that payload came from.
        ignored: claim id -> older files with the same id, newest first (e.g. a backup copy).
        skipped: (file, reason) for every ``*.json`` that is not a usable claim result.
    """

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    ignored: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


_CLAIM_KEYS = ("id", "verdict", "checks")
#: JSON files that may sit beside claim results and are not claim results (the seed-robustness table)
_NOT_CLAIMS = frozenset({"robustness.json"})
_CHECK_KEYS = ("name", "measured", "op", "threshold", "passed")


def _read_claim_json(path: Path) -> dict[str, Any]:
    """The claim payload in ``path``; ValueError or OSError with a short reason when it is not one."""
    if path.is_dir():
        raise ValueError("a folder, not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a claim result (a JSON {type(data).__name__}, not an object)")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA!r}")
    missing = [k for k in _CLAIM_KEYS if k not in data]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    if not isinstance(data["id"], str) or not data["id"] or not isinstance(data["verdict"], str):
        raise ValueError("'id' and 'verdict' must be non-empty strings")
    if not isinstance(data["checks"], list) or not all(isinstance(c, dict) for c in data["checks"]):
        raise ValueError("'checks' must be a list of objects")
    for c in data["checks"]:
        lacking = [k for k in _CHECK_KEYS if k not in c]
        if lacking:
            raise ValueError(f"a check lacks key(s) {', '.join(lacking)}")
    return data


def _finished_at(data: dict[str, Any]) -> datetime | None:
    """The recorded UTC end time of a run; None when absent or unreadable (such files count as oldest)."""
    raw = data.get("finished_at")
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _recency(path: Path, data: dict[str, Any]) -> tuple[bool, datetime, float, str]:
    """Sort key, larger = newer: files with a recorded time beat those without, then that time, then mtime."""
    t = _finished_at(data)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = float("-inf")
    return (t is not None, t or datetime.min.replace(tzinfo=UTC), mtime, path.name)


def scan_results(out_dir: Path | str) -> ResultScan:
    """Read every ``*.json`` in ``out_dir``: claim results by id, duplicates resolved, the rest listed as skipped.

    Never raises for a bad file: a stray or damaged file in the folder must not block the summary of the rest.
    """
    scan = ResultScan()
    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for p in sorted(Path(out_dir).glob("*.json")):
        if p.name in _NOT_CLAIMS:
            continue
        try:
            data = _read_claim_json(p)
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            scan.skipped.append((p, reason))
            continue
        found.setdefault(data["id"], []).append((p, data))
    for cid in sorted(found):
        ranked = sorted(found[cid], key=lambda item: _recency(*item), reverse=True)
        (path, data), rest = ranked[0], ranked[1:]
        scan.results[cid], scan.sources[cid] = data, path
        if rest:
            scan.ignored[cid] = [p for p, _ in rest]
    return scan


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_sha(cwd: Path | str | None = None) -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent, capture_output=True,
                           text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def source_hash(modules: Iterable[str]) -> str:
    """sha256 over the source files of the given modules (what produced a result)."""
    import importlib

    h = hashlib.sha256()
    for name in sorted(set(modules)):
        mod = importlib.import_module(name)
        f = getattr(mod, "__file__", None)
        if f:
            h.update(name.encode())
            h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def fmt_number(x: Any) -> str:
    """A measured number for a table: 4 significant digits; NaN and inf (floats, or the strings
    :func:`to_jsonable` writes for them) print as ``nan`` / ``inf`` / ``-inf``; anything else as text."""
    if isinstance(x, bool) or x is None:
        return "—" if x is None else str(x)
    if isinstance(x, str):
        try:
            x = float(x)  # "nan", "inf", "-inf" from to_jsonable; a hand-edited "0.5" reads as a number too
        except ValueError:
            return x
    if isinstance(x, int | float):
        return str(x) if math.isnan(x) or math.isinf(x) else f"{x:.4g}"
    return str(x)


def table_row(cells: Iterable[Any]) -> str:
    """One markdown table row, each cell made safe (a '|' or a newline would split the row)."""
    return "| " + " | ".join(" ".join(str(x).split()).replace("|", "\\|") for x in cells) + " |"


def _seconds(x: Any) -> str:
    return f"{x:.1f}" if isinstance(x, int | float) and not isinstance(x, bool) else "—"


def _name(p: Path) -> str:
    return "`" + p.name.replace("`", "'") + "`"


def summary_markdown(results: dict[str, dict[str, Any]], scan: ResultScan | None = None) -> str:
    """The verdict table, one row per claim, with the first failing (or first) check's numbers.

    With ``scan`` (from :func:`scan_results`), also which file each duplicated claim id was taken from and
    which were ignored, and every file that was skipped and why.
    """
    lines = [
        "# icl-verify verdicts",
        "",
        "| claim | verdict | key check | measured | threshold | controls | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for cid, r in results.items():
        checks = r.get("checks", [])
        key = next((c for c in checks if not c["passed"]), checks[0] if checks else None)
        if key:
            row = (key["name"], fmt_number(key["measured"]), f"{key['op']} {fmt_number(key['threshold'])}")
        else:
            row = ("—", "—", "—")
        cells = [f"`{cid}`", r["verdict"], *row, controls_summary(r) or "—", _seconds(r.get("wall_time_s", 0))]
        lines.append(table_row(cells))
    counts: dict[str, int] = {}
    for r in results.values():
        v = r["verdict"].split(":")[0]
        counts[v] = counts.get(v, 0) + 1
    lines += ["", "Totals: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), ""]
    mixed = sorted({str(r["precision"]) for r in results.values() if r.get("precision", FLOAT32) != FLOAT32})
    if mixed:  # a float32 run says nothing: float32 is what every claim's acceptance was written for
        lines += [f"Training precision: {', '.join(mixed)} mixed precision (autocast; float32 weights). "
                  "`python -m empirical.precision_compare FLOAT32_FOLDER THIS_FOLDER` sets the numbers next to "
                  "float32's.", ""]
    lines += _cost_lines(results)
    if scan is not None:
        lines += _scan_notes(scan)
    return "\n".join(lines)


def _cost_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Wall time per paper and the peak resident memory of the processes that ran the claims."""
    per_paper: dict[str, float] = {}
    peaks = []
    for cid, r in results.items():
        wall = r.get("wall_time_s")
        if isinstance(wall, int | float):
            per_paper[cid.split(".")[0]] = per_paper.get(cid.split(".")[0], 0.0) + float(wall)
        if isinstance(r.get("peak_rss_mb"), int | float):
            peaks.append(float(r["peak_rss_mb"]))
    if not per_paper:
        return []
    out = ["Wall time per paper: " + ", ".join(f"{p} {_seconds(s)} s" for p, s in sorted(per_paper.items()))
           + f" (total {_seconds(sum(per_paper.values()))} s)."]
    if peaks:
        out.append(f"Peak resident memory of the runs: {max(peaks):.0f} MiB.")
    return out + [""]


def controls_summary(result: dict[str, Any]) -> str:
    """The controls of a claim result in a few characters: ``+ok −ok``; a misbehaving positive control reads
    ``+FAILED``, a misbehaving negative one ``−PASSED`` ('' when the claim has no controls)."""
    parts = []
    for c in result.get("controls") or []:
        if not isinstance(c, dict):
            continue
        positive = c.get("role") == "positive"
        state = "ok" if c.get("behaved") else ("FAILED" if positive else "PASSED")
        parts.append(f"{'+' if positive else '−'}{state}")
    return " ".join(parts)


def _scan_notes(scan: ResultScan) -> list[str]:
    """Markdown sections on duplicated claim ids and skipped files (nothing when there are none)."""
    lines: list[str] = []
    if scan.ignored:
        lines += ["## Duplicate claim ids (newest run used)", ""]
        for cid, older in scan.ignored.items():
            ignored = ", ".join(_name(p) for p in older)
            lines.append(f"- `{cid}`: used {_name(scan.sources[cid])}; ignored {ignored}")
        lines.append("")
    if scan.skipped:
        lines += ["## Skipped files", ""]
        lines += [f"- {_name(p)}: {' '.join(reason.split())}" for p, reason in scan.skipped]
        lines.append("")
    return lines


def folder_summary(out_dir: Path | str) -> str:
    """``summary.md`` for ``out_dir``: every readable claim result in it, plus what was skipped or ignored."""
    scan = scan_results(out_dir)
    return summary_markdown(scan.results, scan)
