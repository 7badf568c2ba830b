"""Small, safe model files: safetensors weights + a sidecar JSON (config, exact command, seed, metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save as st_save

from empirical.artifacts import atomic_write_bytes, write_json

__all__ = ["save_model", "load_model_state", "read_sidecar"]


def save_model(model: torch.nn.Module, path: Path | str, *, config: dict[str, Any], command: str, seed: int,
               metrics: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (.safetensors) and ``path.with_suffix('.json')`` atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"path: expected a .safetensors file name, got {path.name!r}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, st_save(state))
    write_json(path.with_suffix(".json"), {"config": config, "command": command, "seed": seed,
                                           "metrics": metrics or {}, "weights": path.name})
    return path


def read_sidecar(path: Path | str) -> dict[str, Any]:
    side = Path(path).with_suffix(".json")
    if not side.exists():
        raise FileNotFoundError(f"path: no sidecar {side} next to the checkpoint")
    return json.loads(side.read_text())


def load_model_state(model: torch.nn.Module, path: Path | str, device: torch.device | str = "cpu") -> torch.nn.Module:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: checkpoint {path} does not exist")
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model
