"""The "How to add a paper" example (docs/howto/example/) as a sixth paper: its folder, added to a checkout in a
fixture, is found by the registry and runs through the CLI with no edit to any shared file.

The example mirrors the repository: ``theory/demo25.py`` and ``empirical/papers/demo25/`` (``claims.py``,
``runners.py``, ``plots.py``). The fixture copies it into a temporary folder and puts that folder's ``theory`` and
``empirical/papers`` on the two packages' search paths, as if the files had been added to the checkout.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import empirical.papers
import theory
from empirical import cli
from empirical.registry import _load
from theory.samplers import LinearRegressionTask

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "example"


@pytest.fixture
def toy_paper(tmp_path, monkeypatch):
    """The example paper added to this checkout (in a copy, so the docs folder stays untouched)."""
    root = tmp_path / "checkout"
    shutil.copytree(EXAMPLE, root)
    monkeypatch.setattr(empirical.papers, "__path__", [*empirical.papers.__path__, str(root / "empirical" / "papers")])
    monkeypatch.setattr(theory, "__path__", [*theory.__path__, str(root / "theory")])
    _load.cache_clear()
    yield root
    _load.cache_clear()
    for name in [m for m in sys.modules if "demo25" in m]:  # the next test imports the example afresh
        del sys.modules[name]


def test_the_registry_finds_the_new_folder(toy_paper, capsys):
    assert cli.main(["list", "demo25"]) == 0
    out = capsys.readouterr().out
    assert "demo25.lemma1" in out and "One GD step" in out
    assert cli.main(["list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert "demo25.lemma1" in listed and "ahn23.lemma1" in listed  # added next to the five papers


def test_the_new_paper_runs_through_the_cli(toy_paper, tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["run", "demo25", "--out", str(out), "--quiet"]) == 0
    r = json.loads((out / "demo25.lemma1.json").read_text())
    assert r["verdict"] == "verified" and r["paper"] == "demo25"
    assert r["checks"][0]["measured"] <= 1.0  # R(w_1) <= R(0): the lemma itself, not only the tolerance
    assert all((out / f).is_file() for f in r["figures"])
    assert "demo25.lemma1" in (out / "summary.md").read_text()


def test_without_the_folder_there_is_no_such_paper(capsys):
    _load.cache_clear()
    assert cli.main(["list", "demo25"]) == 2
    assert "demo25" in capsys.readouterr().err


def test_howto_example_theory_matches_numpy(toy_paper, gen):
    demo25 = importlib.import_module("theory.demo25")  # on the path once the fixture added the folder
    insample_loss, one_gd_step = demo25.insample_loss, demo25.one_gd_step
    p = LinearRegressionTask(d=3, n=7).sample(4, gen)
    X, y = p.X.double().numpy(), p.y.double().numpy()
    w = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    expected = [0.5 * np.mean((X[b] @ w[b].numpy() - y[b]) ** 2) for b in range(4)]
    np.testing.assert_allclose(insample_loss(p, w).numpy(), expected, rtol=1e-13)
    w1 = one_gd_step(p, 0.5).numpy()
    for b in range(4):
        S = X[b].T @ X[b] / 7
        eta = 0.5 / np.linalg.eigvalsh(S)[-1]
        np.testing.assert_allclose(w1[b], eta * X[b].T @ y[b] / 7, rtol=1e-12)
    with pytest.raises(ValueError, match="eta_scale"):
        one_gd_step(p, 0.0)
