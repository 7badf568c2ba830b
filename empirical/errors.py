"""The suite's error kinds and how its command lines report an unexpected one.

Exit-code contract of ``icl-verify`` and ``python -m empirical.distributed``:

* 2 — :class:`UsageError`: a bad command-line value; one line that names the argument
  (``icl-verify: error: --out: ...``).
* 1 — a claim not reproduced / inconclusive / crashed, an :class:`IntegrityError` (one line naming the file),
  or an unexpected error: one line naming a log file that holds the traceback (see :func:`report_internal_error`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["UsageError", "IntegrityError", "one_line", "report_internal_error"]


class UsageError(ValueError):
    """A bad command-line value. The message starts with the argument's name (``--out: ...``)."""


class IntegrityError(RuntimeError):
    """A stored file (checkpoint, weights) is corrupt or was tampered with. The message names the file."""


def one_line(text: object) -> str:
    """``text`` on one line: a multi-line exception message must not break the one-line contract."""
    return " ".join(str(text).split())


def _write_log(directory: Path | None, prog: str, text: str) -> Path:
    """Write ``text`` to a fresh log file in ``directory`` (made if needed), else in the temp dir."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = f"{Path(prog.split()[-1]).name}-{stamp}-{os.getpid()}-"
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".log")
        except OSError:  # the out folder went bad (full, read-only): the traceback still needs a home
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(name)


def report_internal_error(prog: str, exc: BaseException, log_dir: Path | None) -> int:
    """Log ``exc``'s traceback to a file and print one line naming that file; returns exit code 1.

    Args:
        prog: the program name, first word of the line (``icl-verify``).
        exc: the unexpected exception (reported with its traceback).
        log_dir: where the log goes (``<out>/logs`` once the out folder is known), else the temp dir.
    """
    text = "".join(traceback.format_exception(exc))
    try:
        where = str(_write_log(log_dir, prog, text))
    except OSError as e:  # nowhere to write: the line still names the failure, the traceback is lost
        where = f"<no log: {one_line(e)}>"
    summary = one_line(f"{type(exc).__name__}: {exc}")
    print(f"{prog}: internal error: {summary} (traceback in {where})", file=sys.stderr)
    return 1
