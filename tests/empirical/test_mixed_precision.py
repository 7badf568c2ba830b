"""Mixed precision as an option: bf16 / fp16 autocast in the training loop (on the CPU here; the same code path
runs on CUDA), kept apart from float32 in resumable states, stored models and results folders, and reported next to
float32's numbers."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from empirical import checkpoints
from empirical.artifacts import write_json
from empirical.precision import (
    current_precision,
    default_out,
    precision_arguments,
    training_precision,
    with_precision,
)
from empirical.precision_compare import comparison_markdown
from empirical.precision_compare import main as compare_main
from empirical.train import TrainConfig, train


def _regression(generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(32, 4, generator=generator)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def _model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


def _loss(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return ((model(x.to(next(model.parameters()).dtype)) - y) ** 2).mean()


def _train(precision: str, steps: int = 20, ckpt=None, cfg: TrainConfig | None = None, model=None):
    model = _model() if model is None else model
    outputs: list[torch.dtype] = []
    model[0].register_forward_hook(lambda m, i, o: outputs.append(o.dtype))
    cfg = cfg or TrainConfig(steps=steps, batch_size=32, lr=1e-2, checkpoint_every=5)
    with training_precision(precision):
        result = train(model, _regression, _loss, cfg, checkpoint_path=ckpt, progress=False)
    return model, result, outputs


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_products_run_in_16_bits_and_weights_stay_float32(precision, dtype):
    ref, ref_result, ref_outputs = _train("float32")
    model, result, outputs = _train(precision)
    assert set(ref_outputs) == {torch.float32} and set(outputs) == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(isinstance(v, float) for v in result.losses)
    # the same seeds, other rounding: the trained weights must differ from float32's (else autocast did nothing)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), ref.parameters(), strict=True))
    # ... but train the same problem: the loss falls as float32's does
    assert result.losses[-1] < 0.5 * result.losses[0] and ref_result.losses[-1] < 0.5 * ref_result.losses[0]
    assert current_precision() == "float32"  # the block ends with the precision it started with


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_resume_equals_uninterrupted(tmp_path, precision):
    _, ref, _ = _train(precision, steps=12)
    ckpt = tmp_path / "state.pt"
    calls = []

    def stop_at_8(model, batch):
        if len(calls) == 8:
            raise KeyboardInterrupt
        calls.append(1)
        return _loss(model, batch)

    with training_precision(precision), pytest.raises(KeyboardInterrupt):
        train(_model(), _regression, stop_at_8, TrainConfig(steps=12, batch_size=32, lr=1e-2, checkpoint_every=5),
              checkpoint_path=ckpt, progress=False)
    state = torch.load(ckpt, weights_only=True)
    assert state["identity"]["train"]["precision"] == precision
    assert ("scaler" in state) == (precision == "fp16")  # fp16's loss scale is state a resume needs
    _, resumed, _ = _train(precision, steps=12, ckpt=ckpt)
    assert resumed.resumed_from == 5 and resumed.losses == ref.losses


def test_a_state_of_one_precision_is_not_resumed_in_another(tmp_path):
    ckpt = tmp_path / "state.pt"
    _train("float32", steps=5, ckpt=ckpt)
    assert "precision" not in torch.load(ckpt, weights_only=True)["identity"]["train"]  # float32 states unchanged
    with pytest.raises(ValueError, match=r"checkpoint_path: .*precision"):
        _train("bf16", steps=5, ckpt=ckpt)


def test_a_float64_model_is_refused_not_silently_trained_in_float64():
    with pytest.raises(ValueError, match=r"^precision: bf16 mixed precision trains float32 weights; .*float64"):
        _train("bf16", model=_model(torch.float64))


@pytest.mark.parametrize("bad", ["half", "float16", "", None])
def test_unknown_precision_names_the_argument(bad):
    with pytest.raises(ValueError, match="^precision: expected one of float32, bf16, fp16"), training_precision(bad):
        pass


def test_mixed_models_are_stored_beside_float32_ones_never_over_them(tmp_path):
    recipe = {"name": "toy", "steps": 3}
    fitted = []

    def fit(model, resume):
        fitted.append(current_precision())
        return {}

    def load(precision):
        with training_precision(precision):
            return checkpoints.load_or_train(paper="toy", name="m", recipe=recipe, out_dir=tmp_path, build=_model,
                                             fit=fit, command="python -m toy.train", seed=0)

    _, f32 = load("float32")
    _, bf16 = load("bf16")
    _, again = load("bf16")
    assert fitted == ["float32", "bf16"] and again["source"] == "run"  # the bf16 model is found, not retrained
    assert f32["path"] != bf16["path"] and f32["recipe_sha256"] == checkpoints.recipe_sha256(recipe)
    side = checkpoints.read_sidecar(tmp_path / bf16["path"].split(str(tmp_path) + "/")[-1])
    assert side["config"] == {**recipe, "precision": "bf16"}
    assert bf16["command"] == "python -m toy.train --precision bf16" and f32["command"] == "python -m toy.train"


def test_shipped_float32_models_are_not_used_for_a_mixed_precision_run():
    weights = sorted(checkpoints.STORED.glob("*/*.safetensors"))
    assert weights, "the suite ships quick-profile models"
    w = weights[0]
    recipe = checkpoints.read_sidecar(w)["config"]
    assert checkpoints.find_checkpoint(w.parent.name, w.stem, recipe) == w
    assert checkpoints.find_checkpoint(w.parent.name, w.stem, with_precision(recipe, "bf16")) is None


def test_precision_helpers():
    assert default_out("full", "float32").as_posix() == "results/full"
    assert default_out("full", "bf16").as_posix() == "results/full-bf16"
    assert precision_arguments("float32") == [] and precision_arguments("fp16") == ["--precision", "fp16"]
    with pytest.raises(ValueError, match="^recipe: 'precision' is set by the run"):
        with_precision({"precision": "bf16"}, "bf16")


def _claim(precision: str, verdict: str, measured: float) -> dict:
    return {"schema": "icl-verify/claim@1", "id": "p.c", "verdict": verdict, "precision": precision,
            "device": "cuda:0", "wall_time_s": 10.0 if precision == "float32" else 6.0,
            "checks": [{"name": "rel_err", "measured": measured, "op": "<=", "threshold": 0.1, "passed": True}]}


def test_comparison_sets_mixed_numbers_next_to_float32(tmp_path, capsys):
    a, b = tmp_path / "full", tmp_path / "full-bf16"
    write_json(a / "p.c.json", _claim("float32", "verified", 0.02))
    write_json(b / "p.c.json", _claim("bf16", "not reproduced", 0.03))
    text = comparison_markdown(a, b)
    assert "# bf16 next to float32" in text
    assert "| `p.c` | verdict | verified | not reproduced |  | 10 | 6 |" in text
    assert "|  | rel_err | 0.02 | 0.03 | 0.5 |  |  |" in text
    assert compare_main([str(a), str(b), "--out", str(tmp_path / "cmp.md")]) == 0
    assert (tmp_path / "cmp.md").read_text() == text
    capsys.readouterr()
    assert compare_main([str(a), str(tmp_path / "missing")]) == 2
    assert "mixed: no claim results" in capsys.readouterr().err


def test_summary_names_a_mixed_precision(tmp_path):
    from empirical.artifacts import folder_summary

    write_json(tmp_path / "p.c.json", _claim("bf16", "verified", 0.02))
    assert "Training precision: bf16 mixed precision" in folder_summary(tmp_path)
    write_json(tmp_path / "p.c.json", _claim("float32", "verified", 0.02))
    assert "Training precision" not in folder_summary(tmp_path)
    assert json.loads((tmp_path / "p.c.json").read_text())["precision"] == "float32"


def test_a_claim_run_in_bf16_records_it_and_trains_its_own_model(tmp_path):
    """ahn23.trained_1layer shrunk to 20 steps, run through the command line in float32 and in bf16."""
    from empirical.cli import main as cli_main

    train_cfg = json.dumps({"steps": 20, "batch_size": 50, "lr": 0.02})
    runs = {}
    for precision in ("float32", "bf16"):
        out = tmp_path / precision
        code = cli_main(["run", "ahn23.trained_1layer", "--device", "cpu", "--quiet", "--no-fail", "--out", str(out),
                         "--precision", precision, "--set", f"train={train_cfg}", "--set", "eval_prompts=2000"])
        assert code == 0
        runs[precision] = json.loads((out / "ahn23.trained_1layer.json").read_text())
    f32, bf16 = runs["float32"], runs["bf16"]
    assert (f32["precision"], bf16["precision"]) == ("float32", "bf16")
    assert bf16["verdict"] != "error", bf16.get("error")
    sidecars = list((tmp_path / "bf16" / "checkpoints" / "ahn23").glob("*.json"))
    assert len(sidecars) == 1
    side = json.loads(sidecars[0].read_text())
    assert side["config"]["precision"] == "bf16" and side["command"].endswith("--precision bf16")
    assert "precision" not in json.loads(next((tmp_path / "float32" / "checkpoints" / "ahn23").glob("*.json"))
                                         .read_text())["config"]
    # the same seeds and recipe in another precision: the learned weights, so the measured distance, differ
    first = {c["name"]: c["measured"] for c in f32["checks"]}
    assert {c["name"]: c["measured"] for c in bf16["checks"]}.keys() == first.keys()
    assert bf16["checks"][0]["measured"] != first[bf16["checks"][0]["name"]]
    assert "| `ahn23.trained_1layer` | verdict |" in comparison_markdown(tmp_path / "float32", tmp_path / "bf16")


def test_parallel_runs_pass_the_precision_to_every_process(tmp_path, monkeypatch):
    from empirical import jobs
    from empirical.cli import main as cli_main

    seen = {}

    def fake_run_groups(groups, *, jobs, threads, common, out_dir, overrides):
        seen["common"] = list(common)
        raise SystemExit(0)

    monkeypatch.setattr(jobs, "run_groups", fake_run_groups)
    with pytest.raises(SystemExit):
        cli_main(["run", "ahn23", "fu23", "--jobs", "2", "--precision", "fp16", "--out", str(tmp_path)])
    i = seen["common"].index("--precision")
    assert seen["common"][i + 1] == "fp16"


def test_a_mixed_precision_run_on_the_cpu_says_it_is_meant_for_a_gpu(tmp_path, capsys):
    from empirical.cli import main as cli_main

    assert cli_main(["run", "ahn23.lemma1", "--device", "cpu", "--precision", "bf16", "--quiet", "--out",
                     str(tmp_path)]) == 0
    assert "note: --precision bf16 on cpu" in capsys.readouterr().err
    assert json.loads((tmp_path / "ahn23.lemma1.json").read_text())["precision"] == "bf16"


def test_unknown_precision_on_the_command_line_is_a_usage_error(capsys):
    from empirical.cli import main as cli_main

    assert cli_main(["run", "ahn23.lemma1", "--precision", "half"]) == 2
    err = capsys.readouterr().err
    assert "--precision" in err and "half" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_on_cuda(precision, dtype):
    model = _model().cuda()
    outputs: list[torch.dtype] = []
    model[0].register_forward_hook(lambda m, i, o: outputs.append(o.dtype))

    def sample(g, step):
        x, y = _regression(g, step)
        return x.cuda(), y.cuda()

    with training_precision(precision):
        result = train(model, sample, _loss, TrainConfig(steps=20, batch_size=32, lr=1e-2), progress=False)
    assert set(outputs) == {dtype} and all(p.dtype == torch.float32 and p.is_cuda for p in model.parameters())
    assert result.losses[-1] < 0.5 * result.losses[0]


def test_distributed_command_trains_in_mixed_precision_and_refuses_float64(tmp_path, capsys):
    from empirical.distributed import main as dist_main

    common = ["--family", "toy-linreg", "--steps", "3", "--batch-size", "8", "--device", "cpu", "--quiet"]
    assert dist_main([*common, "--precision", "bf16", "--dtype", "float64", "--out", str(tmp_path / "a")]) == 2
    assert "--precision: bf16 mixed precision trains float32 weights; --dtype is float64" in capsys.readouterr().err
    assert dist_main([*common, "--precision", "bf16", "--out", str(tmp_path / "b")]) == 0
    assert checkpoints.read_sidecar(tmp_path / "b" / "model.safetensors")["config"]["precision"] == "bf16"
