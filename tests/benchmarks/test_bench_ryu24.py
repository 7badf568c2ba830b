"""ryu24 evaluation throughput: the operator applied to 4096 points (2-D oscillator, L = 8), forward-Laplacian
and autograd paths. (One NeuralSVD training step is timed in ``test_bench_train_step.py``; the helper
:func:`empirical.papers.ryu24.neuralsvd.experiments.train_step_fn` gives a bare step closure.)

Reference operation for the ratios: a float32 matmul (4096, 64) @ (64, 64).
"""

from __future__ import annotations

import pytest
import torch

from empirical.papers.ryu24.neuralsvd.experiments import NetConfig, train_step_fn
from empirical.papers.ryu24.neuralsvd.operators import SchrodingerOperator, harmonic_potential

from .conftest import mm_reference

POINTS = 4096


@pytest.mark.parametrize("laplacian", ["forward", "autograd"])
def test_bench_ryu24_eval_throughput(timed, laplacian):
    op = SchrodingerOperator(
        d=2, potential=harmonic_potential, shift=10.0, scale=1.0, sampler_std=1.5, method=laplacian
    )
    net = NetConfig().build(2, 8, generator=torch.Generator().manual_seed(0), device="cpu")
    x = op.sample(torch.Generator().manual_seed(1), POINTS)

    def evaluate():
        with torch.no_grad():
            return op.apply(net, x)[1]

    out = timed(
        evaluate, reference=mm_reference(POINTS, 64), group="ryu24 eval", points=POINTS, L=8, laplacian=laplacian
    )
    assert out.shape == (POINTS, 8)


def test_bench_ryu24_step_closure(timed):
    op = SchrodingerOperator(d=2, potential=harmonic_potential, shift=10.0, scale=1.0, sampler_std=1.5)
    net = NetConfig().build(2, 8, generator=torch.Generator().manual_seed(0), device="cpu")
    step = train_step_fn(net, op, "sequential", 128, "cpu")
    loss = timed(step, reference=mm_reference(128 * 32, 64), group="ryu24 step", batch=128, L=8)
    assert loss == loss  # not NaN
