"""ryu24 objective and estimators: exact forms vs theory/, unbiasedness by enumerating every minibatch."""

from __future__ import annotations

import itertools

import pytest
import torch

from empirical.papers.ryu24.neuralsvd.models import FunctionTable, SVDPair
from empirical.papers.ryu24.neuralsvd.objective import Moments, lora_loss, neuralef_loss
from empirical.papers.ryu24.neuralsvd.operators import KernelOperator, MatrixOperator
from theory.low_rank import lora_objective, nested_lora_objective, sequential_gradient
from theory.operators_reference import gaussian_kernel

f64 = torch.float64


def _svd_model(m, n, L, gen):
    return SVDPair(
        FunctionTable(m, L, init_scale=1.0, generator=gen, dtype=f64),
        FunctionTable(n, L, init_scale=1.0, generator=gen, dtype=f64),
    )


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("nesting", ["joint", "sequential", "none"])
def test_ryu24_exact_svd_loss_matches_theory(nesting, gen):
    T = torch.randn(5, 4, generator=gen, dtype=f64)
    model = _svd_model(5, 4, 3, gen)
    gF, gG = _grads(model, lora_loss(MatrixOperator(T).moments(model), nesting))
    F, G = model.f.table.detach(), model.g.table.detach()
    if nesting == "sequential":
        dF, dG = sequential_gradient(T, F, G)
    else:
        Fr, Gr = F.clone().requires_grad_(), G.clone().requires_grad_()
        (nested_lora_objective if nesting == "joint" else lora_objective)(T, Fr, Gr).backward()
        dF, dG = Fr.grad, Gr.grad
    assert torch.allclose(gF, dF, atol=1e-12) and torch.allclose(gG, dG, atol=1e-12)


@pytest.mark.parametrize("nesting", ["joint", "sequential"])
def test_ryu24_exact_evd_gradient_is_twice_the_svd_field(nesting, gen):
    A = torch.randn(5, 5, generator=gen, dtype=f64)
    S = A + A.T
    model = FunctionTable(5, 3, init_scale=1.0, generator=gen, dtype=f64)
    (g,) = _grads(model, lora_loss(MatrixOperator(S, symmetric=True).moments(model), nesting))
    F = model.table.detach()
    if nesting == "sequential":
        ref = 2 * sequential_gradient(S, F, F)[0]  # f = g: both factors move together
    else:
        Fr = F.clone().requires_grad_()
        nested_lora_objective(S, Fr, Fr).backward()
        ref = Fr.grad
    assert torch.allclose(g, ref, atol=1e-12)


def _expectation(op, model, batches, nesting):
    """Average loss and gradient over an enumerated, equally likely set of batches."""
    tot, grads = 0.0, None
    for b in batches:
        loss = lora_loss(op.moments(model, b), nesting)
        gr = _grads(model, loss)
        tot += float(loss.detach())
        grads = gr if grads is None else [a + c for a, c in zip(grads, gr, strict=True)]
    k = len(batches)
    return tot / k, [a / k for a in grads]


@pytest.mark.parametrize("nesting", ["joint", "sequential"])
def test_ryu24_matrix_minibatch_estimator_is_unbiased(nesting, gen):
    m, n = 3, 2
    T = torch.randn(m, n, generator=gen, dtype=f64)
    model = _svd_model(m, n, 2, gen)
    batches = [
        (torch.tensor(r), torch.tensor(c))
        for r in itertools.product(range(m), repeat=2)
        for c in itertools.product(range(n), repeat=2)
    ]
    val, grads = _expectation(MatrixOperator(T), model, batches, nesting)
    exact = lora_loss(MatrixOperator(T).moments(model), nesting)
    ex_grads = _grads(model, exact)
    assert val == pytest.approx(float(exact.detach()), abs=1e-12)
    for a, b in zip(grads, ex_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_ryu24_symmetric_minibatch_u_statistic_is_unbiased(gen):
    A = torch.randn(3, 3, generator=gen, dtype=f64)
    S = A + A.T
    model = FunctionTable(3, 2, init_scale=1.0, generator=gen, dtype=f64)
    batches = [(torch.tensor(r), torch.tensor(r)) for r in itertools.product(range(3), repeat=4)]
    op = MatrixOperator(S, symmetric=True)
    val, (g,) = _expectation(op, model, batches, "joint")
    exact = lora_loss(op.moments(model), "joint")
    (ge,) = _grads(model, exact)
    assert val == pytest.approx(float(exact.detach()), abs=1e-12)
    assert torch.allclose(g, ge, atol=1e-12)


def test_ryu24_kernel_u_statistic_is_unbiased(gen):
    pool = torch.randn(3, 1, generator=gen, dtype=f64)
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 2, dtype=f64)
    op = KernelOperator(pool, 0.7)
    batches = [torch.tensor(b) for b in itertools.product(range(3), repeat=4)]
    val, _ = _expectation(op, model, batches, "none")
    F = model(pool).detach()
    K = gaussian_kernel(pool, pool, 0.7)
    exact = -2 * torch.einsum("il,ij,jl->", F, K, F) / 9 + ((F.T @ F / 3) ** 2).sum()
    assert val == pytest.approx(float(exact), abs=1e-12)


def test_ryu24_neuralef_fixed_point_at_eigenvectors(gen):
    A = torch.randn(6, 6, generator=gen, dtype=f64)
    S = A @ A.T
    evals, evecs = torch.linalg.eigh(S)
    V = evecs.flip(1)[:, :3] * torch.tensor([2.0, 0.5, 3.0], dtype=f64)  # any positive scales
    Vr = V.clone().requires_grad_()
    loss = neuralef_loss(Vr, (S @ V).detach())
    loss.backward()
    assert float(Vr.grad.abs().max()) < 1e-12
    # ψ̂ has mean square 1 on the 6 "points", so R_ll = mean(ψ̂ S ψ̂) = λ_l
    assert float(loss.detach()) == pytest.approx(-float(evals.flip(0)[:3].sum()), rel=1e-10)
    Wr = (V + 0.1 * torch.randn(6, 3, generator=gen, dtype=f64)).requires_grad_()
    neuralef_loss(Wr, (S @ Wr).detach()).backward()
    assert float(Wr.grad.abs().max()) > 1e-4


def test_ryu24_objective_error(gen):
    F = torch.randn(4, 2, dtype=f64)
    with pytest.raises(ValueError, match="nesting"):
        lora_loss(Moments(torch.zeros(2), F, F, F, F), "diagonal")
    with pytest.raises(ValueError, match="moments.g_b"):
        lora_loss(Moments(torch.zeros(2), F, F, F, F[:, :1]))
    with pytest.raises(ValueError, match="TF"):
        neuralef_loss(F, F[:, :1])
    with pytest.raises(ValueError, match="T"):
        MatrixOperator(torch.randn(3, 2, dtype=f64), symmetric=True)
    with pytest.raises(ValueError, match="batch_size"):
        MatrixOperator(torch.eye(2)).sample(gen, 1)
