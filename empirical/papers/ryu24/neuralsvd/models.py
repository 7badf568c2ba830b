"""Parameterisations of the L learned functions (ryu24, Sec. 4 and App. E).

* :class:`FunctionTable` — free values on a finite index set (the functions of a finite matrix).
* :class:`JointNet` — one shared MLP with L outputs ("joint" parameterisation).
* :class:`DisjointNet` — L independent MLPs, one per function ("disjoint"; the paper's hydrogen setup).
  The L networks are stored as stacked weights (L, in, out) and run with one batched matmul, which is
  mathematically L separate networks (no parameter is shared) without a Python loop over modes.
* :class:`FourierFeatures` — fixed random Fourier features ``[cos 2πxB, sin 2πxB]`` (paper: 1024
  features, scale 0.1, for hydrogen).
* :class:`SVDPair` — (f, g) networks for the general (SVD) form on two domains.

Every module takes ``device`` and ``dtype``; inputs are (B, d), outputs (B, L).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from theory.validation import check_positive_int

__all__ = ["FunctionTable", "FourierFeatures", "JointNet", "DisjointNet", "SVDPair", "make_net", "ACTIVATIONS"]

ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "silu": nn.SiLU, "gelu": nn.GELU}


def _act_derivatives(name: str, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """σ(z), σ'(z), σ''(z) for the activations with a forward Laplacian."""
    if name == "softplus":
        s = torch.sigmoid(z)
        return nn.functional.softplus(z), s, s * (1 - s)
    if name == "tanh":
        t = torch.tanh(z)
        return t, 1 - t**2, -2 * t * (1 - t**2)
    if name == "silu":
        s = torch.sigmoid(z)
        return z * s, s + z * s * (1 - s), s * (1 - s) * (2 + z * (1 - 2 * s))
    raise ValueError(f"activation: no forward Laplacian for {name!r} (use softplus, tanh or silu)")


def _elementwise(v: Tensor, J: Tensor, lap: Tensor, f: Tensor, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Chain rule through an elementwise map: value f(v), Jacobian f'(v) J, Laplacian f'(v) Δv + f''(v)‖∇v‖²."""
    return f, f1.unsqueeze(-2) * J, f1 * lap + f2 * (J**2).sum(-2)


def _fourier_forward_laplacian(ff: FourierFeatures, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # z = 2π x B is linear in x (∇z = 2πB, Δz = 0); then cos and sin elementwise.
    W = 2 * math.pi * ff.B
    z = x @ W
    Jz = W.expand(*x.shape[:-1], *W.shape)
    lapz = torch.zeros_like(z)
    c, s = torch.cos(z), torch.sin(z)
    vc, Jc, lc = _elementwise(z, Jz, lapz, c, -s, -c)
    vs, Js, ls = _elementwise(z, Jz, lapz, s, c, -s)
    return torch.cat([vc, vs], -1), torch.cat([Jc, Js], -1), torch.cat([lc, ls], -1)


def _input_state(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    B, d = x.shape
    return x, torch.eye(d, dtype=x.dtype, device=x.device).expand(B, d, d), torch.zeros_like(x)


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


class FunctionTable(nn.Module):
    """L functions on {0, …, size−1} as a free (size, L) table; forward(idx (B,)) -> (B, L)."""

    def __init__(
        self,
        size: int,
        L: int,
        *,
        init_scale: float = 0.1,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_positive_int("size", size)
        check_positive_int("L", L)
        w = torch.randn(size, L, generator=generator, dtype=torch.float64) * init_scale
        self.table = nn.Parameter(w.to(device=device, dtype=dtype))

    def forward(self, idx: Tensor) -> Tensor:
        return self.table[idx]


class FourierFeatures(nn.Module):
    """x (B, d) -> [cos 2πxB, sin 2πxB] (B, 2k) with a fixed Gaussian B (d, k) of standard deviation ``scale``."""

    def __init__(
        self,
        in_dim: int,
        k: int,
        scale: float,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        B = torch.randn(in_dim, k, generator=generator, dtype=torch.float64) * scale
        self.register_buffer("B", B.to(device=device, dtype=dtype))
        self.out_dim = 2 * k

    def forward(self, x: Tensor) -> Tensor:
        z = 2 * math.pi * x @ self.B
        return torch.cat([torch.cos(z), torch.sin(z)], -1)


def _init_linear(fan_in: int, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    # PyTorch's default nn.Linear range U(±1/√fan_in), drawn from an explicit generator.
    bound = 1 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound


def _input_features(
    in_dim: int,
    L: int,
    width: int,
    depth: int,
    fourier: tuple[int, float] | None,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> tuple[nn.Module, int]:
    """Validate the network sizes; return the input map (Fourier features or identity) and its output width."""
    for name, v in (("in_dim", in_dim), ("L", L), ("width", width), ("depth", depth)):
        check_positive_int(name, v)
    if not fourier:
        return nn.Identity(), in_dim
    feats = FourierFeatures(in_dim, fourier[0], fourier[1], generator=generator, device=device, dtype=dtype)
    return feats, feats.out_dim


class JointNet(nn.Module):
    """One MLP ``in_dim -> width (×depth) -> L`` shared by all L functions."""

    def __init__(
        self,
        in_dim: int,
        L: int,
        *,
        width: int = 64,
        depth: int = 3,
        activation: str = "softplus",
        fourier: tuple[int, float] | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.L = L
        self.features, feat_dim = _input_features(in_dim, L, width, depth, fourier, generator, device, dtype)
        dims = [feat_dim] + [width] * depth + [L]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            lin = nn.Linear(a, b, device=device, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(_init_linear(a, (b, a), generator))
                lin.bias.copy_(_init_linear(a, (b,), generator))
            layers.append(lin)
            if i < len(dims) - 2:
                layers.append(_activation(activation))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.features(x))

    def forward_laplacian(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Exact value (B, L), input gradient (B, d, L) and Laplacian (B, L) in one forward pass.

        Propagates (v, ∇v, Δv) layer by layer: a linear map acts on all three; an activation uses
        ``Δσ(v) = σ'(v) Δv + σ''(v) ‖∇v‖²``. Checked against autograd in the tests.
        """
        v, J, lap = (
            _fourier_forward_laplacian(self.features, x)
            if isinstance(self.features, FourierFeatures)
            else _input_state(x)
        )
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                Wt = layer.weight.T
                v, J, lap = v @ Wt + layer.bias, J @ Wt, lap @ Wt
            else:
                name = next(k for k, c in ACTIVATIONS.items() if isinstance(layer, c))
                v, J, lap = _elementwise(v, J, lap, *_act_derivatives(name, v))
        return v, J, lap


class DisjointNet(nn.Module):
    """L independent MLPs ``in_dim -> width (×depth) -> 1``, run as one batched matmul per layer."""

    def __init__(
        self,
        in_dim: int,
        L: int,
        *,
        width: int = 64,
        depth: int = 3,
        activation: str = "softplus",
        fourier: tuple[int, float] | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.L = L
        # The Fourier map is a fixed (untrained) input transform; one shared draw, as in the paper's code.
        self.features, feat_dim = _input_features(in_dim, L, width, depth, fourier, generator, device, dtype)
        dims = [feat_dim] + [width] * depth + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            self.weights.append(nn.Parameter(_init_linear(a, (L, a, b), generator).to(device=device, dtype=dtype)))
            self.biases.append(nn.Parameter(_init_linear(a, (L, 1, b), generator).to(device=device, dtype=dtype)))
        self.act = _activation(activation)
        self.activation = activation

    def forward_laplacian(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """As :meth:`JointNet.forward_laplacian`, with the L networks on a leading axis.

        Memory: the input state (B, d, in) is shared by the L networks and contracted with each one's
        weights directly; after that every tensor is (L, B, …, width). No weight is copied per point (a
        broadcast ``J @ W[:, None]`` would materialise W once per point: L·B·in·width numbers).
        """
        v, J, lap = (
            _fourier_forward_laplacian(self.features, x)
            if isinstance(self.features, FourierFeatures)
            else _input_state(x)
        )
        n = len(self.weights)
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            shared = i == 0
            v = _per_network_linear(v, W, shared) + b
            J, lap = _per_network_linear(J, W, shared), _per_network_linear(lap, W, shared)
            if i < n - 1:
                v, J, lap = _elementwise(v, J, lap, *_act_derivatives(self.activation, v))
        return v.squeeze(-1).T, J.squeeze(-1).permute(1, 2, 0), lap.squeeze(-1).T

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, in), shared by the L networks
        n = len(self.weights)
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = _per_network_linear(h, W, shared=i == 0) + b  # (L, B, out)
            if i < n - 1:
                h = self.act(h)
        return h.squeeze(-1).T  # (B, L)


def _per_network_linear(h: Tensor, W: Tensor, shared: bool) -> Tensor:
    """Apply L stacked weight matrices W (L, in, out) to h: ``(…, in) -> (L, …, out)`` when h is shared by the
    L networks, else ``(L, …, in) -> (L, …, out)``. One batched contraction, no per-point copy of W."""
    if shared:
        return torch.einsum("...a,lao->l...o", h, W)
    return torch.einsum("l...a,lao->l...o", h, W)


class SVDPair(nn.Module):
    """The two families (f on the left domain, g on the right) of the general SVD form."""

    def __init__(self, f: nn.Module, g: nn.Module) -> None:
        super().__init__()
        self.f = f
        self.g = g


def make_net(kind: str, in_dim: int, L: int, **kw) -> nn.Module:
    """``kind`` in {"joint", "disjoint"} -> :class:`JointNet` / :class:`DisjointNet`."""
    if kind == "joint":
        return JointNet(in_dim, L, **kw)
    if kind == "disjoint":
        return DisjointNet(in_dim, L, **kw)
    raise ValueError(f"kind: expected 'joint' or 'disjoint', got {kind!r}")
