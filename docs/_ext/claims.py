"""Sphinx extension: render the claims registry and the latest reproduction's JSON into the docs.

Directives (MyST syntax)::

    ```{claims} ahn23
    ```                          one section per registered claim of ahn23 (ids or paper keys, any mix)

    ```{claims-table}
    ```                          one verdict row per registered claim (all claims, or the given selectors)

    ```{claim-figure} fu23.compact_construction layer_cost
    ```                          one figure of one claim's result, by its stem (next to the prose it illustrates)

    ```{claim-measured} fu23.compact_construction layer_cost
    ```                          a measured list of rows (dicts) of one claim's result as a table

Both read the registry (:func:`empirical.registry.select_claims`), so a claim added to the registry shows up
without editing a page, and the results written by ``icl-verify run ... --out DIR``
(:func:`empirical.artifacts.load_results`). Results folders are searched in order, the first one holding a
claim's JSON wins:

1. ``ICL_VERIFY_RESULTS`` (one folder, or several separated by ``os.pathsep``), if set;
2. ``claims_results_dirs`` from ``conf.py`` (default ``results/quick`` then ``docs/snapshot``, relative to
   the repository root: the latest local quick run, then the snapshot checked in with the docs).

A claim with no JSON anywhere shows "not run yet". Figures named in a result are copied into
``docs/_generated/figures/`` (git-ignored) and from there into the build.

"""

from __future__ import annotations

import inspect
import math
import os
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: Where copied figures go, relative to the source folder (git-ignored; wiped at the start of a build).
GENERATED = "_generated/figures"
NOT_RUN = "not run yet"


# -- results lookup --------------------------------------------------------------------------------------


_CACHE: dict[tuple[Path, ...], dict[str, tuple[dict[str, Any], Path]]] = {}


def results_dirs(srcdir: Path | str, configured: list[str] | tuple[str, ...]) -> list[Path]:
    """The results folders, highest priority first, as absolute paths (a missing one holds nothing).

    Relative paths are relative to the repository root, the parent of the docs source folder.
    """
    root = Path(srcdir).resolve().parent
    env = os.environ.get("ICL_VERIFY_RESULTS", "")
    listed = [p for p in env.split(os.pathsep) if p] + list(configured)
    return [(Path(p) if Path(p).is_absolute() else root / p).resolve() for p in listed]


def load_all_results(folders: list[Path]) -> dict[str, tuple[dict[str, Any], Path]]:
    """claim id -> (result JSON, the folder it came from); the first folder holding a claim wins.

    Cached per list of folders for one build (the cache is cleared when a build starts).
    """
    key = tuple(folders)
    if key in _CACHE:
        return _CACHE[key]
    from empirical.artifacts import load_results

    found: dict[str, tuple[dict[str, Any], Path]] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for cid, res in load_results(folder).items():
            found.setdefault(cid, (res, folder))
    _CACHE[key] = found
    return found


def claim_label(claim_id: str) -> str:
    """The cross-reference label of a claim's section, e.g. ``claim-ahn23-lemma1``."""
    return "claim-" + claim_id.replace(".", "-").replace("_", "-").lower()


def verdict_class(verdict: str) -> str:
    """CSS class of a verdict badge: verified / not-reproduced / inconclusive / skipped / error / not-run."""
    head = verdict.split(":")[0].strip()
    known = {"verified": "verified", "not reproduced": "not-reproduced", "inconclusive": "inconclusive",
             "skipped": "skipped", "error": "error"}
    return known.get(head, "not-run")


def fmt_number(x: Any) -> str:
    """Numbers as a reader wants them: 4 significant digits, scientific when tiny or huge."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return str(x)


def key_check(res: dict[str, Any]) -> dict[str, Any] | None:
    """The first failing check, else the first check (what the verdict table shows)."""
    checks = res.get("checks") or []
    return next((c for c in checks if not c.get("passed")), checks[0] if checks else None)


# -- node helpers ----------------------------------------------------------------------------------------


def _para(*children: nodes.Node | str) -> nodes.paragraph:
    p = nodes.paragraph()
    for c in children:
        p += nodes.Text(c) if isinstance(c, str) else c
    return p


def _badge(verdict: str, short: bool = False) -> nodes.inline:
    """The verdict as a coloured badge; ``short`` keeps only the part before ``:`` (tables)."""
    text = verdict.split(":")[0] if short else verdict
    return nodes.inline(text, text, classes=["claim-verdict", f"verdict-{verdict_class(verdict)}"])


def _table(header: list[str], rows: list[list[Any]], widths: list[int], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for w in widths:
        tgroup += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    tgroup += thead
    hrow = nodes.row()
    for h in header:
        hrow += nodes.entry("", _para(h))
    thead += hrow
    tbody = nodes.tbody()
    tgroup += tbody
    for r in rows:
        row = nodes.row()
        for cell in r:
            row += nodes.entry("", cell if isinstance(cell, nodes.paragraph) else _para(cell))
        tbody += row
    return table


def _field_list(items: list[tuple[str, nodes.Node | str]]) -> nodes.field_list:
    fl = nodes.field_list(classes=["claim-fields"])
    for name, body in items:
        f = nodes.field()
        f += nodes.field_name(name, name)
        f += nodes.field_body("", body if isinstance(body, nodes.paragraph) else _para(body))
        fl += f
    return fl


def _claim_ref(claim_id: str) -> addnodes.pending_xref:
    """A link to the claim's section (plain text when no page renders that claim)."""
    ref = addnodes.pending_xref(
        "",
        refdomain="std",
        reftype="ref",
        reftarget=claim_label(claim_id),
        refexplicit=True,
        refwarn=False,
        icl_verify_claim=True,
    )
    ref += nodes.literal(claim_id, claim_id)
    return ref


# -- directives ------------------------------------------------------------------------------------------


class _ClaimsBase(SphinxDirective):
    optional_arguments = 50
    has_content = False

    def selected(self) -> list[Any]:
        """The claims named by the arguments (all claims when none), in registry order.

        A paper key with no registered claims yet renders a note (its page may be written before its
        claims land); an unknown claim id (``key.name``) is a mistake in the page: a warning.
        """
        from empirical.registry import papers, select_claims

        known = set(papers())
        self.unregistered = [a for a in self.arguments if "." not in a and a not in known]
        wanted = [a for a in self.arguments if a not in self.unregistered]
        if self.arguments and not wanted:
            return []
        try:
            claims = select_claims(wanted)
        except ValueError as e:
            raise self.error(str(e)) from None
        for c in claims:  # the page depends on the module that defines the claim
            src = inspect.getsourcefile(c.runner)
            if src:
                self.env.note_dependency(src)
        return claims

    def result_of(self, claim_id: str) -> tuple[dict[str, Any], Path] | tuple[None, None]:
        folders = results_dirs(self.env.srcdir, self.config.claims_results_dirs)
        found = load_all_results(folders).get(claim_id)
        if found is None:
            return None, None
        self.env.note_dependency(str(found[1] / f"{claim_id}.json"))
        return found


class ClaimsDirective(_ClaimsBase):
    """One section per selected claim: statement, source, evidence, acceptance, verdict, checks, figures."""

    option_spec = {"no-figures": directives.flag}

    def run(self) -> list[nodes.Node]:
        out: list[nodes.Node] = [self.claim_section(c) for c in self.selected()]
        for key in self.unregistered:
            out.append(
                _para(
                    "No claims of ",
                    nodes.literal("", key),
                    " are registered yet ",
                    "(",
                    nodes.literal("", f"empirical/papers/{key}/claims.py"),
                    " defines them).",
                )
            )
        return out

    def claim_section(self, claim: Any) -> nodes.section:
        label = claim_label(claim.id)
        section = nodes.section(ids=[label], names=[label], classes=["claim"])
        section += nodes.title(claim.id, "", nodes.literal(claim.id, claim.id))
        self.state.document.note_explicit_target(section, section)
        section += _para(claim.statement)
        res, folder = self.result_of(claim.id)
        verdict = res["verdict"] if res else NOT_RUN
        items: list[tuple[str, nodes.Node | str]] = [
            ("Source", claim.source),
            ("Evidence", ", ".join(claim.evidence)),
            ("Acceptance", claim.acceptance or "(see the checks)"),
            ("Verdict", _para(_badge(verdict))),
        ]
        if res:
            run = (
                f"profile {res.get('profile')}, device {res.get('device')}, seed {res.get('seed')}, "
                f"{fmt_number(float(res.get('wall_time_s', 0.0)))} s"
            )
            sha = res.get("git_sha")
            if sha:
                run += f", commit {sha[:10]}"
            items.append(("Run", run))
            items.append(("Results", self.display_path(folder)))
        section += _field_list(items)
        if not res:
            section += _para(
                f"Not run yet: no JSON for {claim.id} in any results folder. Run ",
                nodes.literal("", f"icl-verify run {claim.id} --out results/quick"),
                " and rebuild the docs.",
            )
            return section
        if res.get("error"):
            section += _para("Error: ", nodes.literal("", res["error"]))
        if res.get("checks"):
            section += self.checks_table(res["checks"])
        for control in res.get("controls") or []:
            behaved = "behaved" if control.get("behaved") else (
                "FAILED: a positive control must pass" if control.get("role") == "positive"
                else "PASSED: a negative control must fail")
            section += _para(nodes.strong("", f"{control.get('role', '?')} control "),
                             nodes.literal("", str(control.get("name", ""))), f" ({behaved}): ",
                             str(control.get("description", "")))
            section += self.checks_table(control.get("checks") or [])
        scalars = {
            k: v
            for k, v in (res.get("measured") or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if scalars:
            section += _para(
                nodes.strong("", "Other measured numbers: "),
                "; ".join(f"{k} = {fmt_number(v)}" for k, v in scalars.items()),
            )
        if res.get("notes"):
            bl = nodes.bullet_list(classes=["claim-notes"])
            for note in res["notes"]:
                bl += nodes.list_item("", _para(note))
            section += _para(nodes.strong("", "Notes"))
            section += bl
        if "no-figures" not in self.options:
            for fig in res.get("figures") or []:
                node = self.figure(claim.id, folder, fig)
                if node is not None:
                    section += node
        return section

    @staticmethod
    def checks_table(checks: list[dict[str, Any]]) -> nodes.table:
        rows = []
        for c in checks:
            ok = "pass" if c.get("passed") else ("open" if c.get("status") == "undetermined" else "FAIL")
            measured = fmt_number(c["measured"])
            if c.get("interval"):
                lo, hi = c["interval"]
                measured += f" [{fmt_number(lo)}, {fmt_number(hi)}]"
            rows.append(
                [
                    nodes.literal("", c["name"]),
                    measured,
                    f"{c['op']} {fmt_number(c['threshold'])}",
                    _para(nodes.inline(ok, ok, classes=[f"check-{ok.lower()}"])),
                    c.get("reason", ""),
                ]
            )
        return _table(
            ["check", "measured", "threshold", "", "why this threshold"], rows, [22, 12, 14, 6, 46], ["claim-checks"]
        )

    def display_path(self, folder: Path) -> str:
        root = Path(self.env.srcdir).resolve().parent
        try:
            return str(folder.relative_to(root))
        except ValueError:
            return str(folder)

    def figure(self, claim_id: str, folder: Path, name: str) -> nodes.figure | None:
        src = folder / name
        if not src.is_file():
            logger.warning(
                f"claims: {claim_id}: figure {name} listed in {folder} is missing", location=self.get_location()
            )
            return None
        dest_dir = Path(self.env.srcdir) / GENERATED
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / src.name
        shutil.copyfile(src, dest)
        self.env.note_dependency(str(src))
        fig = nodes.figure(classes=["claim-figure"])
        fig += nodes.image(uri=f"/{GENERATED}/{src.name}", alt=f"{claim_id}: {src.stem}")
        fig += nodes.caption("", "", nodes.literal("", src.name))
        return fig


class ClaimsTableDirective(_ClaimsBase):
    """The verdict table: claim, verdict, the key check's numbers, wall time."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for c in self.selected():
            res, _ = self.result_of(c.id)
            verdict = res["verdict"] if res else NOT_RUN
            key = key_check(res) if res else None
            if key:
                numbers = [
                    nodes.literal("", key["name"]),
                    fmt_number(key["measured"]),
                    f"{key['op']} {fmt_number(key['threshold'])}",
                ]
            else:
                numbers = ["—", "—", "—"]
            rows.append([_para(_claim_ref(c.id)), _para(_badge(verdict, short=True)), *numbers])
        return [
            _table(
                ["claim", "verdict", "key check", "measured", "threshold"], rows, [28, 16, 26, 12, 14], ["claims-table"]
            )
        ]


class ClaimFigureDirective(ClaimsDirective):
    """One figure of one claim's latest result: arguments ``<claim id> <figure stem>`` (the file
    ``<claim id>.<stem>.png`` the claim lists); "not run yet" when no results folder holds the claim."""

    required_arguments = 2
    optional_arguments = 0
    option_spec: dict[str, Any] = {}

    def run(self) -> list[nodes.Node]:
        claim_id, stem = self.arguments
        self.arguments = [claim_id]
        self.selected()  # an unknown claim id is an error; notes the runner's module as a dependency
        res, folder = self.result_of(claim_id)
        if res is None:
            return [_para(f"Figure {stem} of ", nodes.literal("", claim_id), f": {NOT_RUN}.")]
        name = next((f for f in res.get("figures") or [] if Path(f).name == f"{claim_id}.{stem}.png"), None)
        if name is None:
            raise self.error(f"claim-figure: {claim_id} lists no figure {stem!r} in {folder}")
        node = self.figure(claim_id, folder, name)
        return [node] if node is not None else []


class ClaimMeasuredDirective(_ClaimsBase):
    """``measured[<key>]`` of one claim's latest result, a list of flat dicts, as a table (one column per key,
    in first-seen order; numbers as :func:`fmt_number` writes them, a missing cell as "—")."""

    required_arguments = 2
    optional_arguments = 0

    def run(self) -> list[nodes.Node]:
        claim_id, key = self.arguments
        self.arguments = [claim_id]
        self.selected()
        res, folder = self.result_of(claim_id)
        if res is None:
            return [_para(f"Table {key} of ", nodes.literal("", claim_id), f": {NOT_RUN}.")]
        rows = (res.get("measured") or {}).get(key)
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise self.error(f"claim-measured: measured[{key!r}] of {claim_id} in {folder} is not a list of rows")
        header = list(dict.fromkeys(k for r in rows for k in r))
        body = [[fmt_number(r[h]) if h in r else "—" for h in header] for r in rows]
        return [_table(header, body, [max(8, 40 // len(header))] * len(header), ["claim-measured"])]


class RobustnessTableDirective(ClaimsDirective):
    """The per-seed verdict table of ``python -m empirical.robustness`` (``nox -s robustness``): one row per claim,
    its verdict kind at each seed, and whether they agree. Read from ``robustness.json`` in the first results
    folder holding one: for each results folder in order (``ICL_VERIFY_RESULTS``, then the configured ones), the
    folder itself, then ``robustness/`` beside it (``results/quick`` -> ``results/robustness``); "not run yet"
    otherwise."""

    required_arguments = 0
    optional_arguments = 0
    option_spec: dict[str, Any] = {}

    def run(self) -> list[nodes.Node]:
        import json

        from empirical.robustness import SeedRow

        folders = results_dirs(self.env.srcdir, self.config.claims_results_dirs)
        candidates = [c for f in folders for c in (f / "robustness.json", f.parent / "robustness" / "robustness.json")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            return [_para(f"Seed robustness: {NOT_RUN} (run ", nodes.literal("", "nox -s robustness"), ").")]
        self.env.note_dependency(str(path))
        data = json.loads(path.read_text(encoding="utf-8"))
        seeds = [str(s) for s in data["seeds"]]
        rows = []
        for row in map(SeedRow.from_dict, data["rows"]):
            cells: list[Any] = [_para(_badge(v, short=True)) if v else "—" for v in row.verdicts.values()]
            same = ("yes" if row.stable else "NO") if row.looped else f"seed {seeds[0]} only ({row.why_not_looped})"
            rows.append([_para(_claim_ref(row.claim_id)), *cells, same])
        intro = _para(f"Claims that took at most {data['max_seconds']:g} s at seed {seeds[0]} ran at every seed "
                      f"({data['profile']} profile); slower ones at seed {seeds[0]} only. Source: ",
                      nodes.literal("", self.display_path(path.parent)), ".")
        return [intro, _table(["claim", *[f"seed {s}" for s in seeds], "same verdict"], rows,
                              [30, *[12] * len(seeds), 14], ["claims-table"])]


# -- events ----------------------------------------------------------------------------------------------


def _reset_cache(app: Sphinx) -> None:
    """Results are read once per build (figures are overwritten, never deleted: an incremental build
    keeps the figures of pages it does not re-read)."""
    _CACHE.clear()


def _unresolved_claim_ref(app: Sphinx, env: Any, node: nodes.Node, contnode: nodes.Node) -> nodes.Node | None:
    """A claim listed in a table whose section no page renders: plain text, no warning."""
    if node.get("icl_verify_claim"):
        return contnode
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("claims_results_dirs", ["results/quick", "docs/snapshot"], "env", [list, tuple])
    app.add_directive("claims", ClaimsDirective)
    app.add_directive("claims-table", ClaimsTableDirective)
    app.add_directive("claim-figure", ClaimFigureDirective)
    app.add_directive("claim-measured", ClaimMeasuredDirective)
    app.add_directive("robustness-table", RobustnessTableDirective)
    app.connect("builder-inited", _reset_cache)
    app.connect("missing-reference", _unresolved_claim_ref)
    app.add_css_file("claims.css")
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
