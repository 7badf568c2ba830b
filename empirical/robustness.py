"""Seed robustness: a verdict is an instrument reading, so it must not change with the seed.

``python -m empirical.robustness [ID_OR_PAPER ...] --seeds 0-4 --out results/robustness`` runs each selected
claim at the first seed; claims that took at most ``--max-seconds`` there (default 60, the issue's budget for
a 2-core machine) are run at every other seed too. Each seed writes its claim JSON under ``<out>/seed-<s>/``;
``<out>/robustness.md`` and ``robustness.json`` hold one row per claim with the verdict at every seed. The
command exits 1 when some claim's verdict kind differs across seeds (``nox -s robustness``).

``--merge DIR [DIR ...]`` combines the ``robustness.json`` of runs made side by side (e.g. one process per core,
each on some papers, with the same seeds and budget) into one table under ``--out``, without running anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from empirical.artifacts import atomic_write_text, write_json
from empirical.registry.core import Claim, verdict_kind

__all__ = ["SeedRow", "merge_runs", "parse_seeds", "robustness_table", "seed_rows", "main"]


@dataclass
class SeedRow:
    """One claim across seeds: verdict per seed (None: not run, too slow at the first seed)."""

    claim_id: str
    verdicts: dict[int, str | None] = field(default_factory=dict)
    first_seed_s: float = 0.0
    #: why the claim was not run at every seed ("" when it was, or when it was only too slow)
    note: str = ""

    @property
    def looped(self) -> bool:
        return all(v is not None for v in self.verdicts.values())

    @property
    def stable(self) -> bool:
        kinds = {verdict_kind(v) for v in self.verdicts.values() if v is not None}
        return len(kinds) <= 1

    @property
    def why_not_looped(self) -> str:
        """The reason the claim ran at the first seed only: its note, else its wall time there."""
        return self.note or f"{self.first_seed_s:.0f} s"

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> SeedRow:
        """The inverse of :meth:`as_dict` (a row of ``robustness.json``)."""
        return cls(r["id"], {int(k): v for k, v in r["verdicts"].items()}, r["first_seed_s"], r.get("note", ""))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.claim_id, "verdicts": {str(k): v for k, v in self.verdicts.items()},
                "first_seed_s": self.first_seed_s, "looped": self.looped, "stable": self.stable, "note": self.note}


def parse_seeds(text: str) -> list[int]:
    """``0-4`` or ``0,3,7`` -> seeds (non-negative, at least two, no repeats)."""
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds: expected A-B or a comma list of integers, got {text!r}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"--seeds: need two or more distinct non-negative seeds, got {text!r}")
    return seeds


def _stored_models(obj: Any) -> list[dict]:
    """The checkpoint records (``empirical.checkpoints.load_or_train`` infos) anywhere in a result's ``measured``."""
    if isinstance(obj, dict):
        if "recipe_sha256" in obj and "source" in obj:
            return [obj]
        return [m for v in obj.values() for m in _stored_models(v)]
    if isinstance(obj, list):
        return [m for v in obj for m in _stored_models(v)]
    return []


def training_cost(result: dict) -> float | None:
    """Seconds a run at another seed would spend training the models this run loaded from the shipped store (they
    are identified by their seed, so every other seed trains its own): the sum of their recorded ``train_seconds``;
    0 when nothing was loaded from the store; None when a stored model does not record its training time."""
    shipped = [m for m in _stored_models(result.get("measured") or {}) if m["source"] == "shipped"]
    times = [(m.get("metrics") or {}).get("train_seconds") for m in shipped]
    return None if any(t is None for t in times) else float(sum(times))


def seed_rows(claims: list[Claim], seeds: list[int], out: Path, *, device: torch.device, profile: str,
              max_seconds: float, progress: bool = True) -> list[SeedRow]:
    """Run every claim at ``seeds[0]``, then the fast ones at the other seeds: the first seed's wall time plus
    what training its shipped models costs (:func:`training_cost`) must be at most ``max_seconds``."""
    from empirical.progress import progress_bar
    from empirical.runner import run_claim

    rows = []
    bar = progress_bar(total=len(claims) * len(seeds), desc="robustness", enabled=progress)
    for claim in claims:
        row = SeedRow(claim.id, {s: None for s in seeds})
        for i, seed in enumerate(seeds):
            if i and (row.note or row.first_seed_s > max_seconds):
                bar.update(len(seeds) - i)
                break
            t0 = time.perf_counter()
            r = run_claim(claim, profile=profile, device=device, seed=seed, out_dir=out / f"seed-{seed}",
                          progress=False)
            row.verdicts[seed] = r["verdict"]
            if i == 0:
                row.first_seed_s = time.perf_counter() - t0
                cost = training_cost(r)
                if cost is None:
                    row.note = "loads a stored model whose training time is not recorded"
                elif cost and row.first_seed_s + cost > max_seconds:
                    row.note = f"trains a model at every other seed ({cost:.0f} s)"
            bar.update(1)
        rows.append(row)
    bar.close()
    return rows


def robustness_table(rows: list[SeedRow], seeds: list[int], max_seconds: float) -> str:
    """Markdown: one row per claim, its verdict kind at each seed and whether they agree."""
    head = "| claim | " + " | ".join(f"seed {s}" for s in seeds) + " | same verdict |"
    lines = ["# Verdicts across seeds", "",
             f"Claims that took at most {max_seconds:g} s at seed {seeds[0]} ran at every seed; slower ones at "
             f"seed {seeds[0]} only.", "", head, "|---|" + "---|" * (len(seeds) + 1)]
    for r in rows:
        cells = [verdict_kind(v) if v is not None else "—" for v in r.verdicts.values()]
        same = ("yes" if r.stable else "**NO**") if r.looped else f"not looped ({r.why_not_looped})"
        lines.append(f"| `{r.claim_id}` | " + " | ".join(cells) + f" | {same} |")
    unstable = [r.claim_id for r in rows if not r.stable]
    lines += ["", f"Claims whose verdict changes with the seed: {', '.join(unstable) if unstable else 'none'}.", ""]
    return "\n".join(lines)


def merge_runs(folders: list[Path]) -> tuple[list[SeedRow], list[int], float, str]:
    """Rows of several runs' ``robustness.json`` (same seeds, budget and profile, no claim twice), in order."""
    import json

    rows: list[SeedRow] = []
    meta: tuple[list[int], float, str] | None = None
    for folder in folders:
        path = Path(folder) / "robustness.json"
        if not path.is_file():
            raise ValueError(f"--merge: no robustness.json in {folder}")
        data = json.loads(path.read_text(encoding="utf-8"))
        this = (data["seeds"], float(data["max_seconds"]), data["profile"])
        if meta is not None and this != meta:
            raise ValueError(f"--merge: {folder} used seeds/max-seconds/profile {this}, the first run {meta}")
        meta = this
        for r in data["rows"]:
            if any(x.claim_id == r["id"] for x in rows):
                raise ValueError(f"--merge: claim {r['id']} appears in more than one run")
            rows.append(SeedRow.from_dict(r))
    if meta is None:
        raise ValueError("--merge: name at least one folder")
    return rows, *meta


def _write(out: Path, rows: list[SeedRow], seeds: list[int], max_seconds: float, profile: str) -> str:
    table = robustness_table(rows, seeds, max_seconds)
    atomic_write_text(out / "robustness.md", table)
    write_json(out / "robustness.json", {"seeds": seeds, "max_seconds": max_seconds, "profile": profile,
                                         "rows": [r.as_dict() for r in rows]})
    return table


def main(argv: list[str] | None = None) -> int:
    from empirical.device import resolve_device
    from empirical.registry import select_claims

    ap = argparse.ArgumentParser(prog="python -m empirical.robustness", description=__doc__.splitlines()[0])
    ap.add_argument("selectors", nargs="*", metavar="ID_OR_PAPER", help="claim ids or paper keys (default: all)")
    ap.add_argument("--seeds", default="0-4", help="A-B or a comma list (default 0-4)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="loop only claims this fast at the first seed")
    ap.add_argument("--profile", choices=("quick", "full"), default="quick")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    ap.add_argument("--out", type=Path, default=Path("results/robustness"))
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--merge", nargs="+", type=Path, metavar="DIR", help="combine earlier runs' tables into --out")
    args = ap.parse_args(argv)
    if args.merge:
        try:
            rows, seeds, max_seconds, profile = merge_runs(args.merge)
        except ValueError as e:
            print(f"python -m empirical.robustness: error: {e}", file=sys.stderr)
            return 2
        print(_write(args.out, rows, seeds, max_seconds, profile))
        return 0 if all(r.stable for r in rows) else 1
    try:
        seeds = parse_seeds(args.seeds)
        if not args.max_seconds > 0:
            raise ValueError(f"--max-seconds: expected a positive number, got {args.max_seconds}")
        claims = select_claims(args.selectors)
        device = resolve_device(args.device)
    except (KeyError, ValueError) as e:
        print(f"python -m empirical.robustness: error: {str(e).strip(chr(39))}", file=sys.stderr)
        return 2
    rows = seed_rows(claims, seeds, args.out, device=device, profile=args.profile, max_seconds=args.max_seconds,
                     progress=not args.quiet)
    print(_write(args.out, rows, seeds, args.max_seconds, args.profile))
    return 0 if all(r.stable for r in rows) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
