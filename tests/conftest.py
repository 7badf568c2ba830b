"""Shared fixtures: a per-test seeded generator (failures replay), float64, the device to test on."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """A seed derived from the test's node id: stable across runs, different across tests."""
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def out_dir(tmp_path):
    return tmp_path / "results"


def _numpy_power_deflation(S, P, tau, nu):
    """Independent numpy loop: τ normalised power iterations per seed (rows of P) with normaliser ``nu(‖Sv‖²)``,
    Rayleigh value vᵀSv, right-projection deflation S ← S − (Sv)vᵀ. Returns (vectors (k, d), values (k,), S)."""
    S = np.array(S, dtype=float, copy=True)
    vecs, lams = [], []
    for p in P:
        v = p / np.linalg.norm(p)
        for _ in range(tau):
            w = S @ v
            v = nu(w @ w) * w
        w = S @ v
        lams.append(v @ w)
        vecs.append(v)
        S = S - np.outer(w, v)
    return np.array(vecs), np.array(lams), S


@pytest.fixture
def numpy_power_deflation():
    """The numpy power-deflation reference shared by the he25 theory and construction tests."""
    return _numpy_power_deflation
