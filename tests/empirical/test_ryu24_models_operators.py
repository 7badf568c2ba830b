"""ryu24 models and operators: forward Laplacian vs autograd, exact oscillator eigenfunctions, memory helpers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from empirical.papers.ryu24.neuralsvd.experiments import (
    FixedFunctions,
    NetConfig,
    TopModes,
    eval_chunk_points,
    make_loss_fn,
    model_state_bytes,
    polar_quadrature,
    psi_on_points,
    quadrature_grid,
    saved_activation_bytes,
    schrodinger_eval,
    train_step_fn,
)
from empirical.papers.ryu24.neuralsvd.models import DisjointNet, FunctionTable, JointNet, make_net
from empirical.papers.ryu24.neuralsvd.operators import SchrodingerOperator, coulomb2d_potential, harmonic_potential
from theory.operators_reference import oscillator_eigenfunctions, oscillator_levels

f64 = torch.float64


@pytest.mark.parametrize("param", ["joint", "disjoint"])
@pytest.mark.parametrize("activation", ["softplus", "tanh", "silu"])
@pytest.mark.parametrize("fourier", [None, (8, 0.3)])
def test_ryu24_forward_laplacian_matches_autograd(param, activation, fourier, gen):
    op = SchrodingerOperator(d=2, potential=harmonic_potential, shift=10.0, scale=1.0, sampler_std=1.5)
    net = NetConfig(param=param, width=16, depth=2, activation=activation, fourier=fourier).build(
        2, 3, generator=gen, device="cpu", dtype=f64
    )
    x = op.sample(gen, 32, dtype=f64)
    fwd = op.laplacian(net, x)
    ad = replace(op, method="autograd").laplacian(net, x)
    assert torch.allclose(fwd, ad, rtol=1e-10, atol=1e-12)


class _Exact(nn.Module):
    """u = (true eigenfunctions)/√q: an exact solution in the operator's scaling."""

    def __init__(self, op, idx):
        super().__init__()
        self.op, self.idx = op, idx
        self.w = nn.Parameter(torch.ones((), dtype=f64))

    def forward(self, x):
        return self.w * oscillator_eigenfunctions(x, self.idx) / self.op.sqrt_density(x)[:, None]


@pytest.mark.parametrize("d,L", [(1, 3), (2, 6)])
def test_ryu24_schrodinger_applies_shifted_negated_hamiltonian(d, L, gen):
    op = SchrodingerOperator(
        d=d, potential=harmonic_potential, shift=12.0, scale=0.5, sampler_std=1.5, method="autograd"
    )
    E, idx = oscillator_levels(d, L)
    model = _Exact(op, idx)
    x = op.sample(gen, 64, dtype=f64)
    u, TU = op.apply(model, x)
    assert torch.allclose(TU, 0.5 * (12.0 - E) * u.detach(), atol=1e-9)
    pts, w = quadrature_grid(d, 7.0, 400 if d == 1 else 120)
    ev = schrodinger_eval(model, op, E, lambda z: oscillator_eigenfunctions(z, idx), pts, w)
    assert max(ev.rel_err) < 1e-8 and min(ev.capture) > 1 - 1e-8 and ev.orthogonality < 1e-8


def test_ryu24_disjoint_networks_share_nothing(gen):
    net = DisjointNet(2, 3, width=8, depth=2, generator=gen, dtype=f64)
    x = torch.randn(5, 2, dtype=f64)
    net(x)[:, 1].sum().backward()
    for W in net.weights:
        assert float(W.grad[0].abs().max()) == 0 and float(W.grad[2].abs().max()) == 0
        assert float(W.grad[1].abs().max()) > 0


def test_ryu24_models_dtype_and_device(gen):
    for cls in (JointNet, DisjointNet):
        net = cls(2, 3, width=8, generator=gen, dtype=f64, device="cpu")
        y = net(torch.zeros(4, 2, dtype=f64))
        assert y.shape == (4, 3) and y.dtype == f64 and y.device.type == "cpu"
    assert FunctionTable(5, 2, generator=gen)(torch.tensor([0, 4])).dtype == torch.float32


def test_ryu24_same_seed_same_init():
    a = JointNet(2, 3, generator=torch.Generator().manual_seed(3))
    b = JointNet(2, 3, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_ryu24_memory_helpers_and_train_step(gen):
    op = SchrodingerOperator(d=1, potential=harmonic_potential, shift=8.0, scale=1.0, sampler_std=1.5)
    net = JointNet(1, 2, width=8, depth=2, generator=gen)
    n_params = sum(p.numel() for p in net.parameters())
    assert model_state_bytes(net) == 16 * n_params
    x = op.sample(gen, 16)
    b_seq = saved_activation_bytes(make_loss_fn(op, "sequential"), net, x)
    b_joint = saved_activation_bytes(make_loss_fn(op, "joint"), net, x)
    assert b_seq > 0 and b_joint > 0
    step = train_step_fn(net, op, "sequential", 16, "cpu")
    assert torch.isfinite(torch.tensor(step()))


def test_ryu24_hydrogen_potential():
    x = torch.tensor([[3.0, 4.0]], dtype=f64)
    assert float(coulomb2d_potential(x)) == pytest.approx(-0.2)


def test_ryu24_models_operators_error(gen):
    with pytest.raises(ValueError, match="kind"):
        make_net("shared", 2, 3)
    with pytest.raises(ValueError, match="activation"):
        JointNet(2, 3, activation="relu6")
    with pytest.raises(ValueError, match="method"):
        SchrodingerOperator(d=1, potential=harmonic_potential, shift=1.0, scale=1.0, sampler_std=1.0, method="fd")
    with pytest.raises(ValueError, match="sampler_std"):
        SchrodingerOperator(d=1, potential=harmonic_potential, shift=1.0, scale=1.0, sampler_std=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        SchrodingerOperator(d=1, potential=harmonic_potential, shift=1.0, scale=1.0, sampler_std=1.0).sample(gen, 1)
    with pytest.raises(ValueError, match="method"):
        make_loss_fn(None, "neuralef")  # type: ignore[arg-type]


def test_ryu24_chunked_evaluation_matches_unchunked(gen):
    """Hydrogen's disjoint Fourier-feature networks, evaluated in chunks of 7 points or all at once: same ψ, Tψ."""
    op = SchrodingerOperator(d=2, potential=coulomb2d_potential, shift=0.0, scale=100.0, sampler_std=16.0)
    net = NetConfig(param="disjoint", width=8, depth=2, fourier=(6, 0.1)).build(2, 3, generator=gen, device="cpu")
    pts, _ = quadrature_grid(2, 30.0, 10)
    whole = psi_on_points(TopModes(net, 2), op, pts, chunk=pts.shape[0])
    parts = psi_on_points(TopModes(net, 2), op, pts, chunk=7)
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(whole, parts, strict=True))
    assert whole[0].shape == (100, 2)


def test_ryu24_eval_chunk_bounds_memory_at_paper_size(gen):
    """Paper-size hydrogen (16 networks of width 128 on 1024 Fourier features): a chunk stays within 1 GiB,
    where one evaluation chunk of 8192 points used to need a 256 GiB copy of the weights."""
    net = DisjointNet(2, 16, width=128, depth=3, fourier=(1024, 0.1), generator=gen)
    n = eval_chunk_points(TopModes(net, 16), 2)
    per_point = 8 * 4 * (4 * 16 * 128 + 2048)  # (d + 2) numbers per unit, 4 live layers, plus the features
    assert 1000 < n and n * per_point <= 2**30
    v, J, lap = net.forward_laplacian(torch.randn(64, 2, generator=gen))
    assert v.shape == (64, 16) and J.shape == (64, 2, 16) and lap.shape == (64, 16)


def test_ryu24_fixed_functions_take_the_autograd_laplacian(gen):
    """Exact eigenfunctions as a FixedFunctions model (no forward Laplacian) go through the same operator."""
    op = SchrodingerOperator(d=1, potential=harmonic_potential, shift=9.0, scale=1.0, sampler_std=1.5)
    E, idx = oscillator_levels(1, 3)
    model = FixedFunctions(lambda x: oscillator_eigenfunctions(x, idx) / op.sqrt_density(x)[:, None])
    x = op.sample(gen, 32, dtype=f64)
    u, TU = op.apply(TopModes(model, 3), x)
    assert torch.allclose(TU, (9.0 - E) * u, atol=1e-9)


def test_ryu24_polar_quadrature_integrates_the_disc():
    pts, w = polar_quadrature(2.0, 40, 32)
    assert float(w.sum()) == pytest.approx(4 * torch.pi, rel=1e-12)  # area of the disc of radius 2
    r2 = (pts**2).sum(-1)
    assert float((w * r2).sum()) == pytest.approx(torch.pi * 2.0**4 / 2, rel=1e-12)  # ∫ r² = π R⁴/2
    assert float((w * pts[:, 0] * pts[:, 1]).sum()) == pytest.approx(0.0, abs=1e-12)
