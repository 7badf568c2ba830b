"""Sphinx extension: one API page per module of ``theory``, ``constructions`` and ``empirical``.

At the start of a build every importable module name is found with :mod:`pkgutil` (no import needed to
list them) and ``docs/api/generated/<module>.rst`` is written with an ``automodule`` directive, so a module
added to a package appears in the API reference without editing the docs. Modules are named explicitly,
which matters where a package re-exports a function under the name of a submodule
(``theory.algorithms.gd`` is both): ``automodule`` imports the module itself. Members are documented
whether or not they are listed in ``__all__`` (public names defined in the module; imported names and
names starting with ``_`` are skipped; members without a docstring are listed too). Stubs are
rewritten only when their text changes.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

PACKAGES = ("theory", "constructions", "empirical")
OUT = Path("api") / "generated"


def module_names(root: Path, package: str) -> list[str]:
    """``package`` and every module below it whose name has no part starting with ``_``, sorted."""
    names = [package]
    for info in pkgutil.walk_packages([str(root / package)], prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def stub(name: str) -> str:
    title = f"``{name}``"
    options = ("members", "ignore-module-all", "undoc-members", "show-inheritance")
    return f"{title}\n{'=' * len(title)}\n\n.. automodule:: {name}\n" + "".join(f"   :{o}:\n" for o in options)


def write_stubs(app: Sphinx) -> None:
    root = Path(app.srcdir).resolve().parent
    out = Path(app.srcdir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    wanted = {f"{name}.rst": stub(name) for pkg in PACKAGES for name in module_names(root, pkg)}
    for old in out.glob("*.rst"):  # modules that were removed or renamed
        if old.name not in wanted:
            old.unlink()
    for fname, text in wanted.items():
        path = out / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_stubs)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
