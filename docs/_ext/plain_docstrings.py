"""Sphinx extension: read the project's docstrings as the plain text they are written in.

The docstrings follow Google style (napoleon) and write math in plain Unicode, e.g. ``|⟨p̂, v⟩|`` or
``‖w‖``, often with hanging indents for continued formulas. Read as reStructuredText, a ``|word|`` is a
substitution reference and a change of indentation without a blank line is an error. After napoleon has
converted the Google sections, this hook therefore

* escapes ``|`` outside inline literals and literal blocks, and
* inserts a blank line where the indentation changes between two text lines (a hanging indent becomes an
  indented paragraph), except next to directive options and field lists, which need no blank line;

so the API reference shows the docstring as written. Literal blocks (after ``::``) are left alone.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the escaping functions are usable (and tested) without Sphinx installed
    from sphinx.application import Sphinx

_LITERAL = re.compile(r"(``.+?``)")


def escape_bars(line: str) -> str:
    """``|`` -> ``\\|`` outside ````inline literals````; already escaped bars are left alone."""
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):  # even indices: outside literals
        parts[i] = re.sub(r"(?<!\\)\|", r"\\|", parts[i])
    return "".join(parts)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _needs_break(prev: str, line: str) -> bool:
    """A blank line between two consecutive text lines whose indentation differs (see the module doc)."""
    if not prev.strip() or not line.strip() or _indent(prev) == _indent(line):
        return False
    p, c = prev.strip(), line.strip()
    # directive options follow their directive directly; field lists and their bodies keep their layout
    return not (p.startswith("..") or c.startswith(":") or p.startswith(":"))


def escape_docstring(lines: list[str]) -> list[str]:
    """Escape bars and separate hanging indents, skipping literal blocks (indented lines after ``::``)."""
    out: list[str] = []
    block_indent: int | None = None  # indent of the line that opened a literal block
    prev = ""
    for line in lines:
        if block_indent is not None:
            if not line.strip() or _indent(line) > block_indent:
                out.append(line)
                continue
            block_indent = None
        if _needs_break(prev, line):
            out.append("")
        out.append(escape_bars(line))
        prev = line
        if line.rstrip().endswith("::"):
            block_indent = _indent(line)
            prev = ""
    return out


def _process(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = escape_docstring(lines)


def setup(app: Sphinx) -> dict[str, Any]:
    # priority 600: after napoleon (500) has turned Google sections into reST
    app.connect("autodoc-process-docstring", _process, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
