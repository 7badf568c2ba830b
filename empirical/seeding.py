"""Child seeds derived from one claim seed, by name, so adding a stream never shifts another."""

from __future__ import annotations

import zlib

import numpy as np
import torch

__all__ = ["child_seed", "torch_generator", "numpy_rng"]


def child_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed from (seed, names...) via ``numpy.random.SeedSequence`` (stable across runs)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    key = [zlib.crc32(str(n).encode()) for n in names]
    ss = np.random.SeedSequence(entropy=seed, spawn_key=key)
    return int(ss.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


def torch_generator(seed: int, *names: str | int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(child_seed(seed, *names))


def numpy_rng(seed: int, *names: str | int) -> np.random.Generator:
    return np.random.default_rng(child_seed(seed, *names))
