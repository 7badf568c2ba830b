"""tqdm progress bars that stay quiet in logs (CI) and when asked to."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable[Any] | None = None, *, desc: str = "", total: int | None = None,
                 enabled: bool = True) -> tqdm:
    """A bar on stderr, disabled when ``enabled`` is False or stderr is not a TTY."""
    return tqdm(iterable, desc=desc, total=total, disable=not (enabled and sys.stderr.isatty()),
                leave=False, dynamic_ncols=True, file=sys.stderr)
