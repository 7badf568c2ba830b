"""ryu24 comparison helpers: the paired log-ratio interval, weight averaging during training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from empirical.papers.ryu24.neuralsvd.compare import paired_log_ratio
from empirical.papers.ryu24.neuralsvd.experiments import WeightAverage, fit
from empirical.papers.ryu24.neuralsvd.models import FunctionTable
from empirical.papers.ryu24.neuralsvd.operators import MatrixOperator
from empirical.train import TrainConfig


def test_ryu24_paired_log_ratio_is_a_t_interval_of_the_per_seed_log_ratios(rng):
    a, b = rng.uniform(1e-3, 1e-2, 6), rng.uniform(1e-3, 1e-2, 6)
    e = paired_log_ratio(a, b)
    d = np.log10(a) - np.log10(b)
    lo, hi = stats.t.interval(0.95, 5, loc=d.mean(), scale=stats.sem(d))
    assert e.mean == pytest.approx(d.mean()) and e.interval == pytest.approx((lo, hi))
    assert "Student-t" in e.method and "5 degrees" in e.method


def test_ryu24_paired_log_ratio_detects_a_consistent_ratio_and_pairs_the_seeds(rng):
    base = 10 ** rng.uniform(-4, -2, 5)  # seeds differ by orders of magnitude; the ratio does not
    e = paired_log_ratio(0.5 * base * (1 + 0.01 * rng.standard_normal(5)), base)
    assert e.high < 0 and e.mean == pytest.approx(math.log10(0.5), abs=0.01)


def test_ryu24_paired_log_ratio_errors():
    with pytest.raises(ValueError, match="a/b"):
        paired_log_ratio([1.0], [1.0])
    with pytest.raises(ValueError, match="level"):
        paired_log_ratio([1.0, 2.0], [1.0, 2.0], level=1.0)
    assert math.isnan(paired_log_ratio([0.0, 1.0], [1.0, 1.0]).low)  # a zero error: no interval


def test_ryu24_weight_average_follows_the_optimizer_of_its_model_only():
    net = torch.nn.Linear(2, 1)
    other = torch.nn.Linear(2, 1)
    avg = WeightAverage(net, 0.5)
    w0 = net.weight.detach().clone()
    with avg.tracking():
        for model in (net, other):  # the other model's optimizer must not touch the average
            opt = torch.optim.SGD(model.parameters(), lr=1.0)
            model(torch.ones(1, 2)).sum().backward()
            opt.step()
    assert torch.allclose(avg.shadow[0], 0.5 * w0 + 0.5 * net.weight.detach())
    avg.copy_to_model()
    assert torch.allclose(net.weight, 0.5 * w0 + 0.5 * (w0 - 1.0))
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_ryu24_fit_with_weight_averaging_ends_on_the_average():
    """With ρ → 1 the average never leaves the initialisation; without averaging the last iterate does."""
    T = torch.diag(torch.tensor([1.0, 0.5, 0.2]))
    cfg = TrainConfig(steps=50, batch_size=1, lr=1e-2, schedule="cosine")
    init = FunctionTable(3, 2, generator=torch.Generator().manual_seed(0)).table.detach().clone()
    for ema, moved in ((1 - 1e-9, False), (None, True)):
        model = FunctionTable(3, 2, generator=torch.Generator().manual_seed(0))
        fit(model, MatrixOperator(T, symmetric=True), "sequential", cfg, device="cpu", exact=True, ema=ema)
        assert (float((model.table.detach() - init).abs().max()) > 1e-3) is moved
