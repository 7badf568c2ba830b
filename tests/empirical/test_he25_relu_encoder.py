"""he25 trainable model and training helpers: shapes, dtype/device, invariances of the losses, stored checkpoints."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from empirical.models.relu_encoder import ReLUEncoder, relu_attention_scores
from empirical.papers.he25.training import (
    CHECKPOINT_DIR,
    RECIPES,
    build_model,
    gmm_batch,
    gmm_loss,
    load_or_train,
    pca_batch,
    pca_loss,
    predict_gmm_labels,
    seeded_linear_init_,
)


def test_encoder_shapes_dtype_device():
    m = ReLUEncoder(3, E=8, n_layers=2, n_heads=2, pooled_out=5, token_out=1, device="cpu", dtype=torch.float64)
    out = m(torch.randn(4, 6, 3, dtype=torch.float64), return_hidden=True)
    assert out["pooled"].shape == (4, 5) and out["token"].shape == (4, 6, 1)
    assert out["hidden"].shape == (3, 4, 6, 8)
    assert out["pooled"].dtype == torch.float64 and out["pooled"].device.type == "cpu"


def test_relu_attention_normalised_by_tokens():
    q = torch.ones(1, 1, 4, 2)
    k = torch.ones(1, 1, 4, 2)
    A = relu_attention_scores(q, k, 4)
    assert torch.allclose(A, torch.full_like(A, 2 / 2**0.5 / 4))
    assert (relu_attention_scores(q, -k, 4) == 0).all()  # negative scores are cut by the ReLU


def test_encoder_permutation_equivariant():
    m = seeded_linear_init_(
        ReLUEncoder(3, E=8, n_layers=2, n_heads=2, pooled_out=2, token_out=1, dtype=torch.float64), 0
    )
    X = torch.randn(2, 5, 3, dtype=torch.float64)
    perm = torch.tensor([3, 0, 4, 1, 2])
    a, b = m(X), m(X[:, perm])
    assert torch.allclose(a["pooled"], b["pooled"], atol=1e-12)
    assert torch.allclose(a["token"][:, perm], b["token"], atol=1e-12)


def test_encoder_error():
    with pytest.raises(ValueError, match="n_heads"):
        ReLUEncoder(3, E=10, n_heads=3, pooled_out=1)
    with pytest.raises(ValueError, match="pooled_out"):
        ReLUEncoder(3)
    with pytest.raises(ValueError, match="X"):
        ReLUEncoder(3, E=8, n_heads=2, pooled_out=1)(torch.randn(2, 5, 4))


def test_losses_invariances(gen):
    r = replace(RECIPES["gmm_d5_L4"], E=8, layers=1, heads=2)
    m = build_model(r)
    b = gmm_batch(r, gen, 4)
    flipped = {**b, "y": -b["y"]}
    assert torch.allclose(gmm_loss(m, b), gmm_loss(m, flipped))  # label swap
    rp = replace(RECIPES["pca_d5_L4"], E=8, layers=1, heads=2)
    mp = build_model(rp)
    bp = pca_batch(rp, gen, 4)
    assert torch.isfinite(pca_loss(mp, bp, rp))
    # targets are sign-canonicalised: the largest |entry| of every label vector is positive
    v = bp["vecs64"]
    assert (torch.gather(v, -1, v.abs().argmax(-1, keepdim=True)) > 0).all()


def test_seeded_init_reproducible():
    r = replace(RECIPES["pca_d5_L4"], E=8, layers=1, heads=2)
    a, b = build_model(r), build_model(r)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_stored_checkpoints_load(name):
    path = CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.exists():
        pytest.fail(f"missing stored quick model {path}; retrain: python -m empirical.papers.he25.training {name}")
    model, trained = load_or_train(name)
    assert not trained
    from empirical.checkpoints import read_sidecar

    command = read_sidecar(path)["command"]
    assert command.startswith("python -m empirical.papers.he25.training") and name in command
    if RECIPES[name].task == "gmm":
        b = gmm_batch(RECIPES[name], torch.Generator().manual_seed(1), 8)
        assert predict_gmm_labels(model, b["X64"]).shape == (8, RECIPES[name].N)


def test_he25_retrain_trains_each_recipe_once_per_process_into_the_out_folder(monkeypatch, tmp_path):
    import empirical.checkpoints as ck
    import empirical.papers.he25.training as ht

    calls = []

    def fake_fit(r, model, device, progress, resume):  # stands in for a fresh training
        calls.append(r.name)
        return {}

    monkeypatch.setattr(ht, "_fit", fake_fit)
    monkeypatch.setattr(ck, "_TRAINED_NOW", set())
    name = next(iter(ht.RECIPES))
    assert ht.load_or_train(name, out_dir=tmp_path)[1] is False  # shipped checkpoint
    assert ht.load_or_train(name, out_dir=tmp_path, retrain=True)[1] is True
    assert ht.load_or_train(name, out_dir=tmp_path, retrain=True)[1] is False  # retrained in this process: loaded
    assert calls == [name]
    assert list((tmp_path / "checkpoints" / "he25").glob(f"{name}.*.safetensors"))
