"""What every construction provides, and the per-layer report ``icl-verify construct`` prints.

A construction checks *all* of its assumptions on a prompt at once (tracr's static validation) and
raises one ``ValueError`` listing every violation, before running anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Violation", "raise_violations", "ConstructionConfig", "ConstructionReport", "ConstructionSpec"]


@dataclass(frozen=True)
class Violation:
    """A broken assumption: the argument it concerns and why."""

    argument: str
    message: str

    def __str__(self) -> str:
        return f"{self.argument}: {self.message}"


def raise_violations(violations: list[Violation]) -> None:
    if violations:
        raise ValueError("; ".join(str(v) for v in violations))


@dataclass(frozen=True)
class ConstructionConfig:
    """Settings from ``icl-verify construct NAME --d D --n N --layers L [--cond K] [--seed S]``.

    ``options`` holds construction-specific settings (``--option key=value``).
    """

    d: int
    n: int
    layers: int
    cond: float = 1.0
    seed: int = 0
    batch: int = 16
    options: dict[str, str] = field(default_factory=dict)

    def option(self, key: str, default: Any, cast: Callable[[str], Any] = str) -> Any:
        if key not in self.options:
            return default
        try:
            return cast(self.options[key])
        except ValueError as e:
            raise ValueError(f"--option {key}: cannot parse {self.options[key]!r} ({e})") from None


@dataclass
class ConstructionReport:
    """Per-layer comparison of a construction with its reference algorithm.

    Attributes:
        deviations: one row per layer: ``{"layer": i, "block": name, "reference": what it is compared
            with, "max_rel_dev": float, ...}``; rows without a reference carry ``None``.
        tolerance / tolerance_reason: the bound every compared row must meet, and why.
    """

    name: str
    config: dict[str, Any]
    deviations: list[dict[str, Any]]
    tolerance: float
    tolerance_reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def max_deviation(self) -> float:
        vals = [r["max_rel_dev"] for r in self.deviations if r.get("max_rel_dev") is not None]
        return max(vals) if vals else float("nan")

    @property
    def passed(self) -> bool:
        return self.max_deviation <= self.tolerance


@dataclass(frozen=True)
class ConstructionSpec:
    """A registered construction: ``run(config) -> ConstructionReport``."""

    name: str
    paper: str
    summary: str
    run: Callable[[ConstructionConfig], ConstructionReport]
    layers_help: str = "number of layers"
