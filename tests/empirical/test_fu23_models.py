"""GPT-2-style and LSTM ICL models (fu23): shapes, causality, dtype/device arguments, hooks, errors."""

from __future__ import annotations

import pytest
import torch

from empirical.models.gpt2_icl import GPT2ICL, x_positions
from empirical.models.lstm import LSTMICL
from empirical.papers.fu23.training import RECIPES, curriculum_dims, icl_loss, truncate_dims
from theory.samplers import LinearRegressionTask


@pytest.mark.parametrize("make", [lambda: GPT2ICL(3, 16, 2, 2, 16), lambda: LSTMICL(3, 16, 2)])
def test_fu23_model_shapes_and_causality(make, gen):
    model = make().eval()
    p = LinearRegressionTask(d=3, n=5, m=1).sample(4, gen, dtype=torch.float32)
    tokens = p.to_interleaved()
    H = model.hidden_states(tokens)
    assert H.shape[0] == 3 and H.shape[1:3] == (4, 11)
    out = model(tokens)
    assert out.shape == (4, 11)
    assert model.predict(p).shape == (4, 6)
    changed = tokens.clone()
    changed[:, 6:] += 1.0  # later tokens must not change earlier predictions (causal)
    torch.testing.assert_close(model(changed)[:, :6], out[:, :6])


def test_fu23_model_dtype_device_and_seeded_init():
    a = GPT2ICL(2, 8, 1, 2, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64, device="cpu")
    b = GPT2ICL(2, 8, 1, 2, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in a.parameters())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    lstm = LSTMICL(2, 8, 1, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in lstm.parameters())


def test_fu23_x_positions():
    assert x_positions(3, 2).tolist() == [0, 2, 4, 6, 7]


def test_fu23_model_error():
    with pytest.raises(ValueError, match="width"):
        GPT2ICL(3, 10, 1, 4)
    with pytest.raises(ValueError, match="layers"):
        LSTMICL(3, 8, 0)
    m = GPT2ICL(3, 8, 1, 2, max_tokens=4)
    with pytest.raises(ValueError, match="tokens"):
        m(torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="tokens"):
        m.hidden_states(torch.zeros(1, 3, 3))


def test_fu23_curriculum_truncation(gen):
    r = RECIPES["quick"]["gpt2_iso"]
    assert curriculum_dims(r, 0) == r.curriculum_start_dims and curriculum_dims(r, 10**6) == r.d
    p = LinearRegressionTask(d=4, n=6, m=2).sample(3, gen)
    q = truncate_dims(p, 2)
    assert (q.X[..., 2:] == 0).all() and (q.xq[..., 2:] == 0).all()
    w = p.meta["w"][:, :2]
    torch.testing.assert_close(q.y, torch.einsum("bnd,bd->bn", p.X[..., :2], w))


def test_fu23_icl_loss_zero_for_exact_model(gen):
    class Oracle(torch.nn.Module):  # predicts the noiseless labels exactly
        def predict(self, prompt):
            return torch.cat([prompt.y, prompt.yq], 1)

    p = LinearRegressionTask(d=2, n=4, m=1).sample(2, gen)
    assert float(icl_loss(Oracle(), p)) == 0.0


@pytest.mark.parametrize("make", [lambda g: GPT2ICL(3, 16, 2, 2, 16, generator=g),
                                  lambda g: LSTMICL(3, 16, 2, generator=g)])
def test_fu23_model_init_uses_only_its_generator(make):
    state = torch.random.get_rng_state()
    a = make(torch.Generator().manual_seed(7)).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)  # no draw from the global RNG
    torch.manual_seed(12345)  # a different global state must not change the weights
    b = make(torch.Generator().manual_seed(7)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.isfinite(v).all() for v in a.values())  # every parameter was initialised (skip_init leaves none)


def test_fu23_training_interrupted_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import dataclasses

    import empirical.papers.fu23.training as ft
    from empirical.checkpoints import read_sidecar, run_checkpoint_path

    monkeypatch.setattr(ft, "RESUME_EVERY", 2)
    r = dataclasses.replace(RECIPES["quick"]["gpt2_iso"], steps=5, width=8, heads=2, layers=1, batch_size=4,
                            warmup=1, curriculum_every=2)
    straight, _ = ft.train_recipe(r, progress=False)

    calls = {"n": 0}

    def failing_loss(model, prompt):
        calls["n"] += 1
        if calls["n"] == 4:  # interrupted during step 3, after the state of step 2 was written
            raise KeyboardInterrupt
        return icl_loss(model, prompt)

    monkeypatch.setattr(ft, "icl_loss", failing_loss)
    weights = run_checkpoint_path(tmp_path, "fu23", r.name, dataclasses.asdict(r))
    with pytest.raises(KeyboardInterrupt):
        ft.load_or_train(r, "cpu", tmp_path, progress=False, retrain=True)
    assert weights.with_suffix(".resume.pt").exists()
    monkeypatch.setattr(ft, "icl_loss", icl_loss)
    resumed, _ = ft.load_or_train(r, "cpu", tmp_path, progress=False, retrain=True)
    assert not weights.with_suffix(".resume.pt").exists()  # dropped once the model is stored
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    side = read_sidecar(weights)
    assert side["config"]["steps"] == 5 and side["command"].startswith("python -m empirical.papers.fu23.training")


def test_recorded_command_retrains_a_custom_recipe(tmp_path):
    """A recipe that no profile holds (shrunk through settings) records a command that rebuilds that recipe: the
    command's own arguments, run, store a model under the same recipe identity (not '--profile custom')."""
    import dataclasses
    import shlex

    import empirical.papers.fu23.training as ft
    from empirical.checkpoints import read_sidecar, run_checkpoint_path

    r = dataclasses.replace(ft.RECIPES["quick"]["gpt2_iso"], steps=3, width=8, layers=1, heads=2, batch_size=4,
                            warmup=1)
    assert ft.profile_of(r) == "custom"
    _, info = ft.load_or_train(r, "cpu", tmp_path / "a", progress=False, retrain=True)
    argv = shlex.split(info["command"])
    assert argv[:3] == ["python", "-m", "empirical.papers.fu23.training"] and "--profile" not in argv, argv
    argv[argv.index("--out") + 1] = str(tmp_path / "b")
    assert ft.main([*argv[3:], "--threads", "1"]) == 0
    again = run_checkpoint_path(tmp_path / "b", "fu23", r.name, dataclasses.asdict(r))
    assert again.exists() and read_sidecar(again)["config"] == dataclasses.asdict(r)


def test_recipe_argument_errors_name_it(capsys):
    import empirical.papers.fu23.training as ft

    assert ft.main(["--recipe", "{\"name\": 1}"]) == 2
    assert "--recipe" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "needle"), [
    (["--models", "nope"], "--models: unknown recipe(s) ['nope']"),
    (["--models", "gpt2_iso", "--recipe", "{}"], "--recipe: give either --recipe or --models"),
])
def test_retrain_command_names_its_bad_argument(argv, needle, capsys):
    import empirical.papers.fu23.training as ft

    assert ft.main(argv) == 2
    assert needle in capsys.readouterr().err
