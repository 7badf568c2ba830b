"""goulart24 target functions against numpy closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.matrix_functions import (
    entrywise_p_norm,
    nuclear_norm,
    p_norm,
    schatten_norm,
    top_k_singular_values,
)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, math.inf])
def test_p_norm_matches_numpy(rng, p):
    x = rng.uniform(-100, 100, size=(50, 5))
    expected = np.max(np.abs(x), axis=1) if math.isinf(p) else (np.abs(x) ** p).sum(1) ** (1 / p)
    np.testing.assert_allclose(p_norm(torch.from_numpy(x), p).numpy(), expected, rtol=1e-13)


def test_p_norm_per_vector_p(rng):
    x = rng.uniform(-1, 1, size=(4, 6))
    ps = np.array([0.5, 1.0, 2.5, np.inf])
    got = p_norm(torch.from_numpy(x), torch.from_numpy(ps)).numpy()
    for i, p in enumerate(ps):
        np.testing.assert_allclose(got[i], np.linalg.norm(x[i], ord=p) if p >= 1 else (np.abs(x[i]) ** p).sum() ** 2,
                                   rtol=1e-13)


def test_p_norm_zero_vector_and_tiny_entries():
    assert float(p_norm(torch.zeros(3, dtype=torch.float64), 0.5)) == 0.0
    x = torch.full((4,), 1e-200, dtype=torch.float64)  # |x|^p would underflow without rescaling at p = 3
    np.testing.assert_allclose(float(p_norm(x, 3.0)), 1e-200 * 4 ** (1 / 3), rtol=1e-13)


def test_matrix_functions_match_numpy(rng):
    A = rng.uniform(-100, 100, size=(20, 5, 5))
    At = torch.from_numpy(A)
    s = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(nuclear_norm(At).numpy(), [np.linalg.norm(a, "nuc") for a in A], rtol=1e-12)
    np.testing.assert_allclose(schatten_norm(At, 2.0).numpy(), [np.linalg.norm(a, "fro") for a in A], rtol=1e-12)
    np.testing.assert_allclose(schatten_norm(At, math.inf).numpy(), [np.linalg.norm(a, 2) for a in A], rtol=1e-12)
    np.testing.assert_allclose(top_k_singular_values(At, 3).numpy(), s[:, :3], rtol=1e-12)
    np.testing.assert_allclose(entrywise_p_norm(At, 0.5).numpy(), (np.abs(A) ** 0.5).sum((1, 2)) ** 2, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(t=st.floats(min_value=-1e3, max_value=1e3).filter(lambda v: abs(v) > 1e-3),
       p=st.floats(min_value=0.3, max_value=5.0), seed=st.integers(0, 2**31 - 1))
def test_homogeneity_property(t, p, seed):
    g = np.random.default_rng(seed)
    x = torch.from_numpy(g.uniform(-1, 1, size=(3, 4)))
    A = torch.from_numpy(g.uniform(-1, 1, size=(3, 4, 4)))
    np.testing.assert_allclose(p_norm(t * x, p).numpy(), abs(t) * p_norm(x, p).numpy(), rtol=1e-12)
    np.testing.assert_allclose(nuclear_norm(t * A).numpy(), abs(t) * nuclear_norm(A).numpy(), rtol=1e-12)


def test_matrix_functions_error():
    x = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="p:"):
        p_norm(x, 0.0)
    with pytest.raises(ValueError, match="p:"):
        p_norm(x, torch.tensor([-1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="x:"):
        p_norm(torch.tensor([1.0, float("nan")]), 1.0)
    with pytest.raises(ValueError, match="x:"):
        p_norm([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="A:"):
        nuclear_norm(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="k:"):
        top_k_singular_values(torch.eye(3, dtype=torch.float64), 4)
    with pytest.raises(ValueError, match="k:"):
        top_k_singular_values(torch.eye(3, dtype=torch.float64), 0)
