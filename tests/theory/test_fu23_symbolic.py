"""fu23 §3: the Newton–Schulz error recursion (sympy) and its numerical consequences (numpy, independent)."""

from __future__ import annotations

import numpy as np
import pytest

from theory.symbolic.fu23 import (
    check_error_power,
    check_error_recursion,
    check_scalar_boundary,
    error_recursion_residual,
    symbolic_matrix,
)


def test_fu23_error_recursion_general_and_symmetric():
    assert check_error_recursion(2)
    assert check_error_recursion(2, symmetric=True)


def test_fu23_error_recursion_residual_is_zero_matrix():
    R = error_recursion_residual(2)
    assert R.shape == (2, 2) and all(e == 0 for e in R)


def test_fu23_error_power_and_boundary():
    assert check_error_power(2, 1)
    assert check_scalar_boundary()


def test_fu23_recursion_numpy_random_matrices(rng):
    # independent numeric check of I − M'S = (I − MS)² for arbitrary (non-symmetric) matrices
    for d in (1, 3, 7):
        M, S = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        lhs = np.eye(d) - (2 * M - M @ S @ M) @ S
        rhs = (np.eye(d) - M @ S) @ (np.eye(d) - M @ S)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-10)


def test_fu23_symbolic_matrix_error():
    with pytest.raises(ValueError, match="d:"):
        symbolic_matrix("m", 0)
