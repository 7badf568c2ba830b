"""One folder per paper: everything paper-specific on the empirical side.

``empirical/papers/<key>/`` holds

* ``claims.py`` — the declarations: ``PAPER`` and ``CLAIMS`` (id, statement, source, evidence kinds, acceptance
  in words with the controls, the runner). Read it as the paper's claims table.
* ``runners.py`` — the experiments behind each verdict (one function per claim, taking a
  :class:`~empirical.registry.core.RunContext` and returning an :class:`~empirical.registry.core.Outcome`).
* ``plots.py`` — the figures, from measured data only.
* whatever else only this paper needs: training recipes (``training.py``), data (``real_data.py``), model
  families for the distributed entry point (``families.py``), paper-only subpackages (ryu24's ``neuralsvd/``,
  goulart24's ``llm/``).

A paper folder imports the shared pieces of ``empirical/`` (registry, runner, train, probes, models, checkpoints,
artifacts, plotting) and ``theory/`` / ``constructions/``, never another paper's folder. The registry
(:mod:`empirical.registry`) finds every folder here that has a ``claims`` module: adding a paper edits nothing
outside its own folder and its theory/ and constructions/ files.
"""

import importlib.util
import pkgutil
from collections.abc import Iterator

__all__ = ["paper_modules"]


def paper_modules(module: str) -> Iterator[str]:
    """``empirical.papers.<key>.<module>`` for every paper folder that has such a module, in key order (a folder
    whose name starts with ``_`` is not a paper): how the registry finds ``claims`` and the families ``families``."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        name = f"{__name__}.{info.name}.{module}"
        if info.ispkg and not info.name.startswith("_") and importlib.util.find_spec(name) is not None:
            yield name
