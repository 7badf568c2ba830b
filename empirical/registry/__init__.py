"""The claims registry: every folder ``empirical/papers/<key>/`` whose ``claims`` module defines ``PAPER`` and
``CLAIMS`` is a paper (:mod:`empirical.papers`).

Adding a paper means adding its folder; nothing here changes. The core types (Claim, Paper, RunContext, Outcome,
Check, Control) are in :mod:`empirical.registry.core`.
"""

from __future__ import annotations

import importlib
from functools import cache

from empirical.papers import paper_modules
from empirical.registry.core import Claim, Paper

__all__ = ["all_claims", "papers", "select_claims", "get_claim"]


@cache
def _load() -> tuple[dict[str, Paper], dict[str, Claim]]:
    papers: dict[str, Paper] = {}
    claims: dict[str, Claim] = {}
    for name in paper_modules("claims"):
        mod = importlib.import_module(name)
        paper = getattr(mod, "PAPER", None)
        if paper is None:
            continue
        if paper.key in papers:
            raise RuntimeError(f"paper key {paper.key!r} registered twice")
        papers[paper.key] = paper
        for c in mod.CLAIMS:
            if c.paper != paper.key:
                raise RuntimeError(f"claim {c.id} in module {name} names paper {c.paper!r}, not {paper.key!r}")
            if c.id in claims:
                raise RuntimeError(f"claim id {c.id!r} registered twice")
            claims[c.id] = c
    return papers, claims


def papers() -> dict[str, Paper]:
    return dict(_load()[0])


def all_claims() -> list[Claim]:
    return list(_load()[1].values())


def get_claim(claim_id: str) -> Claim:
    claims = _load()[1]
    if claim_id not in claims:
        raise ValueError(f"claim: unknown claim id {claim_id!r} (see `icl-verify list`)")
    return claims[claim_id]


def select_claims(selectors: list[str] | tuple[str, ...]) -> list[Claim]:
    """Claims named by ids or paper keys, in registry order; all claims when ``selectors`` is empty.

    Raises:
        ValueError: an unknown selector, naming it and the known paper keys.
    """
    paper_map, claim_map = _load()
    if not selectors:
        return list(claim_map.values())
    chosen: dict[str, Claim] = {}
    for s in selectors:
        if s in paper_map:
            chosen.update({c.id: c for c in claim_map.values() if c.paper == s})
        elif s in claim_map:
            chosen[s] = claim_map[s]
        else:
            raise ValueError(
                f"claims: unknown claim id or paper key {s!r} (papers: {', '.join(paper_map)}; "
                "ids: `icl-verify list`)"
            )
    order = list(claim_map)
    return sorted(chosen.values(), key=lambda c: order.index(c.id))
