"""Compare two results folders claim by claim: the same seed must give the same claim JSON.

``python -m empirical.results_diff OLD NEW`` reads every ``<claim>.json`` of both folders and lists each value that
differs, by claim and JSON path, ignoring what a rerun may change without a change in behaviour: wall times and
clock readings, memory readings, the commit, and file locations (where a model was stored or which module path the
retrain command names). Exit 0 when every claim present in both folders is identical apart from those, and both
folders hold the same claim ids; 1 otherwise.

Floats are compared exactly (JSON text): a refactor that moves code must not move a single bit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["IGNORED_KEYS", "claim_files", "diff_values", "diff_folders", "main"]

#: keys whose values are times, clock readings, memory readings, the commit or file locations
IGNORED_KEYS = frozenset({
    "wall_time_s", "finished_at", "git_sha", "peak_rss_mb",  # run records
    "train_seconds", "seconds", "cpu_time_s", "wall_s", "cpu_s", "train_wall_s", "train_cpu_s",  # measured times
    "path", "command",  # where a model lies and the module path of its retrain command
})


def claim_files(folder: Path) -> dict[str, Path]:
    """claim id -> its JSON file in ``folder`` (files whose ``schema`` is a claim schema)."""
    found = {}
    for f in sorted(Path(folder).glob("*.json")):
        try:
            payload = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(payload, dict) and str(payload.get("schema", "")).startswith("icl-verify/claim@"):
            found[payload["id"]] = f
    return found


def _renamed(value: Any, renamed: Sequence[tuple[str, str]]) -> Any:
    """``value`` with every string's occurrences of each old file or module path replaced by its new one."""
    if isinstance(value, str):
        for old, new in renamed:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _renamed(v, renamed) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, renamed) for v in value]
    return value


def diff_values(a: Any, b: Any, where: str = "", ignored: frozenset[str] = IGNORED_KEYS) -> Iterator[str]:
    """Each place where ``a`` and ``b`` differ, as ``where: a != b`` (dict keys in ``ignored`` skipped)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignored:
                continue
            if k not in a or k not in b:
                yield f"{where}/{k}: only in {'new' if k in b else 'old'}"
            else:
                yield from diff_values(a[k], b[k], f"{where}/{k}", ignored)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from diff_values(x, y, f"{where}[{i}]", ignored)
    elif json.dumps(a) != json.dumps(b):  # exact: 0.1 and 0.10000000000000002 differ
        yield f"{where}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"


def diff_folders(old: Path, new: Path, ignored: frozenset[str] = IGNORED_KEYS,
                 renamed: Sequence[tuple[str, str]] = ()) -> dict[str, list[str]]:
    """claim id -> its differences (claims identical apart from ``ignored`` are left out). ``renamed``: (old, new)
    file or module paths, replaced in the old folder's strings first (a note naming a moved file)."""
    a, b = claim_files(old), claim_files(new)
    out: dict[str, list[str]] = {}
    for cid in sorted(set(a) | set(b)):
        if cid not in a or cid not in b:
            out[cid] = [f"only in {'new' if cid in b else 'old'}"]
            continue
        before = _renamed(json.loads(a[cid].read_text()), renamed)
        found = list(diff_values(before, json.loads(b[cid].read_text()), "", ignored))
        if found:
            out[cid] = found
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m empirical.results_diff", description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--ignore", action="append", default=[], metavar="KEY", help="another key to ignore")
    ap.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW",
                    help="a file or module path that moved: replaced in the old folder's strings before comparing")
    args = ap.parse_args(argv)
    for name in ("old", "new"):
        if not getattr(args, name).is_dir():
            print(f"{name}: not a folder: {getattr(args, name)}", file=sys.stderr)
            return 2
    ignored = IGNORED_KEYS | set(args.ignore)
    if any("=" not in r for r in args.renamed):
        print("--renamed: expected OLD=NEW", file=sys.stderr)
        return 2
    diffs = diff_folders(args.old, args.new, ignored, [tuple(r.split("=", 1)) for r in args.renamed])
    n = len(claim_files(args.old))
    for cid, lines in diffs.items():
        print(f"{cid}:")
        for line in lines[:20]:
            print(f"  {line}")
        if len(lines) > 20:
            print(f"  ... {len(lines) - 20} more")
    print(f"{n - len(diffs)} of {n} claims identical apart from {', '.join(sorted(ignored))}"
          if not diffs else f"{len(diffs)} claims differ", file=sys.stderr)
    return 1 if diffs else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
