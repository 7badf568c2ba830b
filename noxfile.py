"""Sessions: ``nox -s tests`` (what CI runs), ``nox -s reproduce`` (every claim, quick profile),
one session per paper (``nox -s ahn23`` ...), ``lint``.

On CI (``CI`` set) or with ``ICL_VERIFY_CPU_TORCH=1`` installs are constrained by
``constraints/ci.txt`` (the CPU build of torch in the machines' local wheel path); users get the usual
resolution otherwise.
"""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "virtualenv"  # pip honours the machine's index/find-links config
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "reproduce"]

PAPERS = ("ahn23", "fu23", "he25", "ryu24", "goulart24")


def _install(session: nox.Session, *extras: str) -> None:
    args = ["-e", f".[{','.join(extras)}]" if extras else "."]
    if os.environ.get("CI") or os.environ.get("ICL_VERIFY_CPU_TORCH") == "1":
        args = ["-c", "constraints/ci.txt", *args]
    session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run (no slow or GPU tests); extra pytest arguments after ``--``."""
    _install(session, "test")
    session.run("pytest", "-m", "not slow and not gpu", "--benchmark-disable", "-q", *session.posargs)


@nox.session
def tests_slow(session: nox.Session) -> None:
    """Slow tests: trained-model claims retrain for real."""
    _install(session, "test")
    session.run("pytest", "-m", "slow and not gpu", "--benchmark-disable", *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Every registered claim, quick profile, into results/quick (pass e.g. ``-- --profile full``)."""
    _install(session)
    session.run("icl-verify", "run", "--profile", "quick", "--out", "results/quick", *session.posargs)


def _paper_session(paper: str):
    def run_paper(session: nox.Session) -> None:
        _install(session)
        session.run("icl-verify", "run", paper, "--profile", "quick", "--out", "results/quick", *session.posargs)

    run_paper.__doc__ = f"Reproduce the {paper} claims (quick profile unless ``-- --profile full``)."
    return run_paper


for _paper in PAPERS:
    nox.session(name=_paper)(_paper_session(_paper))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
