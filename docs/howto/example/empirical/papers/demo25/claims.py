# ruff: noqa: I001  (empirical.papers.demo25 is the example's own package: ruff cannot classify it)
"""demo25: the claims the suite checks — one entry per statement of the paper, read like its claims table.

The runners, the experiments behind each verdict, are in :mod:`empirical.papers.demo25.runners`.
"""

from __future__ import annotations

from empirical.papers.demo25 import runners as run
from empirical.registry.core import Claim, Paper

PAPER = Paper(
    key="demo25",
    title="One gradient step never hurts",
    authors="A. Demo, B. Example",
    venue="preprint",
    arxiv="2501.00000",
)

CLAIMS = [
    Claim(
        id="demo25.lemma1",
        paper="demo25",
        statement="One GD step with step 1/λ_max(Ŝ) from w = 0 never increases the in-context loss.",
        source="Lemma 1",
        evidence=("numerical",),
        runner=run.descent,
        acceptance="max over prompts of R(w_1)/R(0) <= 1 + 1e-12 (float64 round-off)",
    ),
]
