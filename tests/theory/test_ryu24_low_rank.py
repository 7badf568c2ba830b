"""ryu24 closed forms: LoRA objective, nesting, sequential field, truncated-SVD optimum (vs numpy / brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.low_rank import (
    gauge_transform,
    lora_objective,
    matrix_with_spectrum,
    nested_lora_gradient,
    nested_lora_objective,
    nested_optimum_value,
    nesting_masks,
    nesting_weights,
    principal_angle_sines,
    sequential_gradient,
    spectral_factors,
    truncated_svd_optimum,
)

f64 = torch.float64


def _rand(shape, g):
    return torch.randn(*shape, generator=g, dtype=f64)


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 7), n=st.integers(1, 7), L=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_ryu24_lora_is_frobenius_residual(m, n, L, seed):
    g = torch.Generator().manual_seed(seed)
    T, F, G = _rand((m, n), g), _rand((m, L), g), _rand((n, L), g)
    ref = np.linalg.norm(T.numpy() - F.numpy() @ G.numpy().T) ** 2 - np.linalg.norm(T.numpy()) ** 2
    assert float(lora_objective(T, F, G)) == pytest.approx(ref, rel=1e-10, abs=1e-10)


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), L=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_ryu24_joint_nesting_equals_weighted_sum_of_truncations(m, n, L, seed):
    g = torch.Generator().manual_seed(seed)
    T, F, G = _rand((m, n), g), _rand((m, L), g), _rand((n, L), g)
    alpha = torch.rand(L, generator=g, dtype=f64) + 0.1
    brute = sum(float(alpha[k]) * float(lora_objective(T, F[:, : k + 1], G[:, : k + 1])) for k in range(L))
    assert float(nested_lora_objective(T, F, G, alpha)) == pytest.approx(brute, rel=1e-10, abs=1e-10)


def test_ryu24_nested_gradient_closed_form_matches_autograd(gen):
    T, F, G = _rand((6, 5), gen), _rand((6, 4), gen), _rand((5, 4), gen)
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=f64)
    Fr, Gr = F.clone().requires_grad_(), G.clone().requires_grad_()
    nested_lora_objective(T, Fr, Gr, alpha).backward()
    dF, dG = nested_lora_gradient(T, F, G, alpha)
    assert torch.allclose(dF, Fr.grad, atol=1e-12) and torch.allclose(dG, Gr.grad, atol=1e-12)


def test_ryu24_masks_match_definition():
    m, P = nesting_masks(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=f64))
    assert torch.allclose(m, torch.tensor([1.0, 0.9, 0.7, 0.4], dtype=f64))
    assert P[0, 3] == m[3] and P[2, 1] == m[2] and P[1, 1] == m[1]
    assert torch.allclose(nesting_weights(4), torch.full((4,), 0.25, dtype=f64))


def test_ryu24_sequential_gradient_is_partial_gradient_of_truncation(gen):
    T, F, G = _rand((6, 5), gen), _rand((6, 4), gen), _rand((5, 4), gen)
    dF, dG = sequential_gradient(T, F, G)
    for l in range(4):
        Fr, Gr = F[:, : l + 1].clone().requires_grad_(), G[:, : l + 1].clone().requires_grad_()
        lora_objective(T, Fr, Gr).backward()
        assert torch.allclose(dF[:, l], Fr.grad[:, l], atol=1e-12)
        assert torch.allclose(dG[:, l], Gr.grad[:, l], atol=1e-12)


def test_ryu24_truncated_svd_attains_bounds(gen):
    sigma = 0.8 ** torch.arange(5, dtype=f64)
    T = matrix_with_spectrum(9, 7, sigma, gen)
    assert np.allclose(np.linalg.svd(T.numpy(), compute_uv=False)[:5], sigma.numpy(), atol=1e-13)
    F, G, s = truncated_svd_optimum(T, 3)
    assert float(lora_objective(T, F, G)) == pytest.approx(-float((sigma[:3] ** 2).sum()), abs=1e-13)
    assert float(nested_lora_objective(T, F, G)) == pytest.approx(float(nested_optimum_value(s)), abs=1e-13)
    assert torch.allclose(sequential_gradient(T, F, G)[0], torch.zeros_like(F), atol=1e-13)


def test_ryu24_spectral_factors_are_the_constructed_svd():
    sigma = 0.8 ** torch.arange(4, dtype=f64)
    U, V = spectral_factors(7, 5, sigma, torch.Generator().manual_seed(1))
    T = matrix_with_spectrum(7, 5, sigma, torch.Generator().manual_seed(1))  # same stream: same factors
    assert torch.allclose(T, (U * sigma) @ V.T, atol=1e-15)
    assert torch.allclose(U.T @ U, torch.eye(4, dtype=f64), atol=1e-14)
    assert torch.allclose(V.T @ V, torch.eye(4, dtype=f64), atol=1e-14)


def test_ryu24_gauge_invariance_only_without_nesting(gen):
    T = matrix_with_spectrum(8, 6, 0.7 ** torch.arange(6, dtype=f64), gen)
    F, G, _ = truncated_svd_optimum(T, 3)
    A = torch.eye(3, dtype=f64) + 0.5 * _rand((3, 3), gen)
    Fa, Ga = gauge_transform(F, G, A)
    assert float(lora_objective(T, Fa, Ga)) == pytest.approx(float(lora_objective(T, F, G)), abs=1e-12)
    assert float(nested_lora_objective(T, Fa, Ga)) > float(nested_lora_objective(T, F, G)) + 1e-6


def test_ryu24_principal_angles(gen):
    X = _rand((6, 2), gen)
    assert float(principal_angle_sines(X, X @ _rand((2, 2), gen)).max()) < 1e-7
    E = torch.eye(4, dtype=f64)
    assert torch.allclose(principal_angle_sines(E[:, :1], E[:, 1:2]), torch.ones(1, dtype=f64))


def test_ryu24_low_rank_error(gen):
    with pytest.raises(ValueError, match="alpha"):
        nesting_masks(torch.tensor([1.0, -1.0], dtype=f64))
    with pytest.raises(ValueError, match="L"):
        truncated_svd_optimum(_rand((3, 2), gen), 3)
    with pytest.raises(ValueError, match="sigma"):
        matrix_with_spectrum(3, 2, torch.ones(3, dtype=f64), gen)
    with pytest.raises(ValueError, match="sigma"):
        spectral_factors(3, 3, -torch.ones(2, dtype=f64), gen)
    with pytest.raises(ValueError, match="F/G"):
        lora_objective(_rand((3, 2), gen), _rand((4, 1), gen), _rand((2, 1), gen))
    with pytest.raises(ValueError, match="kind"):
        nesting_weights(3, "geometric")
    with pytest.raises(ValueError, match="A"):
        gauge_transform(_rand((3, 2), gen), _rand((3, 2), gen), torch.eye(3, dtype=f64))
