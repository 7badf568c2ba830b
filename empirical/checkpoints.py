"""Small, safe model files: safetensors weights + a sidecar JSON (config, exact command, seed, metrics)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as st_save

from empirical.artifacts import atomic_write_bytes, to_jsonable, write_json

__all__ = ["save_model", "load_model_state", "read_sidecar", "stored_or_trained", "STORED"]


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


#: Where the suite keeps the small quick-profile models it trained itself (committed, used by tests).
STORED = Path(__file__).with_name("checkpoints")


def stored_or_trained(ctx, name: str, config: dict[str, Any], build: Callable[[], torch.nn.Module],
                      fit: Callable[[torch.nn.Module], dict[str, Any]]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load ``STORED/<paper>/<name>.safetensors`` when its sidecar config and seed match and ``ctx.retrain`` is
    False; otherwise build, ``fit`` (returns training metrics) and store the model with the exact command.

    Returns:
        (model on ctx.device, info) where info has ``source`` ("stored" or "trained"), ``command``, metrics.
    """
    paper = ctx.claim_id.split(".")[0]
    path = STORED / paper / f"{name}.safetensors"
    command = f"icl-verify run {ctx.claim_id} --profile {ctx.profile} --seed {ctx.seed} --retrain"
    cfg = to_jsonable(config)
    if not ctx.retrain and path.exists():
        side = read_sidecar(path)
        if side.get("config") == cfg and side.get("seed") == ctx.seed:
            model = load_model_state(build(), path, device="cpu").to(ctx.device)
            return model, {"source": "stored", "path": str(path.relative_to(STORED.parent.parent)),
                           "command": side["command"], "metrics": side.get("metrics", {})}
    model = build()
    metrics = fit(model)
    save_model(model, path, config=cfg, command=command, seed=ctx.seed, metrics=metrics)
    return model, {"source": "trained", "path": str(path.relative_to(STORED.parent.parent)), "command": command,
                   "metrics": metrics}
