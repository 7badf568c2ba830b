"""The one representation (constructions.residual), its evaluator in both modes, the structure read from the
weights and the export, on hand-made programs against explicit loops and on every construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from constructions.evaluate import MODES, evaluate, final_state, head_delta, mlp_delta
from constructions.export import to_module
from constructions.linear_attention import lsa_forward, lsa_transformer
from constructions.newton import build_newton, default_scale
from constructions.newton import embed as newton_embed
from constructions.newton_paper import alpha_for, build_newton_paper
from constructions.newton_paper import embed as paper_embed
from constructions.pgd import preconditioned_gd_transformer, with_basis_queries
from constructions.power_method import Normaliser, build_power_method, embed_pca
from constructions.residual import MLP, Head, Layer, Layout, Oracle, Transformer, copy_mlp, selector, value_matrix
from constructions.spectral_clustering import build_spectral_clustering, embed_gmm
from constructions.structure import structure
from theory.samplers import LinearRegressionTask

# -- heads and MLPs against explicit loops over tokens ------------------------------------------------------


def _loop_head(head: Head, h: np.ndarray) -> np.ndarray:
    """Δ (D, T) of one head on one stream h (D, T), token by token, in numpy (the module docstring's table)."""
    Q, K, V = (W.numpy() for W in head.weights())
    D, T = h.shape
    Tk = T if head.keys is None else min(head.keys, T)
    out = np.zeros((D, T))
    for t in range(T):
        if head.kind == "offset":
            keys = [t - head.offset] if 0 <= t - head.offset < Tk else []
        else:
            keys = [s for s in range(Tk) if head.mask == "full" or s <= t]
        a = np.array([(Q @ h[:, t]) @ (K @ h[:, s]) for s in keys])
        if head.kind == "softmax":
            w = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
        elif head.kind == "relu":
            w = np.maximum(a, 0)
        elif head.kind == "signed_pair":
            w = np.maximum(a, 0) + head.second_value * np.maximum(-a, 0)
        else:  # linear, offset
            w = a
        delta = sum((w_s * (V @ h[:, s]) for w_s, s in zip(w, keys, strict=True)), np.zeros(D))
        count = {None: 1, "keys": len(keys)}.get(head.divide_by, head.divide_by)  # type: ignore[arg-type]
        out[:, t] = delta / max(count, 1)
    return out


#: (kind, mask, keys, divide_by, second_value): every kind, both masks, key prefixes, every normalisation
HEADS = [
    ("softmax", "full", None, None, -1.0), ("softmax", "causal", None, None, -1.0),
    ("relu", "full", None, "keys", -1.0), ("relu", "causal", None, "keys", -1.0), ("relu", "full", 5, None, -1.0),
    ("linear", "full", 5, "keys", -1.0), ("linear", "causal", None, 3, -1.0),
    ("signed_pair", "full", None, "keys", -1.0), ("signed_pair", "causal", None, None, -1.0),
    ("signed_pair", "full", 5, 4, 1.0), ("signed_pair", "causal", None, "keys", 1.0),
    ("offset", "full", None, None, -1.0),
]


@pytest.mark.parametrize(("kind", "mask", "keys", "divide_by", "second_value"), HEADS)
def test_every_head_kind_equals_an_explicit_loop(kind, mask, keys, divide_by, second_value, gen):
    D, T, r = 7, 9, 3
    # sparse weights, so the fast mode's support restriction and views are exercised
    Q = torch.randn(r, D, generator=gen, dtype=torch.float64) * (torch.rand(r, D, generator=gen) < 0.6)
    K = torch.randn(r, D, generator=gen, dtype=torch.float64) * (torch.rand(r, D, generator=gen) < 0.6)
    V = torch.zeros(D, D, dtype=torch.float64)
    V[4:, :3] = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    head = Head(kind, Q, K, V, mask=mask, keys=keys, divide_by=divide_by, offset=1 if kind == "offset" else 0,
                second_value=second_value)
    h = torch.randn(2, D, T, generator=gen, dtype=torch.float64)
    want = np.stack([_loop_head(head, hb) for hb in h.numpy()])
    for mode in MODES:
        np.testing.assert_allclose(head_delta(h, head, mode).numpy(), want, rtol=1e-12, atol=1e-12)


def test_mlp_parts_equal_their_definition(gen):
    L = Layout([("a", 3), ("b", 3), ("one", 1)])
    h = torch.randn(2, L.D, 5, generator=gen, dtype=torch.float64)
    W1 = torch.randn(4, L.D, generator=gen, dtype=torch.float64)
    W2 = torch.randn(L.D, 4, generator=gen, dtype=torch.float64)
    a = h[:, L["a"]]
    cases = [
        (MLP(W1, W2), W2 @ torch.relu(W1 @ h)),
        (MLP(W1, W2, "linear"), W2 @ W1 @ h),
        # ± unit pairs: b += 2a and a ← 0, exactly (σ(x) − σ(−x) = x)
        (copy_mlp(L, [("b", "a", 2.0), ("a", "a", -1.0)]), torch.cat([-a, 2 * a, torch.zeros_like(a[:, :1])], 1)),
        (Oracle(torch.exp, L["a"], L["b"]), torch.cat([torch.zeros_like(a), torch.exp(a), torch.zeros_like(a[:, :1])],
                                                       1)),
    ]
    for part, want in cases:
        for mode in MODES:
            torch.testing.assert_close(mlp_delta(h, part, mode), want, rtol=1e-13, atol=1e-13)
    exact = copy_mlp(L, [("b", "a", 2.0), ("a", "a", -1.0)])
    for mode in MODES:  # the clear is exact in both modes: a + (−a) = 0
        assert torch.equal((h + mlp_delta(h, exact, mode))[:, L["a"]], torch.zeros_like(a))


def test_parallel_mlp_parts_read_the_same_stream(gen):
    """Two parts of one MLP sub-layer act on the stream after attention, not on each other's output."""
    L = Layout([("a", 2), ("b", 2)])
    layer = Layer("swap", mlp=(copy_mlp(L, [("b", "a", 1.0), ("b", "b", -1.0)]),
                               copy_mlp(L, [("a", "b", 1.0), ("a", "a", -1.0)])))
    h = torch.randn(3, L.D, 4, generator=gen, dtype=torch.float64)
    for mode in MODES:  # a + (b − a) = b up to one rounding; reading a part's output would give O(1) errors
        out = evaluate(Transformer(L, (layer,)), h, mode).final
        torch.testing.assert_close(out, torch.cat([h[:, L["b"]], h[:, L["a"]]], 1), rtol=1e-15, atol=1e-15)


# -- every construction: fast = literal, the trace, the structure, the export -------------------------------


def _programs(gen: torch.Generator, B: int = 24) -> dict[str, tuple[Transformer, torch.Tensor]]:
    """Every construction (and its variants) built for a batch of B small prompts: name -> (program, embedded
    stream). B prompts × T tokens outnumber the width, so a probe that fits does so for a reason."""
    p = LinearRegressionTask(d=3, n=7, m=2).sample(B, gen)
    A = [torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.2 for _ in range(3)]
    pq = with_basis_queries(p)
    p1 = LinearRegressionTask(d=3, n=6, m=1).sample(B, gen)
    alpha, bound = default_scale(p)
    newton = build_newton(3, 4, alpha, bound)
    X = torch.randn(B, 8, 4, generator=gen, dtype=torch.float64) * torch.linspace(2.0, 0.5, 4, dtype=torch.float64)
    seeds = torch.randn(B, 2, 4, generator=gen, dtype=torch.float64)
    Xg = torch.randn(B, 10, 2, generator=gen, dtype=torch.float64) + 2.0
    useeds = torch.randn(B, 10, generator=gen, dtype=torch.float64)
    P, Qm = (torch.randn(2, 4, 4, generator=gen, dtype=torch.float64) for _ in range(2))
    out = {
        "preconditioned-gd": (preconditioned_gd_transformer(A, pq.n), pq.to_stacked()),
        "lsa (dense P, Q)": (lsa_transformer(P, Qm, pq.n), pq.to_stacked()),
        "newton": (newton, newton_embed(p, newton.layout)),
    }
    for variant in ("corrected", "printed"):
        m = build_newton_paper(3, 6, 3, alpha_for(p1, "official"), variant)
        out[f"newton-paper {variant}"] = (m, paper_embed(p1, m.layout))
    for nu in (Normaliser(), Normaliser.relu_for_eta(1e-3, 1e-3, 1e3)):
        m = build_power_method(4, 8, 2, 2, nu)
        out[f"power-method {nu.kind}"] = (m, embed_pca(X, seeds, m.layout))
        s = build_spectral_clustering(2, 2, nu)
        out[f"spectral-clustering {nu.kind}"] = (s, embed_gmm(Xg, useeds, s.layout))
    return out


def test_fast_and_literal_agree_on_every_construction(gen):
    # the fast mode (support, views, linear heads and ± unit pairs re-associated) computes the same function as the
    # literal dense definition: per layer, max |fast − literal| relative to the state's scale, at round-off (sums of
    # at most T·D products; the printed newton-paper variant grows doubly exponentially, hence relative)
    for name, (model, h0) in _programs(gen).items():
        fast, literal = evaluate(model, h0, "fast"), evaluate(model, h0, "literal")
        diffs = fast.max_difference(literal)
        assert max(diffs) <= 1e-12, (name, diffs)
        assert torch.equal(final_state(model, h0, "fast"), fast.final), name


def test_lsa_program_equals_the_lsa_rule(gen):
    p = with_basis_queries(LinearRegressionTask(d=3, n=7, m=2).sample(3, gen))
    P, Q = (torch.randn(2, 4, 4, generator=gen, dtype=torch.float64) for _ in range(2))
    want = lsa_forward(p.to_stacked(), P, Q, p.n)
    for mode in MODES:
        got = torch.stack(evaluate(lsa_transformer(P, Q, p.n), p.to_stacked(), mode).states)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_trace_reads_slots_and_gives_the_trained_models_form(gen):
    model, h0 = _programs(gen)["newton"]
    tr = evaluate(model, h0)
    L, T = model.num_layers, h0.shape[-1]
    assert tr.hidden_states().shape == (L + 1, 24, T, model.layout.D)
    assert tr.names[0] == "embedding" and tr.names[1:] == tuple(layer.name for layer in model.layers)
    assert tr.hook_names[-1] == f"blocks.{L - 1}.hook_resid_post"
    torch.testing.assert_close(tr.slot("u", 2), tr.hidden_states()[2][..., model.layout["u"]])
    assert tr.slot_path("out").shape == (L + 1, 24, T, 1)


def test_structure_is_counted_from_the_weights():
    L = Layout([("a", 2), ("b", 2), ("one", 1)])
    Z = torch.zeros(L.D, L.D, dtype=torch.float64)
    sel = selector(L, "a")
    idle_head = Head("relu", sel, sel, Z)  # W_V = 0: writes nothing
    pair = Head("signed_pair", sel, sel, value_matrix(L, [("b", "a", 1.0)]))
    dead = MLP(torch.zeros(3, L.D, dtype=torch.float64), torch.ones(L.D, 3, dtype=torch.float64))  # W_1 = 0
    layers = (
        Layer("identity", (idle_head,), (dead,)),
        Layer("pair + copy", (pair,), (copy_mlp(L, [("b", "a", 1.0)]),)),
        Layer("oracle", mlp=(Oracle(torch.exp, L["a"], L["b"]),)),
    )
    st = structure(Transformer(L, layers))
    assert (st.depth, st.working_layers, st.width) == (3, 2, 5)
    assert st.heads_per_layer == (0, 2, 0) and st.units_per_layer == (0, 4, 0) and st.oracle_maps == 1
    assert st.width_used == 4  # the constant slot is read or written by nothing that works
    # stored: idle head 2·2·5 + 5·5, dead MLP 2·3·5, the pair twice (2·2·5 + 5·5), copy 2·4·5
    assert st.parameters == 45 + 30 + 2 * 45 + 40
    assert st.nonzero_parameters == (2 + 2) + 15 + 2 * (2 + 2 + 2) + 8


def test_every_construction_reports_its_structure():
    from constructions.registry import available

    for name, spec in available().items():
        assert spec.paper in ("ahn23", "fu23", "he25"), name
    newton = build_newton(3, 4, 0.01, 1.0)
    st = structure(newton)
    assert (st.depth, st.working_layers, st.width) == (7, 7, 3 * 3 + 6)
    assert st.heads_per_layer == (1, 2, 2, 2, 2, 2, 2)  # pair labels, then ± pairs
    assert st.units_per_layer == (0, 0, 6, 6, 6, 6, 0)  # the doubling MLP: 2 units per entry of u


def _probe_residual(H: torch.Tensor, target: torch.Tensor) -> float:
    """Least-squares read-out ŷ = aᵀh + b of the features H (samples, D) to target (samples, k): the relative
    residual ‖ŷ − y‖ / ‖y‖."""
    A = torch.cat([H, torch.ones(H.shape[0], 1, dtype=H.dtype)], 1)
    coef = torch.linalg.lstsq(A, target, driver="gelsd").solution
    return float(torch.linalg.norm(A @ coef - target) / torch.linalg.norm(target))


@torch.no_grad()
def test_export_and_probe_every_construction(gen):
    """Every construction as an nn.Module gives the evaluator's states in the trained models' form, and a
    least-squares probe reads from them what the proof says a slot holds (and cannot from the embedding)."""
    for name, (model, h0) in _programs(gen).items():
        module = to_module(model)
        assert all(p.dtype == torch.float64 for p in module.parameters())
        hidden = module.hidden_states(h0.transpose(1, 2))
        want = evaluate(model, h0, "literal").hidden_states()
        torch.testing.assert_close(hidden, want, rtol=1e-12, atol=1e-12 * float(want.abs().max()), msg=name)
        torch.testing.assert_close(module(h0.transpose(1, 2), return_hidden=True)["hidden"], hidden)
        layer, tokens, target = _what_a_slot_holds(name, model, h0)
        H = hidden[:, :, tokens].reshape(hidden.shape[0], -1, model.layout.D)
        assert _probe_residual(H[layer], target.reshape(H.shape[1], -1)) <= 1e-9, name
        assert _probe_residual(H[0], target.reshape(H.shape[1], -1)) >= 1e-3, name  # not in the embedding


def _what_a_slot_holds(name: str, model: Transformer, h0: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(layer, tokens, target (B, tokens, k)) the proof says the stream holds, from plain float64 loops."""
    B, D, T = h0.shape
    if name.startswith(("preconditioned-gd", "lsa")):  # label row at the queries: −x_qᵀw_L (ahn23 Lemma 1)
        layers = model.layers
        Z = h0.clone()
        n = layers[0].heads[0].keys
        for layer in layers:  # Z + (1/n) P Zc (Zcᵀ Q Z), written out
            P, Q = layer.heads[0].V, layer.heads[0].Q
            Zc = Z[..., :n]
            Z = Z + P @ Zc @ (Zc.transpose(1, 2) @ Q @ Z) / n
        return len(layers), torch.arange(n, T), Z[:, -1:, n:].transpose(1, 2)
    if name == "newton":  # the read-out layer's out slot at the queries and probes: x_tᵀŵ_k
        d, k, alpha = model.params["d"], model.params["k"], model.params["alpha"]
        n = (T - d - 2) // 2
        X, y = h0[:, :d, 0:2 * n:2].transpose(1, 2), h0[:, d, 1:2 * n:2]
        w = _newton_w(X, y, k, alpha)
        tokens = torch.arange(2 * n, T)
        return model.num_layers, tokens, torch.einsum("bdt,bd->bt", h0[:, :d, tokens], w).unsqueeze(-1)
    if name.startswith("newton-paper"):  # layer 3 + k: top = M_k x_i on the x-tokens (corrected; printed: |a|)
        d, n, k, alpha = (model.params[key] for key in ("d", "n", "k", "alpha"))
        X = h0[:, :d, 0:2 * n:2].transpose(1, 2)
        if name.endswith("corrected"):
            top = X @ _newton_M(X, k, alpha)
        else:  # as printed a pair adds |·|: layer 3 holds α Σ_j |x_tᵀx_j| x_j; Newton: 2(T + ½ Σ_j |x_tᵀTx_j| Tx_j)
            top = alpha * (X @ X.transpose(1, 2)).abs() @ X
            for _ in range(k):
                top = 2 * (top + 0.5 * (X @ top.transpose(1, 2)).abs() @ top)
        return 3 + k, torch.arange(0, 2 * n, 2), top
    if name.startswith("power-method"):  # after E2 of eigenvector 1: λ̂_1 in lam[0] at every token
        nu = model.params["normaliser"]
        d, tau = model.params["d"], model.params["tau"]
        X = h0[:, :d].transpose(1, 2)
        S = X.transpose(1, 2) @ X / T
        v = h0[:, model.layout["p0"], 0]
        for _ in range(tau):
            w = (S @ v.unsqueeze(-1)).squeeze(-1)
            v = nu((w * w).sum(-1, keepdim=True)) * w
        lam = (v * (S @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
        return 1 + 3 * tau + 2, torch.arange(T), lam.view(B, 1, 1).expand(B, T, 1)
    # spectral clustering: after (C) of the last iteration, u = ν(s) G u / N per token (G = XXᵀ)
    nu, tau = model.params["normaliser"], model.params["tau"]
    X = h0[:, model.layout["x"]].transpose(1, 2)
    u = h0[:, model.layout.index("u")]
    for _ in range(tau):
        w = (X @ (X.transpose(1, 2) @ u.unsqueeze(-1))).squeeze(-1) / T
        u = nu((w * w).sum(-1, keepdim=True) / T) * w
    return 3 * tau, torch.arange(T), u.unsqueeze(-1)


def _newton_M(X: torch.Tensor, k: int, alpha: float) -> torch.Tensor:
    S = X.transpose(1, 2) @ X
    M = alpha * S
    for _ in range(k):
        M = 2 * M - M @ S @ M
    return M


def _newton_w(X: torch.Tensor, y: torch.Tensor, k: int, alpha: float) -> torch.Tensor:
    return (_newton_M(X, k, alpha) @ (X.transpose(1, 2) @ y.unsqueeze(-1))).squeeze(-1)


def test_export_runs_the_probe_pipeline_of_trained_models(gen):
    """empirical.probes reads a construction exported with a token embedding exactly as it reads GPT2ICL."""
    from constructions.newton import embed_tokens, newton_layout
    from empirical.probes import apply_probes, fit_probes, layer_features

    p = LinearRegressionTask(d=3, n=8, m=1).sample(64, gen)
    alpha, bound = default_scale(p)
    model = build_newton(3, 6, alpha, bound)
    module = to_module(model, embed=lambda tokens: embed_tokens(tokens, p.n, newton_layout(3)))
    H = layer_features(module, p)  # (L+1, B, n+1, D) at x_1 … x_n and the query
    assert H.shape == (model.num_layers + 1, 64, p.n + 1, model.layout.D)
    # the read-out layer writes x_tᵀŵ_k at every x-token: numpy Newton on the full context
    X, y = p.X.numpy(), p.y.numpy()
    targets = []
    for b in range(64):
        S = X[b].T @ X[b]
        M = alpha * S
        for _ in range(6):
            M = 2 * M - M @ S @ M
        targets.append(np.concatenate([X[b], p.xq[b].numpy()]) @ (M @ X[b].T @ y[b]))
    target = torch.tensor(np.stack(targets))
    W = fit_probes(H, target, ridge=1e-14)  # next to t² ~ 300², the default ridge would bias the read-out
    err = (apply_probes(W, H) - target).pow(2).mean((1, 2)).sqrt() / target.pow(2).mean().sqrt()
    assert float(err[-1]) <= 1e-6, err  # the last layer holds the prediction
    assert float(err[0]) >= 0.1, err  # the embedding does not


#: --layers of a small run of every registered construction
CLI_LAYERS = {"preconditioned-gd": "3", "newton": "6", "newton-paper": "11", "power-method": "11",
              "spectral-clustering": "7"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CLI_LAYERS))
def test_construct_reports_structure_and_round_off_in_both_modes(name, mode, capsys):
    import json

    from constructions.registry import available
    from empirical.cli import main

    assert set(available()) == set(CLI_LAYERS)  # a new construction gets a row here
    args = ["construct", name, "--d", "3", "--n", "8", "--layers", CLI_LAYERS[name], "--batch", "4", "--eval", mode]
    assert main([*args, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["evaluation"] == mode and rep["passed"] and rep["max_rel_dev"] <= rep["tolerance"]
    st = rep["structure"]
    assert st["depth"] == int(CLI_LAYERS[name]) == st["working_layers"]  # every layer works
    assert st["max_heads"] >= 1 and 0 < st["nonzero_parameters"] <= st["parameters"]


# -- errors -------------------------------------------------------------------------------------------------


def test_head_error_lists_every_bad_field():
    Q = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError) as e:
        Head("cosine", Q, Q, torch.zeros(3, 3, dtype=torch.float64), mask="sideways", keys=0,  # type: ignore[arg-type]
             divide_by=-1, offset=-1, second_value=0.5)
    for field in ("kind:", "mask:", "Q, K:", "keys:", "divide_by:", "offset:", "second_value:"):
        assert field in str(e.value), field


def test_layout_and_program_errors(gen):
    with pytest.raises(ValueError, match="duplicate"):
        Layout([("a", 1), ("a", 2)])
    L = Layout([("a", 2)])
    with pytest.raises(KeyError, match="no slot 'b'"):
        L["b"]
    with pytest.raises(ValueError, match="differ in size"):
        copy_mlp(Layout([("a", 2), ("b", 1)]), [("b", "a", 1.0)])
    model = Transformer(L, (Layer("copy", mlp=(copy_mlp(L, [("a", "a", 1.0)]),)),), tokens=3)
    with pytest.raises(ValueError, match="h0: expected a stream"):
        evaluate(model, torch.zeros(1, 3, 3, dtype=torch.float64))  # width
    with pytest.raises(ValueError, match="h0: expected a stream"):
        evaluate(model, torch.zeros(1, 2, 4, dtype=torch.float64))  # token count fixed by the weights
    with pytest.raises(ValueError, match="mode"):
        evaluate(model, torch.zeros(1, 2, 3, dtype=torch.float64), "approximate")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width"):
        Transformer(Layout([("a", 3)]), model.layers)


def test_construct_eval_flag_error(capsys):
    from constructions.base import ConstructionConfig
    from empirical.cli import main

    with pytest.raises(ValueError, match="--eval"):
        ConstructionConfig(d=3, n=8, layers=3, evaluation="dense")
    assert main(["construct", "newton", "--d", "3", "--n", "8", "--layers", "5", "--eval", "dense"]) == 2
    assert "--eval" in capsys.readouterr().err
