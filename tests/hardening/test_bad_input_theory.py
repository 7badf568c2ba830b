"""The Python entry points of ``theory/`` under bad input: a ValueError naming the argument, never a silent
wrong number (wrong shapes, NaN/inf, a covariance that is not SPD, negative steps, parameters out of range).

Budget: every case builds tensors of at most 4×4 and is refused before any computation (milliseconds).
"""

from __future__ import annotations

import math

import pytest
import torch

from theory.algorithms.gd import gd, gd_best_step, least_squares_gradient, preconditioned_gd
from theory.algorithms.newton import newton_schulz, newton_schulz_default_alpha, newton_solution_path
from theory.algorithms.power import deflate, power_method, rayleigh_quotient, top_k_eig
from theory.algorithms.power_deflation import power_deflation
from theory.algorithms.ridge import ridge
from theory.clustering import power_labels, sample_gmm, snr
from theory.landscape import mc_gradient, scalar_loss
from theory.low_rank import gauge_transform
from theory.operators_reference import oscillator_eigenfunctions
from theory.prompts import PromptBatch
from theory.relu_approx import inverse_sqrt_relu, units_for_error
from theory.samplers import LinearRegressionTask, make_generator, random_rotation, spd_from_spectrum, spd_with_condition
from theory.spectral import deflation_boundary_violated, inexact_rayleigh_bias, sample_pca_instances
from theory.wishart import empirical_covariance_trace_moment, wishart_trace_moment

F64 = torch.float64
NAN = float("nan")


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _prompt(B: int = 2, n: int = 4, d: int = 3) -> PromptBatch:
    g = _g()
    return LinearRegressionTask(d=d, n=n).sample(B, g)


def _spd(B: int = 2, d: int = 3) -> torch.Tensor:
    return torch.eye(d, dtype=F64).expand(B, d, d).clone() * torch.arange(1, B + 1, dtype=F64).view(B, 1, 1)


def _nonsym() -> torch.Tensor:
    S = _spd()
    S[:, 0, 1] += 0.5
    return S


def _indefinite() -> torch.Tensor:
    return torch.diag(torch.tensor([1.0, -4.0, 0.5], dtype=F64)).expand(2, 3, 3).clone()


def _with_nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = NAN
    return t


X = torch.randn(2, 4, 3, generator=_g(), dtype=F64)
SEEDS = torch.ones(2, 2, 3, dtype=F64)

CASES = [
    # Newton–Schulz (theory/algorithms/newton.py)
    pytest.param(lambda: newton_schulz(_nonsym(), 2), "S", id="newton-S-not-symmetric"),
    pytest.param(lambda: newton_schulz(_indefinite(), 2), "S: not positive semidefinite", id="newton-S-indefinite"),
    pytest.param(lambda: newton_schulz(_with_nan(_spd()), 2), "S", id="newton-S-nan"),
    pytest.param(lambda: newton_schulz(_spd()[0], 2), "S", id="newton-S-unbatched"),
    pytest.param(lambda: newton_schulz(_spd(), -1), "steps", id="newton-steps-negative"),
    pytest.param(lambda: newton_schulz(_spd(), 2, alpha=-1.0), "alpha", id="newton-alpha-negative"),
    pytest.param(lambda: newton_schulz(_spd(), 2, alpha=NAN), "alpha", id="newton-alpha-nan"),
    pytest.param(lambda: newton_schulz(_spd(), 2, alpha=10.0), "alpha", id="newton-alpha-divergent"),
    pytest.param(lambda: newton_schulz_default_alpha(torch.ones(2, 3, 4, dtype=F64)), "S", id="newton-alpha-S-shape"),
    pytest.param(lambda: newton_solution_path(X, 2), "prompt", id="newton-path-not-a-prompt"),
    # gradient descent (theory/algorithms/gd.py)
    pytest.param(lambda: gd(_prompt(), 3, -0.1), "step_size", id="gd-step-negative"),
    pytest.param(lambda: gd(_prompt(), 3, NAN), "step_size", id="gd-step-nan"),
    pytest.param(lambda: gd(_prompt(), 3, 100.0), "step_size", id="gd-step-divergent"),
    pytest.param(lambda: gd(_prompt(), -1, 0.1), "steps", id="gd-steps-negative"),
    pytest.param(lambda: gd(X, 3, 0.1), "prompt", id="gd-not-a-prompt"),
    pytest.param(lambda: least_squares_gradient(X, torch.zeros(2, 5, dtype=F64), torch.zeros(2, 3, dtype=F64)), "y",
                 id="lsq-grad-y-shape"),
    pytest.param(lambda: least_squares_gradient(X, torch.zeros(2, 4, dtype=F64), torch.zeros(2, 4, dtype=F64)), "w",
                 id="lsq-grad-w-shape"),
    pytest.param(lambda: gd_best_step(torch.zeros(2, 4, 3, dtype=F64)), "X", id="gd-best-step-zero-X"),
    pytest.param(lambda: gd_best_step(_with_nan(X)), "X", id="gd-best-step-nan"),
    pytest.param(lambda: preconditioned_gd(_prompt(), [_with_nan(torch.eye(3, dtype=F64))]), r"A_seq\[0\]",
                 id="pgd-A-nan"),
    pytest.param(lambda: preconditioned_gd(_prompt(), []), "A_seq", id="pgd-A-empty"),
    pytest.param(lambda: preconditioned_gd(_prompt(), [torch.eye(4, dtype=F64)]), r"A_seq\[0\]", id="pgd-A-shape"),
    pytest.param(lambda: ridge(_prompt(), -1.0), "lam", id="ridge-lam-negative"),
    # power method and deflation (theory/algorithms/power.py, power_deflation.py)
    pytest.param(lambda: power_method(_nonsym(), torch.ones(2, 3, dtype=F64), 3), "S", id="power-S-not-symmetric"),
    pytest.param(lambda: power_method(_spd(), torch.zeros(2, 3, dtype=F64), 3), "v0", id="power-zero-seed"),
    pytest.param(lambda: power_method(_spd(), torch.ones(2, 3, dtype=F64), -2), "steps", id="power-steps-negative"),
    pytest.param(lambda: deflate(_spd(), torch.ones(2, 3, dtype=F64), "sideways"), "mode", id="deflate-mode"),
    pytest.param(lambda: deflate(_spd(), torch.zeros(2, 3, dtype=F64)), "v", id="deflate-zero-v"),
    pytest.param(lambda: rayleigh_quotient(_spd(), torch.ones(2, 4, dtype=F64)), "v", id="rayleigh-v-shape"),
    pytest.param(lambda: top_k_eig(_spd(), _with_nan(SEEDS), 3), "seeds", id="topk-seeds-nan"),
    pytest.param(lambda: top_k_eig(_spd(), torch.ones(2, 0, 3, dtype=F64), 3), "seeds", id="topk-k-zero"),
    pytest.param(lambda: top_k_eig(_spd(), SEEDS, 3, mode="x"), "mode", id="topk-mode"),
    pytest.param(lambda: power_deflation(_nonsym(), SEEDS, 3), "S", id="pdefl-S-not-symmetric"),
    pytest.param(lambda: power_deflation(_spd(), SEEDS, 3, normaliser=0.5), "normaliser", id="pdefl-normaliser"),
    pytest.param(lambda: power_deflation(_spd(), SEEDS, 0), "steps", id="pdefl-steps-zero"),
    # samplers and prompts (theory/samplers.py, theory/prompts.py)
    pytest.param(lambda: make_generator(-1), "seed", id="seed-negative"),
    pytest.param(lambda: make_generator(2**64), "seed", id="seed-beyond-64-bit"),
    pytest.param(lambda: random_rotation(3, None), "generator", id="rotation-global-rng"),
    pytest.param(lambda: spd_with_condition(3, 1e17, _g()), "kappa", id="kappa-beyond-float64"),
    pytest.param(lambda: spd_with_condition(3, 0.5, _g()), "kappa", id="kappa-below-1"),
    pytest.param(lambda: spd_with_condition(3, NAN, _g()), "kappa", id="kappa-nan"),
    pytest.param(lambda: spd_from_spectrum(torch.tensor([1.0, -1.0]), _g()), "eigenvalues", id="spectrum-negative"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, sigma=_indefinite()[0]), "sigma", id="task-sigma-not-spd"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, sigma=_nonsym()[0]), "sigma", id="task-sigma-not-symmetric"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, sigma=torch.eye(2, dtype=F64)), "sigma", id="task-sigma-shape"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, sigma=[[1.0]]), "sigma", id="task-sigma-not-tensor"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, cond=math.inf), "cond", id="task-cond-inf"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4, noise=-1.0), "noise", id="task-noise-negative"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=0), "n", id="task-n-zero"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4).sample(2, _g(), dtype=torch.int64), "dtype",
                 id="task-integer-dtype"),
    pytest.param(lambda: LinearRegressionTask(d=3, n=4).sample(2, None), "generator", id="task-global-rng"),
    pytest.param(lambda: PromptBatch(_with_nan(X), torch.zeros(2, 4, dtype=F64), X[:, :1], torch.zeros(2, 1,
                                                                                                     dtype=F64)),
                 "X", id="prompt-X-nan"),
    pytest.param(lambda: PromptBatch(X, torch.zeros(2, 5, dtype=F64), X[:, :1], torch.zeros(2, 1, dtype=F64)), "y",
                 id="prompt-y-shape"),
    pytest.param(lambda: _prompt().prefix(0), "n", id="prefix-zero"),
    pytest.param(lambda: _prompt().prefix(1.5), "n", id="prefix-float"),
    # symbolic moments (theory/wishart.py)
    pytest.param(lambda: wishart_trace_moment(-1), "p", id="wishart-p-negative"),
    pytest.param(lambda: wishart_trace_moment(2.5), "p", id="wishart-p-float"),
    pytest.param(lambda: wishart_trace_moment(50), "p", id="wishart-p-intractable"),
    pytest.param(lambda: empirical_covariance_trace_moment(2, 0, 3), "n", id="wishart-n-zero"),
    # ReLU normaliser, spectra, clustering, landscape, low rank, operators
    pytest.param(lambda: units_for_error(1e-2, 1e3, 1e-30), "eta", id="relu-eta-tiny"),
    pytest.param(lambda: units_for_error(5e-324, 1e3, 1e-3), "b", id="relu-range-overflow"),
    pytest.param(lambda: inverse_sqrt_relu(10.0, 1.0, 4), "b", id="relu-a-above-b"),
    pytest.param(lambda: sample_pca_instances(2, 3, 8, _g(), lam_range=(0.1, math.inf)), "lam_range",
                 id="pca-lam-range-inf"),
    pytest.param(lambda: sample_pca_instances(2, 3, 8, _g(), min_gap=-1.0), "min_gap", id="pca-min-gap-negative"),
    pytest.param(lambda: inexact_rayleigh_bias(-2.0), "eta", id="rayleigh-bias-eta-out-of-range"),
    pytest.param(lambda: deflation_boundary_violated(torch.ones(2, 3, dtype=F64), 5, 0.1), "eigvals",
                 id="deflation-k-above-d"),
    pytest.param(lambda: sample_gmm(2, 3, 1, 1.0, _g()), "N", id="gmm-one-sample"),
    pytest.param(lambda: snr(NAN, 3, 8), "mu_norm", id="snr-mu-nan"),
    pytest.param(lambda: power_labels(X, torch.zeros(2, 4, dtype=F64), 3), "seeds", id="power-labels-zero-seed"),
    pytest.param(lambda: power_labels(X, torch.ones(2, 5, dtype=F64), 3), "seeds", id="power-labels-seed-shape"),
    pytest.param(lambda: scalar_loss([NAN], 8, 3), r"a\[0\]", id="landscape-a-nan"),
    pytest.param(lambda: mc_gradient(torch.eye(3, dtype=F64)[None], torch.eye(3, dtype=F64), 8, 1, 4, _g()),
                 "batches", id="landscape-one-batch"),
    pytest.param(lambda: gauge_transform(torch.ones(3, 2, dtype=F64), torch.ones(4, 2, dtype=F64),
                                         torch.ones(2, 2, dtype=F64)), "A", id="gauge-A-singular"),
    pytest.param(lambda: oscillator_eigenfunctions(torch.zeros(5, 2, dtype=F64), []), "multi_indices",
                 id="oscillator-no-indices"),
]


@pytest.mark.parametrize("call,argument", CASES)
def test_theory_bad_input_names_the_argument(call, argument):
    """The message starts with the argument's name (the suite's "argument: reason" convention)."""
    with pytest.raises(ValueError, match="^" + argument):
        call()


def test_checks_leave_valid_input_alone():
    """The new symmetry/PSD checks accept what the algorithms are run on: S = XᵀX (rank-deficient, n < d)."""
    p = _prompt(n=2, d=3)
    assert torch.isfinite(newton_solution_path(p, 3).iterates).all()
    S = p.X.transpose(1, 2) @ p.X / p.n
    run = power_deflation(S, torch.randn(2, 2, 3, generator=_g(), dtype=F64), 3)
    assert torch.isfinite(run.lam).all()
