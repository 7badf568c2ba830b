"""The two Sphinx extensions in docs/_ext: docstring escaping (pure functions) and the claims directive
(a tiny Sphinx build from a hand-written results folder; skipped when the docs extra is not installed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_ext_{name}", EXT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def plain():
    return _load("plain_docstrings")


def test_escape_bars_outside_literals(plain):
    assert plain.escape_bars("|⟨p, v⟩| < η and ``a|b``") == "\\|⟨p, v⟩\\| < η and ``a|b``"
    assert plain.escape_bars("already \\| escaped") == "already \\| escaped"


def test_escape_docstring_skips_literal_blocks_and_breaks_hanging_indents(plain):
    lines = ["Layout::", "", "    x |d| · e", "", "(B) norm |w|", "    continued", ":param x: y", "    more"]
    out = plain.escape_docstring(lines)
    assert out[2] == "    x |d| · e"  # literal block untouched
    assert out[4:7] == ["(B) norm \\|w\\|", "", "    continued"]  # hanging indent separated
    assert out[-2:] == [":param x: y", "    more"]  # field bodies keep their layout


def test_escape_docstring_keeps_directive_options(plain):
    lines = [".. attribute:: checks", "   :type: list", "", "   the checks |x|"]
    assert plain.escape_docstring(lines) == [".. attribute:: checks", "   :type: list", "", "   the checks \\|x\\|"]


def _result(claim_id: str, verdict: str, figure: str | None) -> dict:
    return {
        "schema": "icl-verify/claim@1",
        "id": claim_id,
        "paper": claim_id.split(".")[0],
        "verdict": verdict,
        "profile": "quick",
        "device": "cpu",
        "seed": 0,
        "wall_time_s": 0.25,
        "git_sha": "0123456789abcdef",
        "checks": [
            {
                "name": "max_rel_dev_symmetric_A",
                "measured": 3.5e-15,
                "op": "<=",
                "threshold": 1e-12,
                "reason": "round-off",
                "passed": True,
            }
        ],
        "measured": {"worst": 3.5e-15, "table": [1, 2]},
        "notes": ["a note"],
        "figures": [figure] if figure else [],
    }


def _build(tmp_path: Path, body: str, results: Path | None) -> tuple[str, str]:
    """Build index.md; returns (HTML, warnings)."""
    import io

    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src = tmp_path / "src"
    src.mkdir()
    dirs = [str(results)] if results else [str(tmp_path / "none")]
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\nextensions = ['myst_parser', 'claims']\n"
        f"claims_results_dirs = {dirs!r}\n"
    )
    (src / "index.md").write_text(f"# Test\n\n{body}\n")
    warnings = io.StringIO()
    with docutils_namespace():  # directives registered by this app do not leak into the next one
        app = Sphinx(
            str(src),
            str(src),
            str(tmp_path / "out"),
            str(tmp_path / "doctrees"),
            "html",
            status=None,
            warning=warnings,
            freshenv=True,
        )
        app.build()
    return (tmp_path / "out" / "index.html").read_text(), warnings.getvalue()


@pytest.fixture
def sphinx_ready(monkeypatch):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    monkeypatch.delenv("ICL_VERIFY_RESULTS", raising=False)
    yield
    sys.modules.pop("claims", None)  # conf.py imported docs/_ext/claims.py under this name


def test_claims_directive_renders_result_and_figure(tmp_path, sphinx_ready):
    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32  # copied, not decoded, by the build
    (results / "figures" / "ahn23.lemma1.curve.png").write_bytes(png)
    (results / "ahn23.lemma1.json").write_text(
        json.dumps(_result("ahn23.lemma1", "verified", "figures/ahn23.lemma1.curve.png"))
    )
    html, warnings = _build(tmp_path, "```{claims} ahn23.lemma1\n```\n\n```{claims-table} ahn23.lemma1\n```", results)
    assert warnings == ""
    assert "verdict-verified" in html and "max_rel_dev_symmetric_A" in html
    assert "3.500e-15" in html and "&lt;= 1.000e-12" in html  # the check's numbers
    assert "worst = 3.500e-15" in html and "a note" in html
    assert "ahn23.lemma1.curve.png" in html
    assert (tmp_path / "out" / "_images" / "ahn23.lemma1.curve.png").read_bytes() == png
    assert 'href="#claim-ahn23-lemma1"' in html  # the table links to the claim's section


def test_claims_directive_not_run_yet(tmp_path, sphinx_ready):
    html, warnings = _build(tmp_path, "```{claims} ahn23.lemma1\n```\n\n```{claims} nosuchpaper\n```", None)
    assert warnings == ""
    assert "not run yet" in html and "verdict-not-run" in html
    assert "No claims of" in html  # an unregistered paper key is a note, not an error


def test_claims_directive_error_unknown_claim(tmp_path, sphinx_ready):
    _, warnings = _build(tmp_path, "```{claims} ahn23.no_such_claim\n```", None)
    assert "unknown claim id or paper key 'ahn23.no_such_claim'" in warnings


def test_claim_figure_and_measured_directives(tmp_path, sphinx_ready):
    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    (results / "figures" / "ahn23.lemma1.curve.png").write_bytes(png)
    res = _result("ahn23.lemma1", "verified", "figures/ahn23.lemma1.curve.png")
    res["measured"]["cost"] = [{"name": "paper", "per_step": 1.0}, {"name": "literature", "note": "not stated"}]
    (results / "ahn23.lemma1.json").write_text(json.dumps(res))
    body = "```{claim-figure} ahn23.lemma1 curve\n```\n\n```{claim-measured} ahn23.lemma1 cost\n```"
    html, warnings = _build(tmp_path, body, results)
    assert warnings == ""
    assert (tmp_path / "out" / "_images" / "ahn23.lemma1.curve.png").read_bytes() == png
    assert "claim-measured" in html and "per_step" in html and "not stated" in html
    assert html.count("—") >= 2  # the cells a row lacks


def test_claim_figure_and_measured_directives_bad_names(tmp_path, sphinx_ready):
    results = tmp_path / "results"
    results.mkdir()
    (results / "ahn23.lemma1.json").write_text(json.dumps(_result("ahn23.lemma1", "verified", None)))
    body = "```{claim-figure} ahn23.lemma1 nosuch\n```\n\n```{claim-measured} ahn23.lemma1 worst\n```"
    _, warnings = _build(tmp_path, body, results)
    assert "lists no figure 'nosuch'" in warnings
    assert "measured['worst'] of ahn23.lemma1" in warnings  # a number, not a list of rows


def test_robustness_table_directive(tmp_path, sphinx_ready):
    (tmp_path / "a").mkdir()
    html_none, warnings = _build(tmp_path / "a", "```{robustness-table}\n```", None)
    assert warnings == ""
    assert "Seed robustness: not run yet" in html_none
    results = tmp_path / "results" / "quick"
    (results.parent / "robustness").mkdir(parents=True)
    results.mkdir()
    rows = [{"id": "ahn23.lemma1", "verdicts": {"0": "verified", "1": "verified"}, "first_seed_s": 1.0,
             "looped": True, "stable": True},
            {"id": "ahn23.thm1", "verdicts": {"0": "verified", "1": "not reproduced"}, "first_seed_s": 2.0,
             "looped": True, "stable": False},
            {"id": "ahn23.fig2", "verdicts": {"0": "verified", "1": None}, "first_seed_s": 99.0,
             "looped": False, "stable": True}]
    data = {"seeds": [0, 1], "max_seconds": 60.0, "profile": "quick", "rows": rows}
    (results.parent / "robustness" / "robustness.json").write_text(json.dumps(data))
    (tmp_path / "c").mkdir()
    html, warnings = _build(tmp_path / "c", "```{robustness-table}\n```", results)  # found beside results/quick
    assert warnings == ""
    assert "seed 1" in html and ">NO<" in html and "seed 0 only (99 s)" in html
    assert "verdict-not-reproduced" in html
