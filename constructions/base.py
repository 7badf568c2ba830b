"""What every construction provides, and the per-layer report ``icl-verify construct`` prints.

A construction checks *all* of its assumptions on a prompt at once (tracr's static validation) and
raises one ``ValueError`` listing every violation, before running anything.

Boundary checks shared by every construction (:meth:`ConstructionSpec.execute`): the settings themselves
(:class:`ConstructionConfig` refuses non-finite or out-of-range sizes), ``--option`` keys (only those a
construction declares in :attr:`ConstructionSpec.options`; a typo is refused, never silently ignored), and a
memory estimate of the dominant tensors, refused past ``--max-memory-gb`` before anything is allocated.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from constructions.evaluate import MODES

__all__ = [
    "Violation",
    "raise_violations",
    "ConstructionConfig",
    "ConstructionReport",
    "ConstructionSpec",
    "MemoryEstimate",
    "DEFAULT_MAX_MEMORY_GB",
    "COND_MAX",
    "GIB",
    "FLOAT64_BYTES",
    "config_violations",
    "generic_memory",
    "memory_budget_error",
    "parse_option",
]

#: Budget of one ``icl-verify construct`` run in GiB (2³⁰ bytes), raised with ``--max-memory-gb``.
DEFAULT_MAX_MEMORY_GB = 4.0
#: Largest ``--cond``: float64 resolves eigenvalue ratios up to about 1/ε ≈ 4.5e15; beyond that the drawn
#: covariance is not numerically positive definite (Cholesky fails) and no claim about it is meaningful.
COND_MAX = 1e15
#: ``torch.Generator.manual_seed`` takes a signed 64-bit integer.
SEED_MAX = 2**63 - 1
GIB = 2**30
FLOAT64_BYTES = 8

#: Named terms of a memory estimate -> bytes (the error message names the largest term).
MemoryEstimate = dict[str, float]


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


T = TypeVar("T")


def parse_option(violations: list[Violation], key: str, parse: Callable[[], T], fallback: T) -> T:
    """``parse()`` (one of the ``option_*`` parsers); on ValueError record a Violation named ``--option KEY`` and
    return ``fallback``, so a construction reports every bad option at once."""
    try:
        return parse()
    except ValueError as e:
        violations.append(Violation(f"--option {key}", str(e).removeprefix(f"--option {key}: ")))
        return fallback


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def config_violations(cfg: ConstructionConfig) -> list[Violation]:
    """Every out-of-range setting of ``cfg``, named by its CLI flag (sizes, seed, cond, budget, options)."""
    out = []
    for flag, val in (("--d", cfg.d), ("--n", cfg.n), ("--layers", cfg.layers), ("--batch", cfg.batch)):
        if not _is_int(val) or val < 1:
            out.append(Violation(flag, f"expected an integer >= 1, got {val!r}"))
    if not _is_int(cfg.seed) or not 0 <= cfg.seed <= SEED_MAX:
        out.append(Violation("--seed", f"expected an integer in [0, 2^63 - 1], got {cfg.seed!r}"))
    if not _is_real(cfg.cond) or not 1 <= cfg.cond <= COND_MAX:
        out.append(Violation("--cond", f"a condition number is a finite number in [1, {COND_MAX:g}] (float64 cannot "
                                       f"represent a covariance beyond), got {cfg.cond!r}"))
    if not _is_real(cfg.max_memory_gb) or not cfg.max_memory_gb > 0:
        out.append(Violation("--max-memory-gb", f"expected a finite number > 0, got {cfg.max_memory_gb!r}"))
    if cfg.evaluation not in MODES:
        out.append(Violation("--eval", f"expected {'|'.join(MODES)}, got {cfg.evaluation!r}"))
    opts = cfg.options
    if not isinstance(opts, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items()):
        out.append(Violation("--option", f"expected a mapping of str keys to str values, got {opts!r}"))
    return out


def _range_text(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """`` in [0, 1]``, `` > 0``, `` <= 5`` … (leading space) for messages; infinite ends are left out."""
    if math.isinf(high):
        return "" if math.isinf(low) else f" {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f" {'<' if high_open else '<='} {high:g}"
    return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


@dataclass(frozen=True)
class ConstructionConfig:
    """Settings from ``icl-verify construct NAME --d D --n N --layers L [--cond K] [--seed S]``.

    ``options`` holds construction-specific settings (``--option key=value``), parsed and range-checked by
    :meth:`option_float`, :meth:`option_int` and :meth:`option_choice` (errors name ``--option KEY``).
    ``max_memory_gb`` is the budget the memory estimate is checked against (``--max-memory-gb``).
    ``evaluation`` is how the weights are run (``--eval``): ``fast`` (through the weights' support) or ``literal``
    (the definition, dense matrices); :mod:`constructions.evaluate`.

    Raises:
        ValueError: listing every out-of-range setting (:func:`config_violations`).
    """

    d: int
    n: int
    layers: int
    cond: float = 1.0
    seed: int = 0
    batch: int = 16
    options: dict[str, str] = field(default_factory=dict)
    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB
    evaluation: str = "fast"

    def __post_init__(self) -> None:
        raise_violations(config_violations(self))

    def option(self, key: str, default: Any, cast: Callable[[str], Any] = str) -> Any:
        """The option parsed by ``cast`` (``default`` when absent); ValueError naming ``--option KEY``."""
        if key not in self.options:
            return default
        try:
            return cast(self.options[key])
        except ValueError as e:
            raise ValueError(f"--option {key}: cannot parse {self.options[key]!r} ({e})") from None

    def option_float(self, key: str, default: float, *, low: float = -math.inf, high: float = math.inf,
                     low_open: bool = False, high_open: bool = False) -> float:
        """A finite float in [low, high] (an end excluded with ``low_open``/``high_open``)."""
        v = self.option(key, default, float)
        lo_ok = v > low if low_open else v >= low
        hi_ok = v < high if high_open else v <= high
        if not (math.isfinite(v) and lo_ok and hi_ok):
            raise ValueError(f"--option {key}: expected a finite number{_range_text(low, high, low_open, high_open)}, "
                             f"got {self.options.get(key)!r}")
        return v

    def option_int(self, key: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
        """An integer in [low, high] (either end None: unbounded)."""
        v = self.option(key, default, int)
        if (low is not None and v < low) or (high is not None and v > high):
            lo = "-inf" if low is None else low
            hi = "inf" if high is None else high
            raise ValueError(f"--option {key}: expected an integer in [{lo}, {hi}], got {v}")
        return v

    def option_choice(self, key: str, default: str, choices: Collection[str]) -> str:
        """One of ``choices``."""
        v = self.option(key, default)
        if v not in choices:
            raise ValueError(f"--option {key}: expected {'|'.join(choices)}, got {v!r}")
        return v

    def describe(self) -> str:
        """``d=…, n=…, layers=…, batch=…`` for messages."""
        return f"d={self.d}, n={self.n}, layers={self.layers}, batch={self.batch}"


@dataclass
class ConstructionReport:
    """Per-layer comparison of a construction with its reference algorithm.

    Attributes:
        deviations: one row per layer: ``{"layer": i, "block": name, "reference": what it is compared
            with, "max_rel_dev": float, ...}``; rows without a reference carry ``None``.
        tolerance / tolerance_reason: the bound every compared row must meet, and why.
        structure: the size counted from the built weights (:meth:`constructions.structure.Structure.as_dict`).
        evaluation: the mode the weights ran in (``fast`` or ``literal``).
    """

    name: str
    config: dict[str, Any]
    deviations: list[dict[str, Any]]
    tolerance: float
    tolerance_reason: str
    notes: list[str] = field(default_factory=list)
    structure: dict[str, Any] = field(default_factory=dict)
    evaluation: str = "fast"

    @property
    def max_deviation(self) -> float:
        vals = [r["max_rel_dev"] for r in self.deviations if r.get("max_rel_dev") is not None]
        return max(vals) if vals else float("nan")

    @property
    def passed(self) -> bool:
        return self.max_deviation <= self.tolerance


def generic_memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Fallback estimate for a construction that declares none (upper-ish for the O(d)-width constructions here).

    Assumes a residual stream of width W = 4(d + 1) over T = 2n + 2d tokens kept after every layer, (T, T)
    attention scores, two W×W weight matrices per layer and a few (d, d) matrices per prompt, all float64.
    """
    W, T, B, L = 4 * (cfg.d + 1), 2 * cfg.n + 2 * cfg.d, cfg.batch, cfg.layers
    return {
        "residual stream (L+1)·B·T·W": FLOAT64_BYTES * (L + 1) * B * T * W,
        "attention scores 3·B·T²": FLOAT64_BYTES * 3 * B * T * T,
        "weights 2·L·W²": FLOAT64_BYTES * 2 * L * W * W,
        "per-prompt matrices 4·B·d²": FLOAT64_BYTES * 4 * B * cfg.d**2,
    }


def memory_budget_error(name: str, cfg: ConstructionConfig, estimate: MemoryEstimate) -> str | None:
    """The one-line refusal when ``estimate`` exceeds ``cfg.max_memory_gb``, else None."""
    total = sum(estimate.values())
    if total <= cfg.max_memory_gb * GIB:
        return None
    top = max(estimate, key=lambda k: estimate[k])
    return (f"--max-memory-gb: {name} at {cfg.describe()} needs an estimated {total / GIB:.3g} GiB (mostly {top}: "
            f"{estimate[top] / GIB:.3g} GiB), over the {cfg.max_memory_gb:g} GiB budget; reduce the sizes or raise "
            "--max-memory-gb")


@dataclass(frozen=True)
class ConstructionSpec:
    """A registered construction: ``run(config) -> ConstructionReport``.

    Attributes:
        options: the ``--option`` keys the construction reads -> one-line help; any other key is refused
            (a new construction declares its keys here and gets the check for free).
        memory: ``config -> {term: bytes}`` estimate of the dominant tensors, checked against the budget
            before anything is built; None uses :func:`generic_memory`. It may raise ValueError for invalid
            settings (the construction's own checks, reported before any allocation).
    """

    name: str
    paper: str
    summary: str
    run: Callable[[ConstructionConfig], ConstructionReport]
    layers_help: str = "number of layers"
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    memory: Callable[[ConstructionConfig], MemoryEstimate] | None = None

    def check_options(self, cfg: ConstructionConfig) -> None:
        """Refuse keys not in :attr:`options`: ValueError ``--option: unknown key ...`` listing the valid keys."""
        unknown = [k for k in cfg.options if k not in self.options]
        if not unknown:
            return
        valid = ", ".join(sorted(self.options)) or "none (this construction takes no options)"
        hints = [f"{m[0]!r} for {k!r}" for k in unknown if (m := difflib.get_close_matches(k, self.options, 1))]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        keys = ", ".join(repr(k) for k in unknown)
        raise ValueError(f"--option: unknown key{'s' if len(unknown) > 1 else ''} {keys} for {self.name} "
                         f"(valid keys: {valid}){hint}")

    def memory_estimate(self, cfg: ConstructionConfig) -> MemoryEstimate:
        """Named byte counts of the dominant tensors at ``cfg`` (no allocation)."""
        return (self.memory or generic_memory)(cfg)

    def check_memory(self, cfg: ConstructionConfig) -> None:
        """ValueError naming ``--max-memory-gb`` when the estimate exceeds ``cfg.max_memory_gb``."""
        msg = memory_budget_error(self.name, cfg, self.memory_estimate(cfg))
        if msg is not None:
            raise ValueError(msg)

    def execute(self, cfg: ConstructionConfig) -> ConstructionReport:
        """Option keys, then the memory budget, then :attr:`run` (the checked entry point of the CLI)."""
        self.check_options(cfg)
        self.check_memory(cfg)
        return self.run(cfg)
