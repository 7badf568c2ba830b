"""Claims, checks and verdicts: the registry's data model.

A :class:`Claim` is one statement of a paper with a runner. The runner receives a :class:`RunContext`
(profile, device, seed, output folder) and returns an :class:`Outcome`: named :class:`Check` s (a
measured number, a comparison, a threshold and the reason for that threshold) plus any other measured
numbers and figures. The verdict is derived, never set by hand:

* ``verified`` — every check passed;
* ``not reproduced`` — at least one check failed (the numbers are still reported);
* ``skipped: <reason>`` — the runner raised :class:`SkipClaim` (e.g. needs CUDA at full scale).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from empirical.seeding import child_seed, numpy_rng, torch_generator

__all__ = [
    "EVIDENCE_KINDS",
    "PROFILES",
    "Check",
    "Claim",
    "Outcome",
    "Paper",
    "RunContext",
    "SkipClaim",
    "verdict_of",
]

EVIDENCE_KINDS = ("symbolic", "numerical", "construction", "trained", "landscape", "benchmark")
PROFILES = ("quick", "full")
Profile = Literal["quick", "full"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Check:
    """One acceptance test: ``measured <op> threshold``, with the reason for the threshold.

    A NaN measurement never passes.
    """

    name: str
    measured: float
    op: Literal["<=", "<", ">=", ">"]
    threshold: float
    reason: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op: expected one of {sorted(_OPS)}, got {self.op!r}")
        object.__setattr__(self, "measured", float(self.measured))
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def passed(self) -> bool:
        return not math.isnan(self.measured) and _OPS[self.op](self.measured, self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "op": self.op,
            "threshold": self.threshold,
            "reason": self.reason,
            "passed": self.passed,
        }


class SkipClaim(Exception):
    """Raised by a runner that cannot run in this setting (the message is the reason)."""


@dataclass
class Outcome:
    """What a runner returns.

    Attributes:
        checks: the acceptance tests; the verdict is derived from them.
        measured: every other measured number worth recording (JSON-serialisable, arrays as lists).
        figures: file names (relative to the output folder) of figures written by the runner.
        notes: plain-language remarks (reduced scale, conventions, deviations from the paper).
        config: the configuration the runner used (sizes, steps, ...).
    """

    checks: list[Check] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def verdict_of(checks: Iterable[Check]) -> str:
    checks = list(checks)
    if not checks:
        raise ValueError("checks: a claim outcome needs at least one check to have a verdict")
    return "verified" if all(c.passed for c in checks) else "not reproduced"


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    authors: str
    venue: str
    arxiv: str


@dataclass(frozen=True)
class Claim:
    """A registry entry.

    Attributes:
        id: ``<paper>.<name>``, e.g. ``ahn23.thm1``.
        paper: paper key.
        statement: one sentence.
        source: where the paper states it (theorem / figure / section).
        evidence: kinds of evidence, a subset of :data:`EVIDENCE_KINDS`.
        runner: ``runner(ctx) -> Outcome``.
        acceptance: the acceptance rule in words (tolerances and their reasons are in the checks).
    """

    id: str
    paper: str
    statement: str
    source: str
    evidence: tuple[str, ...]
    runner: Callable[[RunContext], Outcome]
    acceptance: str = ""

    def __post_init__(self) -> None:
        if not self.id.startswith(self.paper + "."):
            raise ValueError(f"id: claim id {self.id!r} must start with its paper key {self.paper!r} + '.'")
        bad = [e for e in self.evidence if e not in EVIDENCE_KINDS]
        if bad or not self.evidence:
            raise ValueError(f"evidence: {self.id}: unknown or empty evidence kinds {bad} (allowed {EVIDENCE_KINDS})")


@dataclass
class RunContext:
    """Everything a runner may depend on besides its own code.

    Randomness: ``generator(name)`` / ``rng(name)`` give independent streams derived from ``seed`` and
    the stream name, so the same seed gives the same numbers and adding a stream shifts no other.

    ``retrain``: ignore stored checkpoints and train again (``icl-verify run --retrain``) into
    ``<out_dir>/checkpoints/`` (see :func:`empirical.checkpoints.load_or_train`); shipped models are never written.
    """

    profile: Profile
    device: torch.device
    seed: int
    out_dir: Path
    claim_id: str = ""
    progress: bool = True
    retrain: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile: expected one of {PROFILES}, got {self.profile!r}")
        self.out_dir = Path(self.out_dir)

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def pick(self, quick: Any, full: Any) -> Any:
        """The quick- or full-profile value of a setting."""
        return quick if self.quick else full

    def setting(self, name: str, quick: Any, full: Any) -> Any:
        """A named size: ``overrides[name]`` when given (tests shrink runners this way), else :meth:`pick`."""
        return self.overrides[name] if name in self.overrides else self.pick(quick, full)

    def generator(self, *names: str | int) -> torch.Generator:
        return torch_generator(self.seed, self.claim_id, *names)

    def rng(self, *names: str | int) -> np.random.Generator:
        return numpy_rng(self.seed, self.claim_id, *names)

    def child_seed(self, *names: str | int) -> int:
        return child_seed(self.seed, self.claim_id, *names)

    def figure_path(self, stem: str) -> Path:
        """Where to write a figure: ``<out>/figures/<claim id>.<stem>.png``."""
        d = self.out_dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{self.claim_id}.{stem}.png"

    def track(self, iterable: Iterable[Any], desc: str, total: int | None = None) -> Iterator[Any]:
        """A tqdm progress bar (off when ``progress`` is False or stderr is not a terminal)."""
        from empirical.progress import progress_bar

        return iter(progress_bar(iterable, desc=f"{self.claim_id}: {desc}", total=total, enabled=self.progress))
