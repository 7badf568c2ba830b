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
