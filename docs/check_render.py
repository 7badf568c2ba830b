"""Open the built HTML in headless Chromium and check that the claims pages render their math and figures.

Usage (after ``nox -s docs``; ``nox -s docs_check`` does both)::

    python docs/check_render.py [--html docs/_build/html] [--out docs/_build/render-check] [PAGE ...]

PAGE defaults to every ``papers/*.html``. For each page Chromium loads a small wrapper page (written next to
the HTML and removed afterwards) that opens the page in an iframe, waits for MathJax to finish typesetting
and reports, as JSON in its own DOM (read with ``--dump-dom``): the MathJax version, the number of
typeset formulas (``mjx-container``), TeX errors (``mjx-merror``), math left untypeset, and for every image
whether it loaded and its pixel width. It then saves a screenshot of the top of each page and one
scrolled to its first claim figure (the artifacts: ``<out>/papers_<key>.png``, ``<out>/papers_<key>.figure.png``).

Checks, each failing with a message that names the page:

* no page loads a script or stylesheet from the network (the math must render offline);
* each page typeset at least one formula, with no TeX error and no math left as raw TeX;
* every image on each page loaded (``complete`` and ``naturalWidth > 0``);
* at least one claim figure (``figure.claim-figure img``) rendered somewhere.

Chromium runs with no network features (``--disable-background-networking`` etc.), a fresh profile
(``--user-data-dir`` in a temporary folder) and no sandbox (it runs as root in CI containers).
Exit status 0 when every check passes, 1 otherwise, 2 when Chromium or the build is missing.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--allow-file-access-from-files",  # the wrapper reads the page it frames (both are file:// URLs)
    "--hide-scrollbars",
]
VIRTUAL_TIME_MS = 30000  # virtual time: Chromium fast-forwards timers, so this is not wall time

WRAPPER = """<!doctype html>
<html><head><meta charset="utf-8"><title>render check</title></head>
<body>
<pre id="report">pending</pre>
<iframe id="page" src="{src}" style="width:1280px;height:30000px;border:0"></iframe>
<script>
const frame = document.getElementById("page");
frame.addEventListener("load", async () => {{
  const w = frame.contentWindow, d = frame.contentDocument;
  const out = {{}};
  try {{
    if (w.MathJax && w.MathJax.startup && w.MathJax.startup.promise) {{ await w.MathJax.startup.promise; }}
    out.mathjax_version = (w.MathJax && w.MathJax.version) || null;
    out.math_containers = d.querySelectorAll("mjx-container").length;
    out.math_errors = d.querySelectorAll("mjx-merror").length;
    out.math_untypeset = [...d.querySelectorAll(".math")]
      .filter(e => !e.querySelector("mjx-container")).length;
    out.images = [...d.querySelectorAll("img")].map(i => ({{
      src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth,
      claim_figure: !!i.closest("figure.claim-figure"),
      section: (i.closest("section[id]") || {{}}).id || null}}));
  }} catch (e) {{ out.error = String(e); }}
  document.getElementById("report").textContent = JSON.stringify(out);
}});
</script>
</body></html>
"""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="icl-verify-chromium-") as profile:
        budget = f"--virtual-time-budget={VIRTUAL_TIME_MS}"
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", budget, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def network_assets(page_html: str) -> list[str]:
    """Scripts and stylesheets the page would fetch over the network."""
    pat = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*>", re.I)
    found = []
    for m in pat.finditer(page_html):
        tag = m.group(0).lower()
        if tag.startswith("<script") or 'rel="stylesheet"' in tag or "rel='stylesheet'" in tag:
            found.append(m.group(1))
    return found


def probe(binary: str, html_root: Path, page: Path) -> dict:
    """Load ``page`` in the wrapper and return the wrapper's JSON report."""
    wrapper = html_root / "_render_check_wrapper.html"
    wrapper.write_text(WRAPPER.format(src=html.escape(page.relative_to(html_root).as_posix())))
    try:
        r = chromium(binary, "--dump-dom", wrapper.as_uri())
    finally:
        wrapper.unlink(missing_ok=True)
    m = re.search(r'<pre id="report">(.*?)</pre>', r.stdout, re.S)
    if not m or m.group(1).strip() == "pending":
        return {"error": f"no report from Chromium (exit {r.returncode}): {r.stderr.strip()[-500:]}"}
    return json.loads(html.unescape(m.group(1)))


FRAME = """<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe src="{src}" style="width:1280px;height:2400px;border:0"></iframe></body></html>
"""


def screenshot(binary: str, html_root: Path, page: Path, dest: Path, anchor: str | None = None) -> bool:
    """A 1280×2400 screenshot of ``page``; with ``anchor``, of the page framed and scrolled to ``#anchor``
    (a frame scrolls to its fragment reliably; a top-level headless screenshot does not)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = page.as_uri()
    frame = html_root / "_render_check_frame.html"
    if anchor:
        frame.write_text(FRAME.format(src=html.escape(f"{page.relative_to(html_root).as_posix()}#{anchor}")))
        url = frame.as_uri()
    try:
        r = chromium(binary, f"--screenshot={dest}", "--window-size=1280,2400", url)
    finally:
        frame.unlink(missing_ok=True)
    return r.returncode == 0 and dest.is_file() and dest.stat().st_size > 0


def check_page(name: str, page_html: str, report: dict) -> list[str]:
    problems = []
    net = network_assets(page_html)
    if net:
        problems.append(f"{name}: loads from the network: {', '.join(net)}")
    if "error" in report:
        return problems + [f"{name}: {report['error']}"]
    if not report.get("mathjax_version"):
        problems.append(f"{name}: MathJax did not load")
    if report.get("math_containers", 0) == 0:
        problems.append(f"{name}: no typeset formula (mjx-container) found")
    if report.get("math_errors", 0):
        problems.append(f"{name}: {report['math_errors']} TeX error(s) (mjx-merror)")
    if report.get("math_untypeset", 0):
        problems.append(f"{name}: {report['math_untypeset']} formula(s) left untypeset")
    for img in report.get("images", []):
        if not img["complete"] or img["width"] <= 0:
            problems.append(f"{name}: image {img['src']} did not load")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", help="pages relative to --html (default: papers/*.html)")
    ap.add_argument("--html", type=Path, default=Path("docs/_build/html"))
    ap.add_argument("--out", type=Path, default=Path("docs/_build/render-check"))
    args = ap.parse_args(argv)

    binary = find_chromium()
    if binary is None:
        print("check_render: Chromium not found (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    root = args.html.resolve()
    pages = [root / p for p in args.pages] if args.pages else sorted((root / "papers").glob("*.html"))
    if not pages or not all(p.is_file() for p in pages):
        print(f"check_render: pages not found under {root} (build the docs first: nox -s docs)", file=sys.stderr)
        return 2

    problems: list[str] = []
    reports = {}
    claim_figures = 0
    for page in pages:
        name = page.relative_to(root).as_posix()
        report = probe(binary, root, page)
        reports[name] = report
        problems += check_page(name, page.read_text(encoding="utf-8"), report)
        claim_figures += sum(1 for i in report.get("images", []) if i["claim_figure"] and i["width"] > 0)
        stem = name.replace("/", "_").removesuffix(".html")
        shot = args.out / f"{stem}.png"
        if not screenshot(binary, root, page, shot):
            problems.append(f"{name}: screenshot failed")
        figure_sections = [i["section"] for i in report.get("images", []) if i["claim_figure"] and i["section"]]
        figure_shot = args.out / f"{stem}.figure.png"
        if figure_sections and not screenshot(binary, root, page, figure_shot, figure_sections[0]):
            problems.append(f"{name}: screenshot of the first claim figure failed")
        n_img, n_math = len(report.get("images", [])), report.get("math_containers", 0)
        print(
            f"{name}: {n_math} formulas, {report.get('math_errors', 0)} TeX errors, {n_img} images; screenshot {shot}"
        )
    if claim_figures == 0:
        problems.append("no claim figure (figure.claim-figure img) rendered on any page checked")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(reports, indent=2) + "\n")
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(
        f"check_render: {len(pages)} pages, {claim_figures} claim figures, {len(problems)} problems "
        f"(report {args.out / 'report.json'})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
