"""The "How to add a paper" example (docs/howto/example/) runs as printed: its claim is verified in the
quick profile, writes its figure, and its theory functions agree with independent numpy computations."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "example"
MODULES = {  # module name the page gives each file -> file
    "theory.demo25": "theory_demo25.py",
    "empirical.plotting.demo25": "plotting_demo25.py",
    "empirical.claims._howto_demo25": "claims_demo25.py",  # "_" prefix: never picked up by the registry
}


@pytest.fixture
def example(monkeypatch):
    mods = {}
    for name, file in MODULES.items():
        spec = importlib.util.spec_from_file_location(name, EXAMPLE / file)
        mod = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, mod)  # removed again after the test
        spec.loader.exec_module(mod)
        mods[name.split(".")[0]] = mod
    return mods


def test_howto_example_claim_verified(example, out_dir):
    from empirical.claims.core import RunContext, verdict_of

    claim = example["empirical"].CLAIMS[0]
    assert claim.id == "demo25.lemma1" and example["empirical"].PAPER.key == "demo25"
    ctx = RunContext(
        profile="quick", device=torch.device("cpu"), seed=0, out_dir=out_dir, claim_id=claim.id, progress=False
    )
    outcome = claim.runner(ctx)
    assert verdict_of(outcome.checks) == "verified"
    assert outcome.checks[0].measured <= 1.0  # R(w_1) <= R(0): the lemma itself, not only the tolerance
    assert (out_dir / outcome.figures[0]).is_file()


def test_howto_example_theory_matches_numpy(example, gen):
    from theory.samplers import LinearRegressionTask

    theory = example["theory"]
    p = LinearRegressionTask(d=3, n=7).sample(4, gen)
    X, y = p.X.double().numpy(), p.y.double().numpy()
    w = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    expected = [0.5 * np.mean((X[b] @ w[b].numpy() - y[b]) ** 2) for b in range(4)]
    np.testing.assert_allclose(theory.insample_loss(p, w).numpy(), expected, rtol=1e-13)
    w1 = theory.one_gd_step(p, 0.5).numpy()
    for b in range(4):
        S = X[b].T @ X[b] / 7
        eta = 0.5 / np.linalg.eigvalsh(S)[-1]
        np.testing.assert_allclose(w1[b], eta * X[b].T @ y[b] / 7, rtol=1e-12)


def test_howto_example_error(example, gen):
    from theory.samplers import LinearRegressionTask

    p = LinearRegressionTask(d=3, n=7).sample(2, gen)
    with pytest.raises(ValueError, match="eta_scale"):
        example["theory"].one_gd_step(p, 0.0)
