"""The one training loop: resume gives the same result as an uninterrupted run; checkpoints are atomic."""

from __future__ import annotations

import pytest
import torch

from empirical.checkpoints import load_model_state, read_sidecar, save_model
from empirical.device import resolve_device
from empirical.models.lsa import LinearTransformer
from empirical.train import TrainConfig, train
from theory.samplers import LinearRegressionTask

TASK = LinearRegressionTask(d=3, n=8)


def _run(cfg, ckpt=None, stop_after=None):
    model = LinearTransformer(3, 2, "full", init_std=0.1, generator=torch.Generator().manual_seed(0))
    c = cfg if stop_after is None else TrainConfig(**{**cfg.__dict__})
    sample = lambda g, step: TASK.sample(16, g, dtype=torch.float32)

    def loss_fn(m, p):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append(1)
        return ((m(p) - p.yq) ** 2).mean()

    calls: list[int] = []
    try:
        res = train(model, sample, loss_fn, c, checkpoint_path=ckpt, progress=False)
    except KeyboardInterrupt:
        return model, None
    return model, res


def test_resume_equals_uninterrupted(tmp_path):
    torch.use_deterministic_algorithms(True)
    try:
        cfg = TrainConfig(steps=30, batch_size=16, lr=1e-2, checkpoint_every=10, seed=4, schedule="halve",
                          halve_every=7)
        ref_model, ref = _run(cfg)
        ckpt = tmp_path / "state.pt"
        _run(cfg, ckpt, stop_after=25)  # interrupted after the step-20 checkpoint
        model, res = _run(cfg, ckpt)
        assert res.resumed_from == 20
        assert res.losses == ref.losses
        for a, b in zip(model.parameters(), ref_model.parameters(), strict=True):
            assert torch.equal(a, b)
        assert not list(tmp_path.glob("*.tmp"))
    finally:
        torch.use_deterministic_algorithms(False)


def test_resume_with_other_config_error(tmp_path):
    cfg = TrainConfig(steps=4, batch_size=4, lr=1e-2, checkpoint_every=2)
    _run(cfg, tmp_path / "s.pt")
    with pytest.raises(ValueError, match="checkpoint_path"):
        _run(TrainConfig(steps=4, batch_size=4, lr=2e-2, checkpoint_every=2), tmp_path / "s.pt")


def test_train_config_error():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(steps=1, batch_size=1, lr=0.0)
    with pytest.raises(ValueError, match="halve_every"):
        TrainConfig(steps=1, batch_size=1, lr=0.1, schedule="halve")


def test_safetensors_roundtrip(tmp_path):
    m = LinearTransformer(2, 1, "gd", init_std=1.0)
    p = save_model(m, tmp_path / "m.safetensors", config={"a": 1}, command="cmd", seed=3)
    m2 = load_model_state(LinearTransformer(2, 1, "gd", init_std=0.0), p)
    assert torch.equal(m2.A, m.A)
    assert read_sidecar(p)["command"] == "cmd"


def test_device_resolution_and_model_placement():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    m = LinearTransformer(3, 2, "gd", device=resolve_device("auto"), dtype=torch.float64)
    assert all(t.device.type == resolve_device("auto").type and t.dtype == torch.float64
               for t in [*m.parameters(), *m.buffers()])
    p = TASK.sample(2, torch.Generator().manual_seed(0))
    assert m(p).dtype == torch.float64


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_each_step_draws_from_the_seeded_stream_of_that_step(schedule):
    """The loop reseeds one generator per step: every batch is what a fresh generator seeded (seed, "data", step)
    gives, whatever came before; and the per-tensor / fused optimiser choice and the skipped constant-rate
    scheduler leave the weights those of the plain recipe (Adam at a constant lr, step by step)."""
    from empirical.seeding import torch_generator

    seen = []

    def sample(g, step):
        seen.append(torch.randn(4, generator=g, dtype=torch.float64))
        return seen[-1]

    model = torch.nn.Linear(4, 1, dtype=torch.float64)
    ref = torch.nn.Linear(4, 1, dtype=torch.float64)
    ref.load_state_dict(model.state_dict())
    loss_fn = lambda m, x: (m(x) ** 2).sum()
    cfg = TrainConfig(steps=6, batch_size=1, lr=1e-2, seed=7, schedule=schedule, warmup=2 if schedule != "constant"
                      else 0)
    train(model, sample, loss_fn, cfg, progress=False)
    for step, x in enumerate(seen):
        assert torch.equal(x, torch.randn(4, generator=torch_generator(7, "data", step), dtype=torch.float64))
    if schedule == "constant":  # the same updates by hand
        opt = torch.optim.Adam(ref.parameters(), lr=1e-2, foreach=False)
        for x in seen:
            opt.zero_grad()
            loss_fn(ref, x).backward()
            opt.step()
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
