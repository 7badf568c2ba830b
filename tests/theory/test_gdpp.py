"""GD++ in sufficient statistics (theory.algorithms.gdpp) against the token-level LSA forward pass."""

from __future__ import annotations

import pytest
import torch

from constructions.linear_attention import lsa_forward
from constructions.pgd import read_weights, with_basis_queries
from theory.algorithms.gdpp import gdpp, gdpp_readout
from theory.samplers import LinearRegressionTask, spd_with_condition


def _gdpp_lsa_weights(q: torch.Tensor, b: torch.Tensor, sinv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Theorem 4's weights written out independently of the claim module: P_l = [[b_l I, 0], [0, 1]],
    Q_l = [[q_l Σ⁻¹, 0], [0, 0]]."""
    d = sinv.shape[0]
    P = torch.zeros(len(q), d + 1, d + 1, dtype=torch.float64)
    Q = torch.zeros_like(P)
    for ell in range(len(q)):
        P[ell, :d, :d] = (b[ell] if ell < len(b) else 0.0) * torch.eye(d, dtype=torch.float64)
        P[ell, d, d] = 1.0
        Q[ell, :d, :d] = q[ell] * sinv
    return P, Q


def _random_gdpp(d: int, n: int, L: int, seed: int, cond: float, batch: int):
    """Σ (condition ``cond``), a batch of Theorem-4 prompts (w⋆ ~ N(0, Σ⁻¹)) and random scalars q (L,), b (L − 1,)."""
    g = torch.Generator().manual_seed(seed)
    sigma = spd_with_condition(d, cond, g)
    prompt = LinearRegressionTask(d=d, n=n, sigma=sigma, prior="inverse_cov").sample(batch, g)
    q = torch.randn(L, generator=g, dtype=torch.float64)
    b = torch.randn(L - 1, generator=g, dtype=torch.float64)
    return sigma, prompt, q, b


@pytest.mark.parametrize("d,n,L", [(5, 20, 3), (3, 2, 4), (7, 40, 1), (4, 9, 2), (2, 1, 3)])
def test_gdpp_equals_the_token_forward_pass(d: int, n: int, L: int) -> None:
    sigma, prompt, q, b = _random_gdpp(d, n, L, 100 * d + n + L, 10.0, 32)
    sinv = torch.linalg.inv(sigma)
    p = with_basis_queries(prompt.to(dtype=torch.float64))
    tokens = read_weights(lsa_forward(p.to_stacked(), *_gdpp_lsa_weights(q, b, sinv), p.n), p.n, d)  # (L+1, B, d)
    u = gdpp(prompt, q, b, sinv).iterates
    # Both are O(L) products of O(1) matrices in float64: agreement to a few hundred ulps of the largest entry.
    assert (u - tokens).abs().max() <= 1e-13 * tokens.abs().max().clamp_min(1.0)


def test_gdpp_with_b_zero_is_preconditioned_gd() -> None:
    """b = 0 leaves the inputs alone: each layer is one GD step with preconditioner −q_l Σ⁻¹ on R(w)."""
    from theory.algorithms import preconditioned_gd

    g = torch.Generator().manual_seed(3)
    d, n = 4, 12
    sigma = spd_with_condition(d, 5.0, g)
    prompt = LinearRegressionTask(d=d, n=n, sigma=sigma).sample(16, g)
    q = torch.tensor([-0.4, -0.7, -1.6], dtype=torch.float64)
    sinv = torch.linalg.inv(sigma)
    ref = preconditioned_gd(prompt, [-x * sinv for x in q]).iterates
    assert torch.allclose(gdpp(prompt, q, torch.zeros(2, dtype=torch.float64), sinv).iterates, ref, rtol=0,
                          atol=1e-13)


def test_gdpp_rejects_bad_shapes() -> None:
    S, h = torch.eye(3).expand(2, 3, 3).double(), torch.zeros(2, 3, dtype=torch.float64)
    q = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="b:"):
        gdpp_readout(S, h, q, torch.ones(5, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="sigma_inv"):
        gdpp_readout(S, h, q, torch.ones(2, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="h:"):
        gdpp_readout(S, h[:, :2], q, torch.ones(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("d,n,L", [(5, 20, 3), (3, 2, 4), (6, 30, 1), (2, 1, 2)])
def test_spectral_losses_equal_the_matrix_recursion(d: int, n: int, L: int) -> None:
    from theory.algorithms.gdpp import gdpp_spectral_losses, gdpp_spectral_statistics, gdpp_statistics

    sigma, prompt, q, b = _random_gdpp(d, n, L, 7 * d + n + L, 20.0, 64)
    S, h = gdpp_statistics(prompt)
    w = prompt.meta["w"].to(torch.float64)
    err = gdpp_readout(S, h, q, b, torch.linalg.inv(sigma))[-1] - w
    direct = torch.einsum("bi,ij,bj->b", err, sigma, err)
    spectral = gdpp_spectral_losses(*gdpp_spectral_statistics(S, h, w, sigma), q, b)
    # Two float64 evaluations of the same polynomial (one through eigh, condition 20): agreement to 1e-10 relative.
    assert torch.allclose(spectral, direct, rtol=1e-10, atol=1e-12 * float(direct.max()))


def test_spectral_statistics_reject_a_covariance_that_is_not_spd() -> None:
    from theory.algorithms.gdpp import gdpp_spectral_statistics

    S, h = torch.eye(3).expand(2, 3, 3).double(), torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="sigma: must be symmetric positive definite"):
        gdpp_spectral_statistics(S, h, h, -torch.eye(3, dtype=torch.float64))
