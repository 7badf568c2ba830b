"""ahn23: each statistical pipeline passes on its positive control and fails on its negative one, at test sizes;
and ahn23.thm1's verdict does not depend on the seed."""

from __future__ import annotations

import pytest
import torch

from constructions.pgd import build_preconditioned_gd
from empirical.papers.ahn23 import runners as ahn23
from empirical.registry import get_claim
from empirical.registry.core import Check, RunContext, verdict_of
from theory.samplers import LinearRegressionTask, spd_with_condition
from theory.symbolic.ahn23 import optimal_preconditioner, population_loss

D, N = ahn23.PAPER_D, ahn23.PAPER_N
#: thm4 sizes for the control tests: 40 % of the quick profile's fit (w⋆ and x_q integrated exactly, so the scalars'
#: ± 3 sandwich standard errors stay well inside the 5 % margin) and a tenth of its evaluation sample.
FIT_PROMPTS, EVAL_PROMPTS = 40_000, 100_000


def _ctx(cid: str, seed: int = 0, overrides: dict | None = None, tmp_path=None) -> RunContext:
    return RunContext(profile="quick", device=torch.device("cpu"), seed=seed, out_dir=tmp_path or "unused",
                      claim_id=cid, progress=False, overrides=overrides or {})


def _passes(checks: list[Check]) -> bool:
    return all(c.status == "pass" for c in checks)


def _fails(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


@pytest.fixture(scope="module")
def paper_sigma() -> torch.Tensor:
    return ahn23._paper_sigma(_ctx("ahn23.test"))


# -- ahn23.thm1 ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def thm1_setting():
    d, n = 3, 10
    sigma = spd_with_condition(d, 10.0, torch.Generator().manual_seed(0))
    x0 = torch.randn(d * d, generator=torch.Generator().manual_seed(1), dtype=torch.float64).numpy()
    zero = torch.zeros(d, d, dtype=torch.float64)
    A_min, rec = ahn23._thm1_minimiser(sigma, n, zero, x0)
    return sigma, n, x0, A_min, rec


def test_thm1_minimiser_positive_control_planted_minimiser_passes(thm1_setting):
    sigma, n, x0, _, _ = thm1_setting
    B = torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    Bv = B.clone().requires_grad_(True)
    (G,) = torch.autograd.grad(population_loss(Bv, sigma, n), Bv)
    B_min, rec = ahn23._thm1_minimiser(sigma, n, G, x0)
    assert ahn23._minimiser_check("m", B_min, B, rec["resolution"]).status == "pass"


def test_thm1_minimiser_negative_control_inverse_covariance_fails(thm1_setting):
    sigma, _, _, A_min, rec = thm1_setting
    assert ahn23._minimiser_check("m", A_min, torch.linalg.inv(sigma), rec["resolution"]).status == "fail"


def test_thm1_minimiser_resolution_is_finer_than_the_data_inadequacy_gap(thm1_setting):
    """The derived tolerance is a round-off-level number (not a loose one that anything passes)."""
    sigma, n, _, A_min, rec = thm1_setting
    assert rec["resolution"] < 1e-6
    assert ahn23._minimiser_check("m", A_min, optimal_preconditioner(sigma, n), rec["resolution"]).passed


@pytest.mark.parametrize("isotropic", [False, True], ids=["thm1", "thm1_isotropic"])
def test_loss_formula_controls(isotropic):
    """Monte Carlo of the loss formula: A = 0 against tr Σ passes, the n → ∞ formula fails."""
    d, n = 3, 10
    g = torch.Generator().manual_seed(3)
    sigma = torch.eye(d, dtype=torch.float64) if isotropic else spd_with_condition(d, 10.0, g)
    A0 = optimal_preconditioner(sigma, n)
    task = LinearRegressionTask(d=d, n=n, sigma=sigma)
    claim, pos, neg, _ = ahn23._loss_formula_trial("t", A0, float(population_loss(A0, sigma, n)), task, 10_000,
                                                   _ctx("ahn23.thm1"))
    assert pos.status == "pass" and neg.status == "fail"


def test_thm1_verdict_is_the_same_on_seeds_0_to_4(tmp_path):
    """The numerical-minimiser tolerance follows from the optimiser's stop, so no seed is special (small MC)."""
    verdicts = set()
    for seed in range(5):
        out = get_claim("ahn23.thm1").runner(_ctx("ahn23.thm1", seed, {"mc_prompts": 10_000}, tmp_path))
        verdicts.add(verdict_of(out.checks, out.controls))
    assert verdicts == {"verified"}


# -- ahn23.thm3_critical -------------------------------------------------------------------------------------


def _gradient_z(L: int, scalars, sigma) -> Check:
    A = torch.stack([a * torch.linalg.inv(sigma) for a in scalars])
    check, _ = ahn23._gradient_check("g", A, sigma, N, 12, 1000, torch.Generator().manual_seed(L))
    return check


def test_thm3_positive_control_one_layer_critical_point_passes(paper_sigma):
    assert _gradient_z(1, [N / (N + D + 1)], paper_sigma).status == "pass"


def test_thm3_negative_control_perturbed_point_fails(paper_sigma):
    a = ahn23._optimal_scalars(3, N, D)["a"]
    assert _gradient_z(3, [1.1 * float(x) for x in a], paper_sigma).status == "fail"


# -- ahn23.thm4_gdpp -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def theorem3_family_fit():
    """The controls' pipeline as the runner has it at seed 0 (its Σ and fit-prompt stream, FIT_PROMPTS prompts): b = 0
    fit from Theorem 3's optimum, sandwich standard errors, control-variate evaluation (on fewer prompts)."""
    ctx = _ctx("ahn23.thm4_gdpp")
    sigma = ahn23._paper_sigma(ctx)
    task = LinearRegressionTask(d=D, n=N, sigma=sigma, prior="inverse_cov")
    opt = ahn23._optimal_scalars(3, N, D)
    a = [float(x) for x in opt["a"]]
    fit_set = ahn23._gdpp_eigenvalues(task, FIT_PROMPTS, ctx.generator("fit"))
    fit = ahn23._gdpp_fit([-x for x in a], fit_set, 30, free_b=False)
    fit = ahn23._by_magnitude(ahn23._with_standard_errors(fit, fit_set))
    lam = ahn23._gdpp_eigenvalues(task, EVAL_PROMPTS, ctx.generator("eval"))
    with torch.no_grad():
        x = ahn23._gdpp_per_prompt(fit["q"], lam, free_b=False)
        c = ahn23._gdpp_per_prompt(torch.tensor([-v for v in a], dtype=torch.float64), lam, free_b=False)
    return fit, ahn23._control_variate_summary(x, c, opt["loss"]), a, opt["loss"]


def test_thm4_positive_control_recovers_theorem3_optimum(theorem3_family_fit):
    fit, ev, a, loss = theorem3_family_fit
    assert _passes(ahn23._gdpp_checks(fit, ev["loss"], ev["loss_se"], {"q": [-x for x in a], "loss": loss}))


def test_thm4_negative_control_theorem3_family_misses_paper_values(theorem3_family_fit):
    fit, ev, _, _ = theorem3_family_fit
    paper = {"q": ahn23.THM4_Q, "b": ahn23.THM4_B, "loss": ahn23.THM4_LOSS}
    assert _fails(ahn23._gdpp_checks(fit, ev["loss"], ev["loss_se"], paper))


# -- ahn23.trained_1layer / ahn23.trained_3layer --------------------------------------------------------------


@pytest.fixture(scope="module")
def one_layer_task():
    sigma = spd_with_condition(D, 4.0, torch.Generator().manual_seed(0))
    return LinearRegressionTask(d=D, n=N, sigma=sigma)


def test_trained_1layer_positive_control_theory_weights_pass(one_layer_task):
    A0 = optimal_preconditioner(one_layer_task.sigma, N)
    checks, _ = ahn23._one_layer_checks(*build_preconditioned_gd([A0]), one_layer_task, 20_000,
                                        torch.Generator().manual_seed(0))
    assert _passes(checks)


def test_trained_1layer_negative_control_inverse_covariance_fails(one_layer_task):
    checks, _ = ahn23._one_layer_checks(*build_preconditioned_gd([torch.linalg.inv(one_layer_task.sigma)]),
                                        one_layer_task, 20_000, torch.Generator().manual_seed(0))
    assert _fails(checks)


@pytest.fixture(scope="module")
def three_layer_setting(paper_sigma):
    task = LinearRegressionTask(d=D, n=N, sigma=paper_sigma, prior="inverse_cov")
    return task, [float(x) for x in ahn23._optimal_scalars(3, N, D)["a"]]


def test_trained_3layer_positive_control_theory_weights_pass(three_layer_setting):
    task, a = three_layer_setting
    A = torch.stack([x * torch.linalg.inv(task.sigma) for x in a])
    checks, _ = ahn23._three_layer_checks(A, task, 20_000, torch.Generator().manual_seed(0))
    assert _passes(checks)


def test_trained_3layer_negative_control_identity_preconditioners_fail(three_layer_setting):
    task, a = three_layer_setting
    A = torch.stack([x * torch.eye(D, dtype=torch.float64) for x in a])
    checks, _ = ahn23._three_layer_checks(A, task, 20_000, torch.Generator().manual_seed(0))
    assert _fails(checks)


def test_control_variate_is_exact_on_its_reference_and_unbiased_elsewhere():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(4000, generator=g, dtype=torch.float64) ** 2
    assert ahn23._control_variate_mean(c, c, 1.0)[:2] == pytest.approx((1.0, 0.0), abs=1e-12)
    x = c + 0.1 * torch.randn(4000, generator=g, dtype=torch.float64)  # mean 1: shares c's fluctuations
    mean, se, beta = ahn23._control_variate_mean(x, c, 1.0)
    assert abs(mean - 1.0) <= 3 * se and se < 0.01 < float(x.std()) / 4000**0.5 and abs(beta - 1) < 0.05
