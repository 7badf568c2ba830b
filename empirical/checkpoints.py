"""Model files: safetensors weights + a sidecar JSON that binds them to the recipe that produced them.

Identity. A stored model is identified by the sha256 of its *recipe*: the seeds and settings as a user or a
claim gives them (sizes, step counts, learning rates, seed streams), never numbers computed from them (a Σ
drawn from a seed, a loss). A computed float changes in its last bit with the torch build or the CPU; a recipe
does not, so a fresh machine finds the shipped models whatever torch pip picked.

Integrity. The sidecar records the sha256 of the weights file; loading checks it, the tensor names and shapes
and that every weight is finite, and raises :class:`~empirical.errors.IntegrityError` naming the file on any
mismatch. Weights are never unpickled.

Where models live.

* ``empirical/checkpoints/<paper>/`` (:data:`STORED`): the quick-profile models the suite ships. Read-only for
  a run: nothing an ``icl-verify run`` does writes there.
* ``<out>/checkpoints/<paper>/<name>.<recipe hash>.safetensors``: models a run trains (resumable from
  ``<name>.<recipe hash>.resume.pt``), reused by later runs into the same ``--out``. The hash in the name keeps
  models of other seeds, profiles or options side by side instead of over each other.

Refreshing the shipped models is a separate, explicit maintainer step (``nox -s refresh_checkpoints -- PAPER``):
retrain into a results folder, then ``python -m empirical.checkpoints promote RESULTS PAPER`` copies the
verified files into the source tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as st_save

from empirical.artifacts import atomic_write_bytes, to_jsonable, write_json
from empirical.errors import IntegrityError
from empirical.precision import precision_arguments, with_precision

__all__ = [
    "FORMAT",
    "STORED",
    "recipe_sha256",
    "recipe_argument",
    "recipe_from_argument",
    "recipes_to_train",
    "save_model",
    "read_sidecar",
    "verify_checkpoint",
    "load_model_state",
    "run_checkpoint_dir",
    "run_checkpoint_path",
    "find_checkpoint",
    "load_or_train",
    "promote",
]

FORMAT = "icl-verify/checkpoint@2"
T = TypeVar("T")

#: The quick-profile models the suite ships (committed, used by tests); never written by a run.
STORED = Path(__file__).resolve().with_name("checkpoints")


def recipe_sha256(recipe: Mapping[str, Any]) -> str:
    """sha256 of the recipe's canonical JSON (sorted keys, no whitespace; floats as Python writes them).

    Raises:
        ValueError: a non-finite number in the recipe (a setting with no canonical identity).
    """
    _check_finite("recipe", recipe)
    text = json.dumps(to_jsonable(dict(recipe)), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def recipe_argument(recipe: Any) -> list[str]:
    """``["--recipe", JSON]``: how a recorded retrain command names a recipe (a dataclass) that no profile holds,
    e.g. one shrunk through settings; :func:`recipe_from_argument` reads it back."""
    return ["--recipe", json.dumps(asdict(recipe), sort_keys=True)]


def recipe_from_argument(text: str, cls: type[T]) -> T:
    """The ``--recipe JSON`` of :func:`recipe_argument` as a ``cls`` (a recipe dataclass).

    Raises:
        ValueError: naming ``--recipe``, when the text is not JSON or not the fields of ``cls``.
    """
    try:
        return cls(**json.loads(text))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ValueError(f"--recipe: not a {cls.__name__} ({e}); expected the JSON object of its fields") from None


def recipes_to_train(recipe: str | None, names: Sequence[str], known: Mapping[str, T], cls: type[T],
                     names_flag: str) -> list[T]:
    """What a paper's retrain command trains: the one recipe of ``--recipe JSON``, else the recipes of ``known``
    that ``names`` (the command's ``names_flag`` argument) name, all of them when none is named.

    Raises:
        ValueError: naming the argument, for both given, a recipe that is not one, or an unknown name.
    """
    if recipe is not None:
        if names:
            raise ValueError(f"--recipe: give either --recipe or {names_flag}, not both")
        return [recipe_from_argument(recipe, cls)]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{names_flag}: unknown recipe(s) {unknown} (known: {', '.join(known)})")
    return [known[n] for n in names or list(known)]


def _check_finite(where: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: a recipe holds settings as given, and {value} is not one")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(f"{where}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_finite(f"{where}[{i}]", v)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(model: torch.nn.Module, path: Path | str, *, config: Mapping[str, Any], command: str, seed: int,
               metrics: Mapping[str, Any] | None = None) -> Path:
    """Write ``path`` (.safetensors) and its sidecar ``path.with_suffix('.json')`` atomically.

    Args:
        config: the recipe (see the module docstring); its sha256 is the model's identity.
        command: the exact command that retrains this model.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"path: expected a .safetensors file name, got {path.name!r}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = st_save(state)
    atomic_write_bytes(path, data)
    cfg = to_jsonable(dict(config))
    # the weights are written first: a sidecar always describes weights that are complete on disk
    write_json(path.with_suffix(".json"), {
        "format": FORMAT, "config": cfg, "recipe_sha256": recipe_sha256(cfg), "weights": path.name,
        "weights_sha256": hashlib.sha256(data).hexdigest(), "command": command, "seed": seed,
        "metrics": dict(metrics or {}), "torch": torch.__version__})
    return path


def read_sidecar(path: Path | str) -> dict[str, Any]:
    """The sidecar JSON of a weights file (not yet checked against the weights: see :func:`verify_checkpoint`)."""
    side = Path(path).with_suffix(".json")
    if not side.is_file():
        raise FileNotFoundError(f"path: no sidecar {side} next to the checkpoint")
    try:
        data = json.loads(side.read_bytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IntegrityError(f"{side}: unreadable sidecar ({type(e).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise IntegrityError(f"{side}: not a checkpoint sidecar (no 'config' object)")
    return data


def verify_checkpoint(path: Path | str) -> dict[str, Any]:
    """Check that ``path`` is the weights file its sidecar describes; returns the sidecar.

    Raises:
        IntegrityError: missing file, another format, a sidecar naming other weights, a recipe hash that
            does not match the recipe, or weights whose sha256 differs from the recorded one.
    """
    path = Path(path)
    if not path.is_file():
        raise IntegrityError(f"{path}: checkpoint weights missing")
    side = read_sidecar(path)
    if side.get("format") != FORMAT:
        raise IntegrityError(f"{path.with_suffix('.json')}: sidecar format {side.get('format')!r}, expected {FORMAT}")
    if side.get("weights") != path.name:
        raise IntegrityError(f"{path.with_suffix('.json')}: sidecar describes {side.get('weights')!r}, not {path.name}")
    if side.get("recipe_sha256") != recipe_sha256(side["config"]):
        raise IntegrityError(f"{path.with_suffix('.json')}: recipe_sha256 does not match the recorded recipe")
    if _file_sha256(path) != side.get("weights_sha256"):
        raise IntegrityError(f"{path}: sha256 of the weights differs from the sidecar's (corrupt or replaced file)")
    return side


def load_model_state(model: torch.nn.Module, path: Path | str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Load verified weights into ``model`` (same tensor names and shapes, every value finite)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: checkpoint {path} does not exist")
    verify_checkpoint(path)
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise IntegrityError(f"{path}: not a readable safetensors file ({e})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise IntegrityError(f"{path}: non-finite weights in {bad[:3]}")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0:2]
        raise IntegrityError(f"{path}: weights do not fit the model ({' '.join(first)})") from None
    return model


def run_checkpoint_dir(out_dir: Path | str, paper: str) -> Path:
    """Where a run into ``out_dir`` keeps the models it trains for ``paper``."""
    return Path(out_dir) / "checkpoints" / paper


def _matches(path: Path, digest: str) -> bool:
    if not path.is_file():
        return False
    try:
        side = read_sidecar(path)
    except FileNotFoundError:
        return False
    return side.get("recipe_sha256") == digest


def run_checkpoint_path(out_dir: Path | str, paper: str, name: str, recipe: Mapping[str, Any]) -> Path:
    """Where a run into ``out_dir`` stores model ``name`` of this recipe (the hash's first 12 hex digits)."""
    return run_checkpoint_dir(out_dir, paper) / f"{name}.{recipe_sha256(recipe)[:12]}.safetensors"


def find_checkpoint(paper: str, name: str, recipe: Mapping[str, Any], out_dir: Path | str | None = None
                    ) -> Path | None:
    """The shipped model ``name`` of ``paper`` when its recipe matches, else the one a run into ``out_dir``
    trained, else None. A match is by recipe hash only; integrity is checked when the weights are loaded."""
    digest = recipe_sha256(recipe)
    places = [STORED / paper / f"{name}.safetensors"]
    if out_dir is not None:
        places.append(run_checkpoint_path(out_dir, paper, name, recipe))
    return next((p for p in places if _matches(p, digest)), None)


#: Models (path, recipe hash) this process trained: a ``--retrain`` run trains each recipe once, however many
#: claims use it.
_TRAINED_NOW: set[tuple[str, str]] = set()


def load_or_train(*, paper: str, name: str, recipe: Mapping[str, Any], out_dir: Path | str,
                  build: Callable[[], torch.nn.Module],
                  fit: Callable[[torch.nn.Module, Path], Mapping[str, Any]],
                  command: str, seed: int, retrain: bool = False,
                  device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The stored model of this recipe, or one trained now into ``<out_dir>/checkpoints/<paper>/``.

    Args:
        build: () -> a freshly initialised model (on the CPU or ``device``).
        fit: (model, resume_path) -> training metrics; trains in place, resumable from ``resume_path``.
        command: the command that retrains this model (recorded in the sidecar).
        retrain: ignore stored models (a model this process already trained for the recipe is reused).

    Under a mixed training precision (:mod:`empirical.precision`) the precision joins the recipe and the
    command, so the model is stored apart from the float32 one and no float32 model (shipped or not) is used.

    Returns:
        (model on ``device`` in eval mode, info) with ``source`` ("shipped", "run" or "trained"), ``path``,
        ``command``, ``metrics`` and ``recipe_sha256``.
    """
    recipe = with_precision(recipe)
    command = " ".join([command, *precision_arguments()])
    digest = recipe_sha256(recipe)
    target = run_checkpoint_path(out_dir, paper, name, recipe)
    path = find_checkpoint(paper, name, recipe, out_dir) if not retrain else None
    if retrain and (str(target.resolve()), digest) in _TRAINED_NOW and _matches(target, digest):
        path = target
    if path is not None:
        side = verify_checkpoint(path)
        model = load_model_state(build(), path, device="cpu").to(device).eval()
        source = "shipped" if path.parent.resolve() == (STORED / paper).resolve() else "run"
        return model, {"source": source, "path": _display(path), "command": side["command"],
                       "metrics": side.get("metrics", {}), "recipe_sha256": digest}
    model = build()
    resume = target.with_suffix(".resume.pt")
    t0 = time.perf_counter()
    metrics = dict(fit(model, resume))
    # What retraining costs (robustness decides from it whether a claim can train a model at every seed).
    metrics.setdefault("train_seconds", round(time.perf_counter() - t0, 1))
    save_model(model, target, config=recipe, command=command, seed=seed, metrics=metrics)
    resume.unlink(missing_ok=True)
    _TRAINED_NOW.add((str(target.resolve()), digest))
    return model.to(device).eval(), {"source": "trained", "path": _display(target), "command": command,
                                     "metrics": metrics, "recipe_sha256": digest}


def _display(path: Path) -> str:
    """Shipped paths relative to the repository (stable in JSON across machines); others as given."""
    try:
        return str(path.resolve().relative_to(STORED.parent.parent))
    except ValueError:
        return str(path)


# -- maintainer command: refresh the shipped models --------------------------------------------------------


def _source_tree() -> Path:
    """The checkout's ``empirical/checkpoints`` folder; refuses an installed (site-packages) copy."""
    root = STORED.parent.parent
    if not (root / "pyproject.toml").is_file() or "site-packages" in STORED.parts:
        raise IntegrityError(f"{STORED}: not a source checkout; promote only into a clone of the repository")
    return STORED


def promote(results: Path | str, papers: list[str]) -> list[Path]:
    """Copy the verified models of ``<results>/checkpoints/<paper>/`` into the shipped folder.

    Each weights file must pass :func:`verify_checkpoint`; its sidecar is copied with the shipped file name
    (it records the command that trained the model). Returns the shipped weights paths written.
    """
    dest_root = _source_tree()
    written = []
    for paper in papers:
        src = run_checkpoint_dir(results, paper)
        weights = sorted(src.glob("*.safetensors"))
        if not weights:
            raise FileNotFoundError(f"results: no models under {src}")
        names = [w.name.split(".")[0] for w in weights]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # two recipes (seeds, profiles) of one model: which one to ship is the maintainer's call
            raise IntegrityError(f"{src}: several models named {twice}; keep only the ones to ship")
        for w in weights:
            verify_checkpoint(w)
            dest = dest_root / paper / f"{w.name.split('.')[0]}.safetensors"  # the shipped name has no hash
            dest.parent.mkdir(parents=True, exist_ok=True)
            side = read_sidecar(w)
            atomic_write_bytes(dest, w.read_bytes())
            write_json(dest.with_suffix(".json"), {**side, "weights": dest.name})
            verify_checkpoint(dest)
            written.append(dest)
    return written


def verify_all(root: Path = STORED) -> list[str]:
    """Problems of every shipped checkpoint (an empty list when all verify)."""
    problems = []
    for w in sorted(root.glob("*/*.safetensors")):
        try:
            verify_checkpoint(w)
        except (IntegrityError, FileNotFoundError) as e:
            problems.append(str(e))
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m empirical.checkpoints",
                                 description="Verify the shipped models, or promote retrained ones to them.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check every shipped model against its sidecar")
    pr = sub.add_parser("promote", help="copy <results>/checkpoints/<paper>/ models into empirical/checkpoints/")
    pr.add_argument("results", type=Path)
    pr.add_argument("papers", nargs="+")
    args = ap.parse_args(argv)
    try:
        if args.command == "verify":
            problems = verify_all()
            for p in problems:
                print(p, file=sys.stderr)
            print(f"{len(list(STORED.glob('*/*.safetensors')))} shipped models, {len(problems)} problems")
            return 1 if problems else 0
        for p in promote(args.results, args.papers):
            print(f"promoted {p}")
        return 0
    except (IntegrityError, FileNotFoundError) as e:
        print(f"python -m empirical.checkpoints: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
