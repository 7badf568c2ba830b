"""The one place that turns ``--device auto|cpu|cuda`` into a ``torch.device``."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "DEVICE_CHOICES"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a fallback."""
    if isinstance(spec, torch.device):
        spec = spec.type if spec.index is None else f"{spec.type}:{spec.index}"
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (isinstance(spec, str) and spec.startswith("cuda:")):
        if not torch.cuda.is_available():
            raise ValueError(f"device: {spec!r} requested but no CUDA device is available (use 'auto' or 'cpu')")
        return torch.device(spec)
    raise ValueError(f"device: expected one of {', '.join(DEVICE_CHOICES)}, got {spec!r}")
