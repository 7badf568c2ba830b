"""``icl-verify``: list claims, run them, try constructions, redraw nothing by hand.

Exit codes: 0 success; 1 some claim ``not reproduced`` or ``error`` (unless ``--no-fail``); 2 bad usage
(one line naming the argument).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2
        raise _UsageError(message)


def _positive_int(name: str, minimum: int = 1):  # argparse prefixes "argument NAME:"
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v

    return parse


def _cond(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {s!r}") from None
    if not v >= 1 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"a condition number is a finite number >= 1, got {s}")
    return v


def _build_parser() -> _Parser:
    p = _Parser(prog="icl-verify", description="Verify and reproduce 'transformers learn numerical algorithms'.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list registered claims (ids, statements, evidence kinds)")
    ls.add_argument("selectors", nargs="*", help="claim ids or paper keys (default: all)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    run = sub.add_parser("run", help="run claims and write JSON, figures and summary.md")
    run.add_argument("selectors", nargs="*", metavar="ID_OR_PAPER", help="claim ids or paper keys (default: all)")
    run.add_argument("--profile", choices=("quick", "full"), default="quick")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--seed", type=_positive_int("--seed", 0), default=0)
    run.add_argument("--out", type=Path, default=None, help="output folder (default results/<profile>)")
    run.add_argument("--no-fail", action="store_true",
                     help="exit 0 even if a claim is not reproduced (a runner error still exits 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--retrain", action="store_true",
                     help="train again instead of loading stored quick-profile checkpoints (refreshes them)")

    con = sub.add_parser("construct", help="build a construction and compare it layer by layer with its algorithm")
    con.add_argument("name", metavar="NAME", help="construction name (see `icl-verify construct --list x`)")
    con.add_argument("--d", type=_positive_int("--d"), required=False)
    con.add_argument("--n", type=_positive_int("--n"), required=False)
    con.add_argument("--layers", type=_positive_int("--layers"), required=False)
    con.add_argument("--cond", type=_cond, default=1.0)
    con.add_argument("--seed", type=_positive_int("--seed", 0), default=0)
    con.add_argument("--batch", type=_positive_int("--batch"), default=16)
    con.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="construction-specific setting (repeatable)")
    con.add_argument("--json", action="store_true")
    con.add_argument("--list", action="store_true", help="list constructions and exit")
    return p


def _cmd_list(args: argparse.Namespace) -> int:
    from empirical.claims import select_claims

    claims = select_claims(args.selectors)
    if args.json:
        print(json.dumps([{"id": c.id, "paper": c.paper, "statement": c.statement, "source": c.source,
                           "evidence": list(c.evidence)} for c in claims], indent=2))
        return 0
    w = max((len(c.id) for c in claims), default=10)
    for c in claims:
        print(f"{c.id:<{w}}  [{', '.join(c.evidence)}]  {c.statement}  ({c.source})")
    return 0


def _verdict_table(results: dict) -> str:
    rows = [("claim", "verdict", "key check", "measured", "threshold", "s")]
    for cid, r in results.items():
        checks = r.get("checks", [])
        key = next((c for c in checks if not c["passed"]), checks[0] if checks else None)
        if key:
            rows.append((cid, r["verdict"], key["name"], f"{key['measured']:.4g}",
                         f"{key['op']} {key['threshold']:.4g}", f"{r['wall_time_s']:.1f}"))
        else:
            rows.append((cid, r["verdict"] if r["verdict"] != "error" else f"error: {r.get('error', '')}",
                         "", "", "", f"{r['wall_time_s']:.1f}"))
    # long skip reasons and error messages stay readable in the JSON; the table keeps one line per claim
    rows = [tuple(c if len(c) <= 60 else c[:59] + "…" for c in map(str, row)) for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(wi) for c, wi in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * wi for wi in widths))
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from empirical.claims import select_claims
    from empirical.device import resolve_device
    from empirical.runner import run_claims

    claims = select_claims(args.selectors)
    device = resolve_device(args.device)
    out = args.out if args.out is not None else Path("results") / args.profile

    def report(r: dict) -> None:
        print(f"[{r['verdict']}] {r['id']} ({r['wall_time_s']:.1f} s)", file=sys.stderr, flush=True)

    results = run_claims(claims, profile=args.profile, device=device, seed=args.seed, out_dir=out,
                         progress=not args.quiet, retrain=args.retrain, on_result=report)
    print(_verdict_table(results))
    print(f"\nresults: {out}/ (summary.md, <claim>.json, figures/)")
    errors = [cid for cid, r in results.items() if r["verdict"] == "error"]
    failing = [cid for cid, r in results.items() if r["verdict"] == "not reproduced"]
    if errors:  # a runner crashed: a bug, never forgiven by --no-fail
        print(f"errors: {', '.join(errors)} (tracebacks in the JSON files)", file=sys.stderr)
        return 1
    if failing and not args.no_fail:
        print(f"not reproduced: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


def _cmd_construct(args: argparse.Namespace) -> int:
    from constructions.base import ConstructionConfig
    from constructions.registry import available, get_construction

    if args.list:
        for name, spec in sorted(available().items()):
            print(f"{name:<24} [{spec.paper}] {spec.summary}")
        return 0
    spec = get_construction(args.name)
    for flag in ("d", "n", "layers"):
        if getattr(args, flag) is None:
            raise _UsageError(f"--{flag}: required ({spec.layers_help})" if flag == "layers" else f"--{flag}: required")
    options = {}
    for item in args.option:
        if "=" not in item:
            raise _UsageError(f"--option: expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        options[k.strip()] = v.strip()
    cfg = ConstructionConfig(d=args.d, n=args.n, layers=args.layers, cond=args.cond, seed=args.seed,
                             batch=args.batch, options=options)
    rep = spec.run(cfg)
    if args.json:
        print(json.dumps({"name": rep.name, "config": rep.config, "layers": rep.deviations,
                          "max_rel_dev": rep.max_deviation, "tolerance": rep.tolerance,
                          "tolerance_reason": rep.tolerance_reason, "passed": rep.passed, "notes": rep.notes},
                         indent=2))
    else:
        print(f"{rep.name}: " + ", ".join(f"{k}={v}" for k, v in rep.config.items()))
        print(f"{'layer':>5}  {'block':<28} {'reference':<32} max rel. deviation")
        for r in rep.deviations:
            dev = "—" if r["max_rel_dev"] is None else f"{r['max_rel_dev']:.3e}"
            print(f"{r['layer']:>5}  {r['block']:<28} {r['reference']:<32} {dev}")
        print(f"max {rep.max_deviation:.3e} vs tolerance {rep.tolerance:.3e} ({rep.tolerance_reason}): "
              f"{'within' if rep.passed else 'EXCEEDED'}")
        for note in rep.notes:
            print(f"note: {note}")
    return 0 if rep.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "list":
            return _cmd_list(args)
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_construct(args)
    except (_UsageError, ValueError) as e:
        print(f"icl-verify: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
