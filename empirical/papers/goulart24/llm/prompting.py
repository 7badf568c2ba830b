"""The paper's prompt format and answer parsing (fact sheet §2, "Prompt protocol" and "Serialisation").

Prompt (template adapted by the paper from Coda-Forno et al., NeurIPS 2023): a header describing one
machine that maps x to y, the answer instructions, then one line per demonstration
``- Given x=<X>, y=<Y>`` and a query line ``- Given x=<X>, Predict y: _____``. The function is never named.

Numbers are written with a fixed number of decimals (the paper used full precision; SmolLM2 spends one
token per digit, so the suite's LLM arm rounds to 2 decimals and computes targets from the rounded inputs —
see :meth:`empirical.papers.goulart24.llm.tasks.MatrixFunctionTask.sample`). Vectors are ``[a, b, …]``; matrices are one
bracketed row per text line, numpy-style.

Parsing never drops an answer silently: :func:`parse_answer` returns ``None`` for a malformed answer and
the caller counts it. Two parsers (fact sheet §5, "Selection bias"):

* ``lenient``: the first k numbers of the answer before any echo of the prompt format (``Given`` or
  ``x=``: a model that starts writing a new example line has not answered; integers accepted);
* ``paper``: numbers must carry a decimal point (the paper's matrix-task regex) and exactly k must appear.

Non-finite values are malformed in both.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import torch
from torch import Tensor

__all__ = ["HEADER", "format_number", "format_x", "format_y", "build_prompt", "parse_prompt", "parse_answer"]

HEADER = (
    "You are observing a machine that takes an input x and produces an output y. Your task is to predict "
    "y for a new x. Answer only with numbers, each followed by ';'. If y has several values, give as many "
    "numbers as the previous y's have. Never answer with words. If you are unsure, still give your best "
    "guess; if there are no examples, guess from your prior.\n"
)

_LENIENT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)", re.IGNORECASE)
_ECHO = re.compile(r"Given|x\s*=", re.IGNORECASE)
_PAPER = re.compile(r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?")
_EXAMPLE = "- Given x="


def format_number(v: float, decimals: int) -> str:
    """Fixed-point with ``decimals`` decimals (``-0.00`` written as ``0.00``)."""
    s = f"{float(v):.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def format_x(x: Tensor, *, matrix_side: int | None, decimals: int) -> str:
    """A vector (d,) as ``[a, b, …]``; with ``matrix_side`` n, an n×n matrix as n bracketed rows."""
    vals = [format_number(v, decimals) for v in x.tolist()]
    if matrix_side is None:
        return "[" + ", ".join(vals) + "]"
    n = matrix_side
    if n * n != len(vals):
        raise ValueError(f"x: expected {n * n} entries for a {n}x{n} matrix, got {len(vals)}")
    rows = ["[" + " ".join(vals[i * n:(i + 1) * n]) + "]" for i in range(n)]
    return "[" + "\n ".join(rows) + "]"


def format_y(y: Tensor, decimals: int) -> str:
    """Outputs (k,) as ``v1; v2; …;`` (the answer format the instructions request)."""
    return " ".join(format_number(v, decimals) + ";" for v in y.tolist())


def build_prompt(Xc: Tensor, Yc: Tensor, xq: Tensor, *, matrix_side: int | None, decimals: int = 2,
                 header: str = HEADER) -> str:
    """The paper's prompt for one prompt: Xc (c, d), Yc (c, k), xq (d,) -> text."""
    if Xc.ndim != 2 or Yc.ndim != 2 or xq.ndim != 1 or Xc.shape[0] != Yc.shape[0] or xq.shape[0] != Xc.shape[1]:
        raise ValueError(f"Xc/Yc/xq: expected shapes (c,d), (c,k), (d,); got {tuple(Xc.shape)}, "
                         f"{tuple(Yc.shape)}, {tuple(xq.shape)}")
    lines = [header]
    for x, y in zip(Xc, Yc, strict=True):
        lines.append(f"- Given x={format_x(x, matrix_side=matrix_side, decimals=decimals)}, y={format_y(y, decimals)}")
    lines.append(f"- Given x={format_x(xq, matrix_side=matrix_side, decimals=decimals)}, Predict y: _____")
    return "\n".join(lines)


def _numbers(text: str) -> list[float]:
    return [float(v) for v in _NUMBER.findall(text)]


def parse_prompt(text: str) -> tuple[Tensor, Tensor, Tensor]:
    """The numbers a reader of a :func:`build_prompt` text sees: (Xc (c, d), Yc (c, k), xq (d,)) float64, as
    written (rounded to the prompt's decimals). Used by the control backends, which answer from the text alone.

    Raises ValueError for a text without demonstrations and a query line in that format."""
    chunks = text.split(_EXAMPLE)[1:]
    if len(chunks) < 2 or ", Predict y:" not in chunks[-1]:
        raise ValueError("text: expected '- Given x=…, y=…' demonstration lines and a final '…, Predict y:' line")
    xs, ys = [], []
    for chunk in chunks[:-1]:
        x_text, sep, y_text = chunk.rpartition(", y=")
        if not sep:
            raise ValueError(f"text: demonstration without ', y=': {chunk[:60]!r}")
        xs.append(_numbers(x_text))
        ys.append(_numbers(y_text))
    xq = _numbers(chunks[-1].rpartition(", Predict y:")[0])
    if len({len(x) for x in xs} | {len(xq)}) != 1 or len({len(y) for y in ys}) != 1:
        raise ValueError("text: demonstrations and query of different sizes")
    Xc, Yc, x = (torch.tensor(v, dtype=torch.float64) for v in (xs, ys, xq))
    return Xc, Yc, x


def parse_answer(text: str, k: int, mode: Literal["lenient", "paper"] = "lenient") -> list[float] | None:
    """The k predicted numbers in ``text``, or None when the answer is malformed (never guessed)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1, got {k!r}")
    if mode == "lenient":
        found = _LENIENT.findall(_ECHO.split(text, maxsplit=1)[0])
        if len(found) < k:
            return None
        vals = [float(v) for v in found[:k]]
    elif mode == "paper":
        found = _PAPER.findall(text)
        if len(found) != k:
            return None
        vals = [float(v) for v in found]
    else:
        raise ValueError(f"mode: expected lenient|paper, got {mode!r}")
    if not all(math.isfinite(v) for v in vals):
        return None
    return vals


def answers_to_tensor(answers: list[list[float] | None], k: int) -> tuple[Tensor, Tensor]:
    """(values (P, k) with NaN rows for malformed answers, ok (P,) bool)."""
    vals = torch.full((len(answers), k), float("nan"), dtype=torch.float64)
    ok = torch.zeros(len(answers), dtype=torch.bool)
    for i, a in enumerate(answers):
        if a is not None:
            vals[i] = torch.tensor(a, dtype=torch.float64)
            ok[i] = True
    return vals, ok
