"""Child seeds derived from one claim seed, by name, so adding a stream never shifts another."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import torch

__all__ = ["child_seed", "child_seeds", "torch_generator", "numpy_rng"]


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")


def _name_word(name: str | int) -> int:
    """A stream name as one 32-bit spawn-key word."""
    return zlib.crc32(str(name).encode())


def child_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed from (seed, names...) via ``numpy.random.SeedSequence`` (stable across runs)."""
    _check_seed(seed)
    ss = np.random.SeedSequence(entropy=seed, spawn_key=[_name_word(n) for n in names])
    return int(ss.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


# numpy's SeedSequence (O'Neill's seed_seq mixing of 32-bit words): a pool of 4 words; hashmix XORs a running
# constant in, multiplies by the next one and folds the high half down; mix combines two words.
_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _SHIFT, _POOL = 0xCA01F9DD, 0x4973F715, 16, 4


def _words(n: int) -> list[int]:
    """A non-negative integer as 32-bit words, least significant first (0 is one word)."""
    out = [n & _MASK]
    while n := n >> 32:
        out.append(n & _MASK)
    return out


def _constants(c: int, mult: int, count: int) -> list[int]:
    out = []
    for _ in range(count):
        out.append(c)
        c = (c * mult) & _MASK
    return out


def _hashmix(v: int, k: int, consts: list[int] | tuple[int, ...]) -> int:
    v = ((v ^ consts[k]) * consts[k + 1]) & _MASK
    return v ^ (v >> _SHIFT)


def _mix(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _MASK
    return r ^ (r >> _SHIFT)


@lru_cache(maxsize=64)
def _pool_before_last_word(seed: int, names: tuple[str | int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The entropy pool of SeedSequence(seed, spawn_key=[crc32(names)..., last]) mixed up to the last word, and the
    hash constants the last word's mixing uses: what every step of one stream shares."""
    run = _words(seed)
    entropy = run + [0] * (_POOL - len(run)) + [_name_word(n) for n in names]  # padded: a spawn key
    hashes = _POOL + _POOL * (_POOL - 1) + (len(entropy) + 1 - _POOL) * _POOL
    consts = _constants(_INIT_A, _MULT_A, hashes + 1)
    pool = [_hashmix(entropy[i], i, consts) for i in range(_POOL)]
    k = _POOL
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], _hashmix(pool[src], k, consts))
                k += 1
    for word in entropy[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], _hashmix(word, k, consts))
            k += 1
    return tuple(pool), tuple(consts[k:k + _POOL + 1])


_STATE_CONSTS = _constants(_INIT_B, _MULT_B, 3)


def child_seeds(seed: int, *names: str | int, last: Iterable[str | int]) -> list[int]:
    """``[child_seed(seed, *names, x) for x in last]``, the same integers at a quarter of the time: the words every
    seed of the stream shares are mixed once, the last word in plain integer arithmetic (numpy's SeedSequence
    costs ~7 µs per seed, a training step's seed of a small model). Tests check it against :func:`child_seed`."""
    _check_seed(seed)
    shared, consts = _pool_before_last_word(seed, names)
    out = []
    for x in last:
        word = _name_word(x)
        pool = [_mix(shared[dst], _hashmix(word, dst, consts)) for dst in range(2)]  # words 0, 1 make the uint64
        low, high = _hashmix(pool[0], 0, _STATE_CONSTS), _hashmix(pool[1], 1, _STATE_CONSTS)
        out.append(((high << 32) | low) >> 1)
    return out


def torch_generator(seed: int, *names: str | int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(child_seed(seed, *names))


def numpy_rng(seed: int, *names: str | int) -> np.random.Generator:
    return np.random.default_rng(child_seed(seed, *names))
