"""Atomic, schema-versioned result files and the verdict table built from them."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "SCHEMA",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "load_results",
    "package_versions",
    "git_sha",
    "source_hash",
    "to_jsonable",
    "summary_markdown",
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


def load_results(out_dir: Path | str) -> dict[str, dict[str, Any]]:
    """Every claim JSON in ``out_dir`` keyed by claim id (other JSON files are ignored)."""
    res = {}
    for p in sorted(Path(out_dir).glob("*.json")):
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            res[data["id"]] = data
    return res


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


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def summary_markdown(results: dict[str, dict[str, Any]]) -> str:
    """The verdict table, one row per claim, with the first failing (or first) check's numbers."""
    lines = [
        "# icl-verify verdicts",
        "",
        "| claim | verdict | key check | measured | threshold | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for cid, r in results.items():
        checks = r.get("checks", [])
        key = next((c for c in checks if not c["passed"]), checks[0] if checks else None)
        if key:
            row = (key["name"], _fmt(key["measured"]), f"{key['op']} {_fmt(key['threshold'])}")
        else:
            row = ("—", "—", "—")
        lines.append(f"| `{cid}` | {r['verdict']} | {row[0]} | {row[1]} | {row[2]} | {r.get('wall_time_s', 0):.1f} |")
    counts: dict[str, int] = {}
    for r in results.values():
        v = r["verdict"].split(":")[0]
        counts[v] = counts.get(v, 0) + 1
    lines += ["", "Totals: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), ""]
    return "\n".join(lines)
