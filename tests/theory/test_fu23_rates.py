"""theory.rates: spectral step counts vs brute-force numpy iterations; fits; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.rates import (
    RateSweep,
    fit_gd_rate,
    fit_newton_rate,
    gd_steps_spectral,
    gd_steps_theory,
    newton_steps_spectral,
    newton_steps_theory,
    rate_sweep,
    spectrum_with_condition,
    steps_to_eps,
)


def _numpy_newton_steps(lam, c, eps, alpha, kmax=200):
    S = np.diag(lam)
    w = c  # target in the eigenbasis; y = Xw ⇒ Xᵀy = S w
    M = alpha * S
    for k in range(kmax + 1):
        if np.linalg.norm(M @ S @ w - w) <= eps * np.linalg.norm(w):
            return k
        M = 2 * M - M @ S @ M
    return -1


def _numpy_gd_steps(lam, c, eps, eta, kmax=100_000):
    w = np.zeros_like(c)
    for k in range(kmax + 1):
        if np.linalg.norm(w - c) <= eps * np.linalg.norm(c):
            return k
        w = w - eta * lam * (w - c)  # gradient of ½‖Xw − y‖² in the eigenbasis is S(w − w⋆)
    return -1


@settings(max_examples=10, deadline=None)
@given(d=st.integers(2, 6), kappa=st.floats(1.0, 100.0), eps_exp=st.integers(2, 10), seed=st.integers(0, 10**6))
def test_fu23_spectral_steps_match_numpy_iterations(d, kappa, eps_exp, seed):
    g = torch.Generator().manual_seed(seed)
    lam, c = spectrum_with_condition(d, kappa, 1, g)
    eps = 10.0**-eps_exp
    ln, cn = lam[0].numpy(), c[0].numpy()
    nt = int(newton_steps_spectral(lam, c, eps)[0])
    assert abs(nt - _numpy_newton_steps(ln, cn, eps, 1 / ln.max() ** 2)) <= 1  # round-off at the crossing
    gd = int(gd_steps_spectral(lam, c, eps)[0])
    assert abs(gd - _numpy_gd_steps(ln, cn, eps, 2 / (ln.max() + ln.min()))) <= 1


def test_fu23_spectrum_condition_exact(gen):
    lam, c = spectrum_with_condition(7, 1e3, 5, gen)
    torch.testing.assert_close(lam.amax(-1) / lam.amin(-1), torch.full((5,), 1e3, dtype=torch.float64))
    assert c.shape == (5, 7)


def test_fu23_steps_to_eps():
    errs = torch.tensor([[1.0, 1.0], [0.1, 0.5], [1e-3, 0.4]])
    assert steps_to_eps(errs, 0.01).tolist() == [2, -1]


def test_fu23_theory_predictions():
    # closed forms: GD κ=3 → ln(1/ε)/ln 2; Newton 2log₂κ + log₂ ln(1/ε)
    assert gd_steps_theory(3.0, np.exp(-2.0)) == pytest.approx(2 / np.log(2))
    assert newton_steps_theory(4.0, np.exp(-8.0)) == pytest.approx(4 + 3)


def test_fu23_fits_recover_synthetic_coefficients():
    eps = np.array([1e-2, 1e-4, 1e-8])
    kap = np.array([10.0, 100.0, 1000.0])
    K, E = np.meshgrid(kap, eps, indexing="ij")
    sw = RateSweep(eps, kap, 2 * np.log2(K) + np.log2(np.log(1 / E)) + 1, 0.5 * K * np.log(1 / E) + 3)
    nf, gf = fit_newton_rate(sw), fit_gd_rate(sw)
    assert nf.coef == pytest.approx((2.0, 1.0)) and nf.intercept == pytest.approx(1.0) and nf.r2 == pytest.approx(1)
    assert gf.coef[0] == pytest.approx(0.5) and gf.intercept == pytest.approx(3.0)


def test_fu23_rate_sweep_newton_far_below_gd(gen):
    sw = rate_sweep([1e-4, 1e-8], [10.0, 1000.0], 8, 4, gen)
    assert (sw.newton < sw.gd).all() and sw.newton.max() < 40


def test_fu23_rates_error():
    lam = torch.ones(1, 3, dtype=torch.float64)
    c = torch.ones(1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="alpha"):
        newton_steps_spectral(lam, c, 1e-3, alpha=2.0)
    with pytest.raises(ValueError, match="eta"):
        gd_steps_spectral(lam, c, 1e-3, eta=2.0)
    with pytest.raises(ValueError, match="lam"):
        newton_steps_spectral(-lam, c, 1e-3)
    with pytest.raises(ValueError, match="lam, c"):
        gd_steps_spectral(lam, c[:, :2], 1e-3)
    with pytest.raises(ValueError, match="kappa"):
        spectrum_with_condition(3, 0.5, 1, torch.Generator())
