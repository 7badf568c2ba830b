"""Shared pieces of the bad-input suite: an empty current folder that must stay empty, and the one-line
error every refusal prints."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """An empty current folder: after each case it must still be empty (nothing written outside --out).
    No torchrun variables leak in from the calling shell."""
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def one_line(err: str) -> str:
    """The single stderr line; fails on more lines or on a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]
