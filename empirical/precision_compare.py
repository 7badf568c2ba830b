"""A mixed-precision run's numbers next to float32's, claim by claim and check by check.

``python -m empirical.precision_compare results/full results/full-bf16 [--out FILE]`` reads the claim JSON of two
results folders (the same claims, profile and seed, run with ``--precision float32`` and with a mixed precision)
and writes one markdown table: per claim the two verdicts and wall times, per check the two measured values and
their relative difference. It compares and reports; it judges nothing (each run's verdict is its own). Exit 0 when
both folders hold claim results, 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from empirical.artifacts import atomic_write_text, fmt_number, load_results, table_row

__all__ = ["comparison_rows", "comparison_markdown", "main"]


def _recorded(results: dict[str, dict[str, Any]], key: str, default: str = "?") -> str:
    """The values of ``key`` over a folder's claims, e.g. its precision (float32 for JSON written before it was
    recorded) or device."""
    return "/".join(sorted({str(r.get(key, default)) for r in results.values()})) or "?"


def _relative(a: Any, b: Any) -> str:
    """|b − a| / |a| for two finite numbers (— otherwise)."""
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in (a, b)):
        return "—"
    if a == b:
        return "0"
    return f"{abs(b - a) / abs(a):.2g}" if a != 0 else "—"


def comparison_rows(base: dict[str, dict[str, Any]], mixed: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Table rows: a claim row (verdicts, wall times), then one row per check of either run, for every claim id
    of either folder (a claim that only one ran shows — for the other)."""
    rows = []
    for cid in sorted(set(base) | set(mixed)):
        a, b = base.get(cid, {}), mixed.get(cid, {})
        rows.append([f"`{cid}`", "verdict", a.get("verdict", "—"), b.get("verdict", "—"), "",
                     fmt_number(a.get("wall_time_s")), fmt_number(b.get("wall_time_s"))])
        checks_a = {c["name"]: c for c in a.get("checks", [])}
        checks_b = {c["name"]: c for c in b.get("checks", [])}
        for name in [*checks_a, *(n for n in checks_b if n not in checks_a)]:
            va, vb = checks_a.get(name, {}).get("measured"), checks_b.get(name, {}).get("measured")
            rows.append(["", name, fmt_number(va), fmt_number(vb), _relative(va, vb), "", ""])
    return rows


def comparison_markdown(base_dir: Path, mixed_dir: Path) -> str:
    """The markdown report of :func:`comparison_rows` for two results folders.

    Raises:
        ValueError: naming ``float32`` or ``mixed``, for a folder that holds no claim results.
    """
    base, mixed = load_results(base_dir), load_results(mixed_dir)
    for name, folder, results in (("float32", base_dir, base), ("mixed", mixed_dir, mixed)):
        if not results:
            raise ValueError(f"{name}: no claim results in {folder}")
    pa, pb = _recorded(base, "precision", "float32"), _recorded(mixed, "precision", "float32")
    lines = [f"# {pb} next to {pa}", "",
             f"`{base_dir}` ({pa}) and `{mixed_dir}` ({pb}); device {_recorded(base, 'device')} and "
             f"{_recorded(mixed, 'device')}.", "",
             f"| claim | check | {pa} | {pb} | relative difference | {pa} wall s | {pb} wall s |",
             "|---|---|---|---|---|---|---|"]
    lines += [table_row(row) for row in comparison_rows(base, mixed)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m empirical.precision_compare", description=__doc__.split("\n")[0])
    ap.add_argument("float32", type=Path, help="results folder of the float32 run")
    ap.add_argument("mixed", type=Path, help="results folder of the mixed-precision run")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    try:
        text = comparison_markdown(args.float32, args.mixed)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if args.out is not None:
        atomic_write_text(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
