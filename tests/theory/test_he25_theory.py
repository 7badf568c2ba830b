"""he25 theory: ReLU inverse-sqrt interpolant, emulated power method with deflation, bounds, 2-GMM clustering.

Every comparison is with an independent computation (numpy interpolation / loops / eigh, scipy, closed forms).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.algorithms.power_deflation import power_deflation, right_deflate
from theory.clustering import (
    asymptotic_error,
    gram,
    oracle_error,
    power_labels,
    sample_gmm,
    snr,
    spectral_labels,
    swap_invariant_accuracy,
    swap_invariant_error,
)
from theory.relu_approx import (
    exact_segment_relative_error,
    inverse_sqrt_relu,
    predicted_relative_error,
    units_for_error,
)
from theory.spectral import (
    abs_cos,
    angle_bound,
    chance_abs_cos,
    deflation_boundary_violated,
    exact_deflation,
    sample_pca_instances,
    seed_overlap_bound,
    seed_overlap_probability,
    sign_canonicalise,
    tan_angle,
)

# -- inverse sqrt ReLU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["increasing", "decreasing"])
@pytest.mark.parametrize(("a", "b", "M"), [(0.25, 4.0, 16), (0.01, 1.0, 64), (1.0, 3.0, 5)])
def test_relu_sum_equals_numpy_interpolant(a, b, M, form):
    g = inverse_sqrt_relu(a, b, M, form)
    knots = a * (b / a) ** (np.arange(M + 1) / M)
    s = np.exp(np.linspace(np.log(a), np.log(b), 3001))
    want = np.interp(s, knots, knots**-0.5)  # independent piecewise-linear interpolation
    np.testing.assert_allclose(g(torch.from_numpy(s)).numpy(), want, rtol=1e-11)


@pytest.mark.parametrize(
    ("a", "b", "M", "ref"),
    [(0.25, 4, 16, 2.8e-3), (0.25, 4, 64, 1.76e-4), (0.01, 1, 64, 4.85e-4), (1e-2, 1e3, 400, 7.8e-5)],
)
def test_relu_error_matches_sheet_reference(a, b, M, ref):
    assert inverse_sqrt_relu(a, b, M).relative_error() == pytest.approx(ref, rel=0.02)
    assert predicted_relative_error(a, b, M) == pytest.approx(3 / 32 * (math.log(b / a) / M) ** 2)


def test_uniform_knots_much_worse():
    # Uniform knots on [0.01, 1], M = 64: the sheet's "0.65" is the *absolute* sup error; the relative one is
    # the first segment's (ratio 2.55) chord error 0.0836 — still > 100x the geometric knots' 4.85e-4.
    knots = np.linspace(0.01, 1, 65)
    s = np.linspace(0.01, 1, 400001)
    g = np.interp(s, knots, knots**-0.5)
    rel = np.abs(g * np.sqrt(s) - 1).max()
    assert np.abs(g - s**-0.5).max() == pytest.approx(0.65, abs=0.03)
    assert rel == pytest.approx(exact_segment_relative_error(knots[1] / knots[0]), rel=1e-6)
    assert rel > 100 * inverse_sqrt_relu(0.01, 1, 64).relative_error()


def test_slope_mass_identities():
    inc = inverse_sqrt_relu(0.25, 4.0, 64)
    dec = inverse_sqrt_relu(0.25, 4.0, 64, "decreasing")
    knots = inc.knots.numpy()
    beta = np.diff(knots**-0.5) / np.diff(knots)
    assert inc.slope_mass == pytest.approx(2 * abs(beta[0]) - abs(beta[-1]), rel=1e-12)
    assert dec.slope_mass == pytest.approx(abs(beta[0]), rel=1e-12)
    assert (dec.coef >= 0).all()
    assert inc.slope_mass == pytest.approx(7.68, abs=0.005)


def test_units_for_error_is_minimal():
    for eta in (1e-3, 1e-4):
        M = units_for_error(1e-2, 1e3, eta)
        assert inverse_sqrt_relu(1e-2, 1e3, M).relative_error() <= eta * (1 + 1e-9)
        assert exact_segment_relative_error(math.exp(math.log(1e5) / (M - 1))) > eta


def test_relu_approx_error():
    with pytest.raises(ValueError, match="b"):
        inverse_sqrt_relu(2.0, 1.0, 4)
    with pytest.raises(ValueError, match="M"):
        inverse_sqrt_relu(1.0, 2.0, 0)
    with pytest.raises(ValueError, match="form"):
        inverse_sqrt_relu(1.0, 2.0, 3, "middle")
    with pytest.raises(ValueError, match="eta"):
        units_for_error(1.0, 2.0, -1.0)
    with pytest.raises(ValueError, match="ratio"):
        exact_segment_relative_error(1.0)


# -- power method with deflation ---------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 1e-2])
def test_power_deflation_matches_numpy(gen, eta, numpy_power_deflation):
    inst = sample_pca_instances(3, 5, 12, gen)
    seeds = torch.randn(3, 3, 5, generator=gen, dtype=torch.float64)
    nu = (lambda s: torch.rsqrt(s) * (1 + eta)) if eta else None
    run = power_deflation(inst.S, seeds, 7, nu)
    for b in range(3):
        V, lam, S_end = numpy_power_deflation(inst.S[b].numpy(), seeds[b].numpy(), 7, lambda s: s**-0.5 * (1 + eta))
        np.testing.assert_allclose(run.vectors[b].numpy(), V, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(run.lam[:, b].numpy(), lam, rtol=1e-12)
        np.testing.assert_allclose(run.mats[-1, b].numpy(), S_end, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(torch.linalg.vector_norm(run.v[:, 1:], dim=-1).numpy(), 1 + eta, rtol=1e-12)


def test_power_deflation_recovers_eigenpairs(gen):
    inst = sample_pca_instances(4, 4, 50, gen, min_gap=0.4)
    run = power_deflation(inst.S, torch.randn(4, 3, 4, generator=gen, dtype=torch.float64), 200)
    vals, vecs = np.linalg.eigh(inst.S.numpy())
    np.testing.assert_allclose(run.lam.T.numpy(), vals[:, ::-1][:, :3], rtol=1e-8)
    cos = np.abs(np.einsum("bkd,bdk->bk", run.vectors.numpy(), vecs[:, :, ::-1][:, :, :3]))
    np.testing.assert_allclose(cos, 1, atol=1e-9)


def test_right_deflate_kills_unit_vector(gen):
    S = torch.randn(2, 4, 4, generator=gen, dtype=torch.float64)
    v = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True)
    assert (right_deflate(S, v) @ v.unsqueeze(-1)).abs().max() < 1e-14


def test_power_deflation_error():
    S = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    with pytest.raises(ValueError, match="seeds"):
        power_deflation(S, torch.ones(2, 4, 3, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="seeds"):
        power_deflation(S, torch.zeros(2, 1, 3, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="steps"):
        power_deflation(S, torch.ones(2, 1, 3, dtype=torch.float64), 0)
    with pytest.raises(ValueError, match="S"):
        power_deflation(torch.ones(3, 3, dtype=torch.float64), torch.ones(2, 1, 3, dtype=torch.float64), 1)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(3, 7), tau=st.integers(1, 15), seed=st.integers(0, 2**31 - 1))
def test_angle_bound_property(d, tau, seed):
    from theory.algorithms.power import power_method

    g = torch.Generator().manual_seed(seed)
    lam = (0.1 + 4 * torch.rand(1, d, generator=g, dtype=torch.float64)).sort(-1, descending=True).values
    U = torch.linalg.qr(torch.randn(1, d, d, generator=g, dtype=torch.float64))[0]
    S = (U * lam.unsqueeze(1)) @ U.transpose(1, 2)
    S = 0.5 * (S + S.transpose(1, 2))
    for i in range(2):
        p = torch.randn(1, d, generator=g, dtype=torch.float64)
        v = power_method(exact_deflation(S, lam, U, i), p, tau).final
        bound = angle_bound(lam[:, i + 1] / lam[:, i], tau, tan_angle(p, U[..., i]))
        assert float(tan_angle(v, U[..., i])) <= float(bound) * (1 + 1e-10) + 1e-12 * float(lam[0, 0] / lam[0, i])


def test_seed_overlap_exact_and_bound():
    from scipy import stats

    for d in (3, 8, 50):
        for eta in (0.01, 0.1, 0.5):
            p = seed_overlap_probability(eta, d)
            assert p == pytest.approx(stats.beta(0.5, (d - 1) / 2).cdf(eta**2 / d), rel=1e-10)
            assert p <= seed_overlap_bound(eta)


def test_chance_abs_cos_sheet_values(rng):
    assert [round(chance_abs_cos(d), 3) for d in (5, 10, 20)] == [0.375, 0.259, 0.181]
    G = rng.standard_normal((200_000, 5))
    assert np.abs(G[:, 0] / np.linalg.norm(G, axis=1)).mean() == pytest.approx(chance_abs_cos(5), abs=3e-3)


def test_sign_canonicalise_and_abs_cos():
    v = torch.tensor([[0.1, -0.9, 0.3], [0.5, 0.2, -0.1]], dtype=torch.float64)
    c = sign_canonicalise(v)
    assert c.tolist() == [[-0.1, 0.9, -0.3], [0.5, 0.2, -0.1]]
    assert torch.allclose(abs_cos(v, -v), torch.ones(2, dtype=torch.float64))


def test_deflation_boundary():
    ev = torch.tensor([[1.0, 0.3, 0.1], [1.0, 0.9, 0.1]], dtype=torch.float64)
    assert deflation_boundary_violated(ev, 2, 0.2).tolist() == [True, False]
    assert not deflation_boundary_violated(ev, 1, 0.9).any()


def test_pca_instances(gen):
    inst = sample_pca_instances(3, 4, 10, gen, min_gap=0.3)
    assert ((inst.population[:, :-1] - inst.population[:, 1:]) >= 0.3).all()
    vals, _ = np.linalg.eigh(inst.X.transpose(1, 2).numpy() @ inst.X.numpy() / 10)
    np.testing.assert_allclose(inst.eigvals.numpy(), vals[:, ::-1], rtol=1e-10)


def test_pca_instances_error(gen):
    with pytest.raises(ValueError, match="lam_range"):
        sample_pca_instances(2, 3, 5, gen, lam_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="min_gap"):
        sample_pca_instances(2, 5, 5, gen, lam_range=(0.1, 0.2), min_gap=1.0)


# -- clustering ---------------------------------------------------------------------------------------------


def test_spectral_labels_match_numpy_eigh(gen):
    inst = sample_gmm(4, 6, 30, 2.0, gen)
    X = inst.X.numpy()
    for b in range(4):
        G = X[b] @ X[b].T
        np.fill_diagonal(G, 0)
        u = np.linalg.eigh(G)[1][:, -1]
        lab = spectral_labels(inst.X)[b].numpy()
        assert (np.sign(u) == lab).all() or (np.sign(u) == -lab).all()  # eigenvector sign is arbitrary
    assert (torch.diagonal(gram(inst.X), dim1=-2, dim2=-1) == 0).all()


def test_power_labels_converge_to_unhollowed_spectral(gen):
    inst = sample_gmm(3, 5, 40, 3.0, gen)
    lab, u = power_labels(inst.X, torch.randn(3, 40, generator=gen, dtype=torch.float64), 300)
    ref = spectral_labels(inst.X, hollow=False)
    agree = (lab == ref).all(-1) | (lab == -ref).all(-1)
    assert agree.all()


def test_swap_invariance_and_closed_forms():
    y = torch.tensor([[1.0, -1.0, 1.0, 1.0]])
    assert swap_invariant_accuracy(-y, y).item() == 1.0
    assert swap_invariant_error(torch.tensor([[1.0, 1.0, 1.0, 1.0]]), y).item() == 0.25
    assert oracle_error(1.5) == pytest.approx(0.0668, abs=1e-4)
    assert snr(2.0, 50, 200) == pytest.approx(16 / 4.25)
    assert asymptotic_error(1.5, 50, 200) == pytest.approx(0.36, abs=0.01)


def test_gmm_error(gen):
    with pytest.raises(ValueError, match="N"):
        sample_gmm(2, 3, 1, 1.0, gen)
    with pytest.raises(ValueError, match="mu_norm"):
        sample_gmm(2, 3, 5, -1.0, gen)
