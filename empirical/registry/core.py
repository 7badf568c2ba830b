"""Claims, checks and verdicts: the registry's data model.

A :class:`Claim` is one statement of a paper with a runner. The runner receives a :class:`RunContext`
(profile, device, seed, output folder) and returns an :class:`Outcome`: named :class:`Check` s (a
measured number, a comparison, a threshold and the reason for that threshold) plus any other measured
numbers and figures. The verdict is derived, never set by hand (:func:`verdict_of`):

* ``verified`` — every check passed, and every control behaved (positive passed, negative failed);
* ``not reproduced`` — a check failed while every control behaved (the numbers are still reported);
* ``inconclusive: <reason>`` — the experiment cannot tell the claim from its alternative: a control
  misbehaved (a positive control failed or a negative control passed), a precondition check did not pass
  (the experiment cannot speak, e.g. a model at chance), or a check's confidence interval straddles its
  threshold while no check failed outright;
* ``skipped: <reason>`` — the runner raised :class:`SkipClaim` (e.g. needs CUDA at full scale);
* ``error`` — the runner raised (recorded by the runner module, not here).

A :class:`Check` with an ``interval`` is judged on the whole interval: it passes when the interval lies on the
claimed side of the threshold, fails when it lies on the other side, and is undetermined otherwise. So a
trend passes only when it is *detected* (the interval excludes the boundary), never merely not rejected.

A :class:`Control` runs the same pipeline (probes, metric, fit, interval, thresholds) on an object for
which the statement holds by construction (``role="positive"``) or is false (``role="negative"``).
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
    "Control",
    "Outcome",
    "Paper",
    "RunContext",
    "SkipClaim",
    "verdict_kind",
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


Status = Literal["pass", "fail", "undetermined"]


@dataclass(frozen=True)
class Check:
    """One acceptance test: ``measured <op> threshold``, with the reason for the threshold.

    ``interval``: a confidence interval (low, high) of the measured quantity, with its method in ``reason``.
    Then the check passes only when the whole interval satisfies ``<op> threshold``, fails when no point of
    it does, and is undetermined when it straddles the threshold. A NaN measurement or bound never passes.

    ``precondition``: the check says whether the experiment can speak at all (e.g. "the d = 10 model is above
    chance"), not whether the claim holds. When it does not pass, the verdict is ``inconclusive`` naming it,
    never ``not reproduced``: a model at chance is a negative control, not evidence against the claim.
    """

    name: str
    measured: float
    op: Literal["<=", "<", ">=", ">"]
    threshold: float
    reason: str
    interval: tuple[float, float] | None = None
    precondition: bool = False

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op: expected one of {sorted(_OPS)}, got {self.op!r}")
        object.__setattr__(self, "measured", float(self.measured))
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.interval is not None:
            lo, hi = (float(x) for x in self.interval)
            if lo > hi:
                raise ValueError(f"interval: {self.name}: low {lo} > high {hi}")
            object.__setattr__(self, "interval", (lo, hi))

    @property
    def status(self) -> Status:
        test = _OPS[self.op]
        if self.interval is None:
            return "pass" if not math.isnan(self.measured) and test(self.measured, self.threshold) else "fail"
        lo, hi = self.interval
        if math.isnan(lo) or math.isnan(hi) or math.isnan(self.measured):
            return "fail"
        ends = [test(lo, self.threshold), test(hi, self.threshold)]
        return "pass" if all(ends) else "fail" if not any(ends) else "undetermined"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "measured": self.measured,
            "op": self.op,
            "threshold": self.threshold,
            "reason": self.reason,
            "passed": self.passed,
            "status": self.status,
        }
        if self.interval is not None:
            out["interval"] = list(self.interval)
        if self.precondition:
            out["precondition"] = True
        return out


@dataclass
class Control:
    """The claim's pipeline run on an object whose answer is known.

    Attributes:
        name: short id (``newton_construction``).
        role: ``positive`` (the statement holds by construction: its checks must pass) or ``negative``
            (the statement is false for it: at least one check must fail outright).
        description: what the object is and why the statement holds or fails for it.
        checks: the same checks, thresholds and intervals as the claim's own.
        measured: other numbers the pipeline produced on the control.
    """

    name: str
    role: Literal["positive", "negative"]
    description: str
    checks: list[Check]
    measured: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ("positive", "negative"):
            raise ValueError(f"role: expected 'positive' or 'negative', got {self.role!r}")
        if not self.checks:
            raise ValueError(f"checks: control {self.name!r} needs the claim's checks")

    @property
    def behaved(self) -> bool:
        """Positive: every check passed. Negative: some check failed outright (undetermined is not enough)."""
        if self.role == "positive":
            return all(c.status == "pass" for c in self.checks)
        return any(c.status == "fail" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "description": self.description, "behaved": self.behaved,
                "checks": [c.as_dict() for c in self.checks], "measured": self.measured}


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
        controls: the same pipeline on a positive and a negative control (trained and statistical claims).
    """

    checks: list[Check] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    controls: list[Control] = field(default_factory=list)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def verdict_of(checks: Iterable[Check], controls: Iterable[Control] = ()) -> str:
    """The verdict from the claim's checks and its controls (module docstring)."""
    checks, controls = list(checks), list(controls)
    if not checks:
        raise ValueError("checks: a claim outcome needs at least one check to have a verdict")
    misbehaved = [c for c in controls if not c.behaved]
    if misbehaved:
        c = misbehaved[0]
        what = "failed its checks" if c.role == "positive" else "passed the checks"
        return f"inconclusive: {c.role} control {c.name} {what}, so this experiment cannot tell the claim " \
               "from its alternative"
    unmet = [c for c in checks if c.precondition and c.status != "pass"]
    if unmet:
        c = unmet[0]
        return (f"inconclusive: precondition {c.name} not met ({_fmt(c.measured)} {c.op} {_fmt(c.threshold)} "
                "does not hold), so this experiment cannot speak to the claim")
    if any(c.status == "fail" for c in checks):
        return "not reproduced"
    open_ = [c for c in checks if c.status == "undetermined"]
    if open_:
        c = open_[0]
        lo, hi = c.interval  # type: ignore[misc]
        return (f"inconclusive: {c.name} interval [{_fmt(lo)}, {_fmt(hi)}] contains the threshold "
                f"{_fmt(c.threshold)}")
    return "verified"


def verdict_kind(verdict: str) -> str:
    """``verified`` | ``not reproduced`` | ``inconclusive`` | ``skipped`` | ``error`` (the reason dropped)."""
    return verdict.split(":", 1)[0]


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


def _same(a: Any, b: Any) -> bool:
    """Equality of two setting values (numbers, strings, tuples, lists, dicts; anything else by identity)."""
    try:
        return bool(a == b)
    except Exception:  # e.g. an array's elementwise comparison
        return a is b


@dataclass
class RunContext:
    """Everything a runner may depend on besides its own code.

    Randomness: ``generator(name)`` / ``rng(name)`` give independent streams derived from ``seed`` and
    the stream name, so the same seed gives the same numbers and adding a stream shifts no other.

    ``retrain``: ignore stored checkpoints and train again (``icl-verify run --retrain``) into
    ``<out_dir>/checkpoints/`` (see :func:`empirical.checkpoints.load_or_train`); shipped models are never written.

    Sizes: every size, step count, batch, trial count and width a runner uses is a named setting read through
    :meth:`setting` (quick and full value at the call site). ``overrides`` replaces settings by name (tests
    shrink the full profile this way); ``settings`` records every value read (the runner writes it into the
    claim JSON), and :meth:`check_overrides` refuses an override no setting read, so a test cannot silently fail
    to shrink a runner.
    """

    profile: Profile
    device: torch.device
    seed: int
    out_dir: Path
    claim_id: str = ""
    progress: bool = True
    retrain: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    #: every setting read so far, name -> value (overrides included)
    settings: dict[str, Any] = field(default_factory=dict)

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
        """A named size: ``overrides[name]`` when given (tests shrink runners this way), else :meth:`pick`.

        The value is recorded in :attr:`settings`. One name stands for one quantity: reading it again with a
        different default is a ``ValueError`` (an override would silently set two different things at once).
        """
        value = self.overrides[name] if name in self.overrides else self.pick(quick, full)
        if name in self.settings and not _same(self.settings[name], value):
            raise ValueError(f"setting: {self.claim_id or 'runner'} reads {name!r} as {self.settings[name]!r} and "
                             f"as {value!r}; give the two quantities different names")
        self.settings[name] = value
        return value

    def unread_overrides(self) -> list[str]:
        """Override keys no :meth:`setting` call has read (yet)."""
        return sorted(k for k in self.overrides if k not in self.settings)

    def check_overrides(self) -> None:
        """Raise ``ValueError`` (one line: the keys, the claim and the settings it reads) when an override was never
        read: a misspelt or stale key would otherwise leave the runner at its full size without a word."""
        unread = self.unread_overrides()
        if unread:
            reads = ", ".join(sorted(self.settings)) or "none"
            raise ValueError(f"overrides: {', '.join(map(repr, unread))} not read by {self.claim_id or 'the runner'} "
                             f"(profile {self.profile}); it reads: {reads}")

    def require_cuda(self, why: str) -> None:
        """The full profile's CUDA gate: ``SkipClaim("needs cuda: <why>")`` on another device while the setting
        ``require_cuda`` is on (full: on, quick: off). Only a shrunk test turns it off, to run every full-profile
        code path on the CPU in seconds; the JSON records it under ``settings``."""
        if self.setting("require_cuda", False, True) and self.device.type != "cuda":
            raise SkipClaim(f"needs cuda: {why}")

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
