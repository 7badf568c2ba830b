"""Child seeds: numpy's SeedSequence defines them (:func:`child_seed`); the training loop's fast path
(:func:`child_seeds`) must give the same integers for every seed, name and step, or every stored model's data
stream would change."""

from __future__ import annotations

import numpy as np
import pytest

from empirical.seeding import child_seed, child_seeds

#: one-word, two-word and many-word seeds (numpy pads the run entropy to 4 words when a spawn key follows,
#: and does not when the seed alone is longer), the 63-bit limit of the CLI, and past it
SEEDS = [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 + 5, 2**127 + 11, 2**160 + 3]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("names", [("data",), (), ("a", 3, "streams"), (0,)])
def test_fast_path_equals_seedsequence(seed, names):
    steps = [*range(300), 10**6, 2**40, "x", ""]
    assert child_seeds(seed, *names, last=steps) == [child_seed(seed, *names, s) for s in steps]


def test_fast_path_equals_seedsequence_at_random_settings():
    rng = np.random.default_rng(12345)
    for _ in range(200):
        seed = int(rng.integers(0, 2**63))
        step = int(rng.integers(0, 10**9))
        assert child_seeds(seed, "data", last=[step]) == [child_seed(seed, "data", step)]


@pytest.mark.parametrize("bad", [-1, True, 1.0, "0", None])
def test_bad_seed_names_the_argument(bad):
    with pytest.raises(ValueError, match="^seed: expected a non-negative integer"):
        child_seeds(bad, "data", last=[0])
