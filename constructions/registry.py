"""Name -> construction. Every module of this package that defines ``CONSTRUCTIONS`` contributes.

Discovery imports modules but builds nothing: weights are made only when a construction is run.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import constructions
from constructions.base import ConstructionSpec

__all__ = ["available", "get_construction"]


@cache
def _load() -> dict[str, ConstructionSpec]:
    out: dict[str, ConstructionSpec] = {}
    for info in sorted(pkgutil.iter_modules(constructions.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in ("registry", "base"):
            continue
        mod = importlib.import_module(f"constructions.{info.name}")
        for spec in getattr(mod, "CONSTRUCTIONS", ()):
            if spec.name in out:
                raise RuntimeError(f"construction {spec.name!r} registered twice")
            out[spec.name] = spec
    return out


def available() -> dict[str, ConstructionSpec]:
    return dict(_load())


def get_construction(name: str) -> ConstructionSpec:
    specs = _load()
    if name not in specs:
        raise ValueError(f"NAME: unknown construction {name!r} (available: {', '.join(sorted(specs))})")
    return specs[name]
