"""``icl-verify``: list claims, run them, try constructions, redraw nothing by hand.

Exit codes: 0 success; 1 some claim ``not reproduced``, ``inconclusive`` or ``error`` (``--no-fail`` forgives
the first two), a corrupt stored file (one line naming it), or an unexpected error (one line naming the log
file that holds the traceback: ``<out>/logs/`` once the out folder is checked, else the temp folder);
2 bad usage (one line naming the argument). No traceback reaches stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from empirical.errors import IntegrityError, UsageError, one_line, report_internal_error
from empirical.precision import add_precision_argument, default_out

if TYPE_CHECKING:  # the CLI imports torch and the registry only when a command needs them
    import torch

    from empirical.registry.core import Claim

__all__ = ["main"]

PROG = "icl-verify"
_UsageError = UsageError  # the name the subcommands raise; main() maps it to exit 2
_SEED_LIMIT = 2**63  # seeds feed 64-bit generators (torch.manual_seed, numpy SeedSequence)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2
        raise UsageError(message)


def _positive_int(name: str, minimum: int = 1, limit: int | None = None):  # argparse prefixes "argument NAME:"
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        if limit is not None and v >= limit:
            raise argparse.ArgumentTypeError(f"expected an integer < {limit}, got {v}")
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


def _setting_override(s: str) -> tuple[str | None, str, object]:
    """``[CLAIM_ID:]NAME=JSON`` -> (claim id or None for every selected claim, setting name, value)."""
    target, sep, value = s.partition("=")
    if not sep or not target:
        raise argparse.ArgumentTypeError(f"expected [CLAIM_ID:]NAME=VALUE, got {s!r}")
    claim_id, colon, name = target.rpartition(":")
    if not name or (colon and not claim_id):
        raise argparse.ArgumentTypeError(f"expected [CLAIM_ID:]NAME=VALUE, got {s!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(
            f"{name}: the value is JSON (a number, true/false, a list, a quoted string), got {value!r}") from None
    return claim_id or None, name, parsed


def _jobs(s: str) -> str | int:
    return "auto" if s == "auto" else _positive_int("--jobs")(s)


def _build_parser() -> _Parser:
    p = _Parser(prog=PROG, description="Verify and reproduce 'transformers learn numerical algorithms'.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="list registered claims (ids, statements, evidence kinds)")
    ls.add_argument("selectors", nargs="*", metavar="ID_OR_PAPER", help="claim ids or paper keys (default: all)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    run = sub.add_parser("run", help="run claims and write JSON, figures and summary.md")
    run.add_argument("selectors", nargs="*", metavar="ID_OR_PAPER", help="claim ids or paper keys (default: all)")
    run.add_argument("--profile", choices=("quick", "full"), default="quick")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--seed", type=_positive_int("--seed", 0, _SEED_LIMIT), default=0)
    # a str, not a Path: Path("") is "." and an empty --out would silently write into the current folder
    run.add_argument("--out", default=None,
                     help="output folder (default results/<profile>, or results/<profile>-<precision> for mixed "
                          "precision)")
    run.add_argument("--no-fail", action="store_true",
                     help="exit 0 even if a claim is not reproduced (a runner error still exits 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--retrain", action="store_true",
                     help="train again instead of loading stored checkpoints (into <out>/checkpoints/; "
                          "the shipped ones are never written)")
    run.add_argument("--threads", type=_positive_int("--threads"), default=None, metavar="N",
                     help="torch CPU threads (torch.set_num_threads; default: torch's own choice); every claim "
                          "JSON records the thread settings under 'threads'")
    run.add_argument("--jobs", type=_jobs, default=1, metavar="N|auto",
                     help="run the papers in N processes at once (auto: one per CPU, at most one per paper), each "
                          "with --threads or CPUs/N threads; a paper's claims share one process (default 1)")
    add_precision_argument(run)
    run.add_argument("--set", type=_setting_override, action="append", default=[], dest="overrides",
                     metavar="[CLAIM_ID:]NAME=VALUE",
                     help="override a named setting (a size, step count, batch: the 'settings' of a claim's JSON) "
                          "with a JSON value, for every selected claim or for CLAIM_ID only; a claim that does not "
                          "read the setting ends in 'error', so a misspelt name never runs at the default size")

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
    con.add_argument("--max-memory-gb", type=float, default=None, metavar="GIB",
                     help="refuse settings whose estimated memory exceeds this many GiB (default 4)")
    con.add_argument("--eval", choices=("fast", "literal"), default="fast", dest="evaluation",
                     help="run the weights through their support (fast, default) or as written, with dense matrices "
                          "(literal); both agree to round-off")
    con.add_argument("--json", action="store_true")
    con.add_argument("--list", action="store_true", help="list constructions and exit")
    return p


def _select(selectors: list[str]) -> list[Claim]:
    """The claims named on the command line; an unknown name is a usage error naming ID_OR_PAPER."""
    from empirical.registry import select_claims

    select_claims([])  # loads the registry first: a failure there is a bug, not a usage error
    try:
        return select_claims(selectors)
    except ValueError as e:
        raise UsageError(f"ID_OR_PAPER: {str(e).removeprefix('claims: ')}") from None


def _device(spec: str) -> torch.device:
    """``--device`` as a torch.device; CUDA asked for but absent is a usage error naming --device."""
    from empirical.device import resolve_device

    try:
        return resolve_device(spec)
    except ValueError as e:
        raise UsageError(f"--device: {str(e).removeprefix('device: ')}") from None


def _cmd_list(args: argparse.Namespace) -> int:
    claims = _select(args.selectors)
    if args.json:
        print(json.dumps([{"id": c.id, "paper": c.paper, "statement": c.statement, "source": c.source,
                           "evidence": list(c.evidence)} for c in claims], indent=2))
        return 0
    w = max((len(c.id) for c in claims), default=10)
    for c in claims:
        print(f"{c.id:<{w}}  [{', '.join(c.evidence)}]  {c.statement}  ({c.source})")
    return 0


def _verdict_table(results: dict) -> str:
    from empirical.artifacts import controls_summary, fmt_number  # NaN / inf measurements print as nan / inf

    rows = [("claim", "verdict", "key check", "measured", "threshold", "controls", "s")]
    for cid, r in results.items():
        checks = r.get("checks", [])
        key = next((c for c in checks if not c["passed"]), checks[0] if checks else None)
        if key:
            rows.append((cid, r["verdict"], key["name"], fmt_number(key["measured"]),
                         f"{key['op']} {fmt_number(key['threshold'])}", controls_summary(r),
                         f"{r['wall_time_s']:.1f}"))
        else:
            rows.append((cid, r["verdict"] if r["verdict"] != "error" else f"error: {r.get('error', '')}",
                         "", "", "", "", f"{r['wall_time_s']:.1f}"))
    # long skip reasons and error messages stay readable in the JSON; the table keeps one line per claim
    rows = [tuple(c if len(c) <= 60 else c[:59] + "…" for c in map(str, row)) for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(wi) for c, wi in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * wi for wi in widths))
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from empirical.artifacts import check_out_dir
    from empirical.runner import run_claims

    # every command-line value is checked before the first claim runs: a bad --out must not cost a claim
    claims = _select(args.selectors)
    overrides = _overrides_by_claim(args.overrides, claims)
    device = _device(args.device)
    out = check_out_dir(args.out if args.out is not None else default_out(args.profile, args.precision))
    args.log_dir = out / "logs"  # where main() puts the traceback of an unexpected error from here on
    if args.precision != "float32" and device.type != "cuda":
        print(f"note: --precision {args.precision} on {device.type}: autocast runs there, usually slower than float32 "
              "(mixed precision pays off on a GPU's tensor cores)", file=sys.stderr)

    def report(r: dict) -> None:
        why = f": {one_line(r.get('error', ''))}" if r["verdict"] == "error" else ""  # e.g. the corrupt file
        print(f"[{r['verdict']}] {r['id']} ({r['wall_time_s']:.1f} s){why}", file=sys.stderr, flush=True)

    results = _run_parallel(args, claims, out, overrides)
    if results is None:
        if args.threads is not None:  # before the first claim: on a loaded machine one thread can be 100x faster
            import torch

            torch.set_num_threads(args.threads)
        results = run_claims(claims, profile=args.profile, device=device, seed=args.seed, out_dir=out,
                             progress=not args.quiet, retrain=args.retrain, on_result=report,
                             overrides=overrides, precision=args.precision)
    print(_verdict_table(results))
    print(f"\nresults: {out}/ (summary.md, <claim>.json, figures/)")
    errors = [cid for cid, r in results.items() if r["verdict"] == "error"]
    failing = [cid for cid, r in results.items()
               if r["verdict"] == "not reproduced" or r["verdict"].startswith("inconclusive")]
    if errors:  # a runner crashed: a bug, never forgiven by --no-fail
        print(f"errors: {', '.join(errors)} (tracebacks in the JSON files)", file=sys.stderr)
        return 1
    if failing and not args.no_fail:
        print(f"not reproduced or inconclusive: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


def _run_parallel(args: argparse.Namespace, claims: list[Claim], out: Path, overrides: dict) -> dict | None:
    """The results of ``--jobs`` > 1 (:mod:`empirical.jobs`), or None when the claims run in this process."""
    from empirical import jobs

    groups = jobs.plan(claims, jobs.cost_estimates(out, jobs.SNAPSHOT))
    n, threads = jobs.resolve_jobs(args.jobs, len(groups), args.threads)
    if n == 1:
        return None
    common = ["--profile", args.profile, "--device", args.device, "--seed", str(args.seed), "--out", str(out),
              "--precision", args.precision, *(["--retrain"] if args.retrain else [])]
    results = jobs.run_groups(groups, jobs=n, threads=threads, common=common, out_dir=out, overrides=overrides)
    from empirical.artifacts import atomic_write_text, folder_summary

    atomic_write_text(out / "summary.md", folder_summary(out))
    return {c.id: results[c.id] for c in claims}


def _overrides_by_claim(given: list[tuple[str | None, str, object]], claims: list[Claim]) -> dict[str, dict]:
    """``--set`` values per selected claim id; one naming a claim that is not selected is a usage error."""
    ids = [c.id for c in claims]
    out: dict[str, dict] = {}
    for claim_id, name, value in given:
        if claim_id is not None and claim_id not in ids:
            raise UsageError(f"--set: {claim_id}:{name} names a claim that is not selected ({' '.join(ids)})")
        for cid in ids if claim_id is None else [claim_id]:
            out.setdefault(cid, {})[name] = value
    return out


def _cmd_construct(args: argparse.Namespace) -> int:
    from constructions.base import GIB, ConstructionConfig
    from constructions.registry import available, get_construction

    if args.list:
        for name, spec in sorted(available().items()):
            print(f"{name:<24} [{spec.paper}] {spec.summary}")
        return 0
    spec = get_construction(args.name)
    for flag in ("d", "n", "layers"):
        if getattr(args, flag) is None:
            raise _UsageError(f"--{flag}: required ({spec.layers_help})" if flag == "layers" else f"--{flag}: required")
    options: dict[str, str] = {}
    for item in args.option:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise _UsageError(f"--option: expected KEY=VALUE, got {item!r}")
        if k.strip() in options:  # a repeated key would silently keep only the last value
            raise _UsageError(f"--option: key {k.strip()!r} given twice")
        options[k.strip()] = v.strip()
    budget = {} if args.max_memory_gb is None else {"max_memory_gb": args.max_memory_gb}
    cfg = ConstructionConfig(d=args.d, n=args.n, layers=args.layers, cond=args.cond, seed=args.seed,
                             batch=args.batch, options=options, evaluation=args.evaluation, **budget)
    t0 = time.perf_counter()
    try:  # option keys and the memory estimate are checked before anything is built
        rep = spec.execute(cfg)
    except (MemoryError, RuntimeError) as e:  # past a raised --max-memory-gb the machine itself may refuse
        if not isinstance(e, MemoryError) and "can't allocate memory" not in str(e) and "out of memory" not in str(e):
            raise
        gib = sum(spec.memory_estimate(cfg).values()) / GIB
        raise ValueError(f"--max-memory-gb: {spec.name} at {cfg.describe()} ran out of memory (estimated {gib:.3g} "
                         "GiB); reduce the sizes") from None
    seconds = time.perf_counter() - t0  # build, forward pass, reference run and comparison together
    if args.json:
        print(json.dumps({"name": rep.name, "config": rep.config, "evaluation": rep.evaluation,
                          "structure": rep.structure, "layers": rep.deviations,
                          "max_rel_dev": rep.max_deviation, "tolerance": rep.tolerance,
                          "tolerance_reason": rep.tolerance_reason, "passed": rep.passed, "notes": rep.notes,
                          "seconds": seconds}, indent=2))
    else:
        print(f"{rep.name}: " + ", ".join(f"{k}={v}" for k, v in rep.config.items()))
        if rep.structure:
            print(f"structure (counted from the weights): {rep.structure['summary']}")
        print(f"evaluation: {rep.evaluation}")
        print(f"{'layer':>5}  {'block':<28} {'reference':<32} max rel. deviation")
        for r in rep.deviations:
            dev = "—" if r["max_rel_dev"] is None else f"{r['max_rel_dev']:.3e}"
            print(f"{r['layer']:>5}  {r['block']:<28} {r['reference']:<32} {dev}")
        print(f"max {rep.max_deviation:.3e} vs tolerance {rep.tolerance:.3e} ({rep.tolerance_reason}): "
              f"{'within' if rep.passed else 'EXCEEDED'}")
        for note in rep.notes:
            print(f"note: {note}")
        print(f"time: {seconds:.2f} s (build, {rep.evaluation} forward pass, reference algorithm, comparison)")
    return 0 if rep.passed else 1


def _argument_names(parser: argparse.ArgumentParser, command: str) -> tuple[str, ...]:
    """The option strings and positional names of one subcommand (``--d``, ``NAME``, ...)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names: list[str] = []
    for action in sub.choices[command]._actions:
        names += action.option_strings or [action.metavar or action.dest]
    return tuple(n for n in names if isinstance(n, str))


def _names_argument(message: str, names: tuple[str, ...]) -> bool:
    """Whether ``message`` follows the "argument: reason" convention for one of ``names``."""
    return any(message.startswith((f"{n}:", f"{n} ")) for n in names)


def _error(message: object, code: int) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        return _cmd_list(args)
    if args.command == "run":
        return _cmd_run(args)
    return _cmd_construct(args)


def main(argv: list[str] | None = None) -> int:
    """Run ``icl-verify`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
        return _dispatch(args)
    except UsageError as e:
        return _error(e, 2)
    except IntegrityError as e:  # a corrupt or replaced stored file: the message names it
        return _error(e, 1)
    except ValueError as e:
        # a construction validates its config before computing and names the offending flag ("--layers: ...");
        # any other ValueError comes from the computation itself and is not the user's typo
        if args is not None and args.command == "construct" and _names_argument(
                str(e), _argument_names(parser, "construct")):
            return _error(e, 2)
        return report_internal_error(PROG, e, getattr(args, "log_dir", None))
    except Exception as e:  # a bug: one line here, the traceback in a log file
        return report_internal_error(PROG, e, getattr(args, "log_dir", None))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
