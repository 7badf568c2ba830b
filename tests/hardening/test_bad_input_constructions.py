"""``icl-verify construct`` under bad input: unknown or out-of-range options, bad sizes, the memory guard.

Contract (constructions/base.py, empirical/cli.py ``_cmd_construct``): exit 2 with one stderr line naming the
flag or ``--option KEY`` (``--option: unknown key ...`` listing the valid keys for a typo), never a traceback;
sizes whose estimated memory exceeds ``--max-memory-gb`` (default 4 GiB) are refused before anything is built.

Budget: in-process cases are milliseconds (everything is refused before a tensor is made, except the
``alpha``/range cases, which run a 2-prompt construction); the huge-size cases run in a subprocess under a
3 GiB address-space cap (~3 s each, mostly interpreter and torch start-up), so that only the guard — not the
machine's free memory — can make them pass.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from constructions.base import DEFAULT_MAX_MEMORY_GB, ConstructionConfig, ConstructionReport, ConstructionSpec
from constructions.registry import available
from empirical import cli

ROOT = Path(__file__).resolve().parents[2]
CAP_BYTES = 3 * 2**30  # address-space cap of the subprocess cases: the machine has 24 GiB, shared

SMALL = {"d": "3", "n": "8", "batch": "2"}
LAYERS = {"preconditioned-gd": "2", "newton": "9", "power-method": "11", "spectral-clustering": "7"}


def _argv(name: str, *extra: str, **sizes: str) -> list[str]:
    """``construct NAME --d 3 --n 8 --layers L --batch 2 ...`` with ``sizes`` overriding the small defaults."""
    s = {**SMALL, "layers": LAYERS.get(name, "9"), **sizes}
    return ["construct", name, *(x for k, v in s.items() for x in (f"--{k}", v)), *extra]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err.strip()


# -- in-process refusals: one case per row ------------------------------------------------------------------

BAD = [
    # typos in option keys are refused with the valid keys, never ignored
    pytest.param(_argv("preconditioned-gd", "--option", "precnd=random"), "--option: unknown key 'precnd'",
                 id="pgd-key-typo"),
    pytest.param(_argv("power-method", "--option", "etaa=1e-3"), "--option: unknown key 'etaa'", id="pm-key-typo"),
    pytest.param(_argv("newton", "--option", "budgt=minimal"), "--option: unknown key 'budgt'", id="newton-key-typo"),
    pytest.param(_argv("spectral-clustering", "--option", "m=3"), "--option: unknown key 'm'", id="sc-key-typo"),
    pytest.param(_argv("preconditioned-gd", "--option", "precond"), "--option: expected KEY=VALUE", id="no-equals"),
    pytest.param(_argv("preconditioned-gd", "--option", "=3"), "--option: expected KEY=VALUE", id="empty-key"),
    pytest.param(_argv("preconditioned-gd", "--option", "precond=random", "--option", "precond=inverse"),
                 "--option: key 'precond' given twice", id="duplicate-key"),
    # option values: parsed, finite, in range, the key named
    pytest.param(_argv("power-method", "--option", "eta=nan"), "--option eta", id="eta-nan"),
    pytest.param(_argv("power-method", "--option", "eta=inf"), "--option eta", id="eta-inf"),
    pytest.param(_argv("power-method", "--option", "eta=-0.1"), "--option eta", id="eta-negative"),
    pytest.param(_argv("power-method", "--option", "eta=1e-30"), "--option eta", id="eta-tiny"),
    pytest.param(_argv("power-method", "--option", "eta=abc"), "--option eta: cannot parse", id="eta-unparsable"),
    pytest.param(_argv("power-method", "--option", "eta=0.1", "--option", "normaliser=exact"), "--option eta",
                 id="eta-ignored-by-exact"),
    pytest.param(_argv("power-method", "--option", "normaliser=fast"), "--option normaliser", id="normaliser-choice"),
    pytest.param(_argv("power-method", "--option", "k=0"), "--option k", id="k-zero"),
    pytest.param(_argv("power-method", "--option", "k=4"), "--option k", id="k-above-d"),
    pytest.param(_argv("power-method", "--option", "k=1.5"), "--option k: cannot parse", id="k-not-int"),
    pytest.param(_argv("power-method", "--option", "eta=1e-3", "--option", "a=5e-324"), "--option a/b",
                 id="a-denormal-ratio-overflows"),
    pytest.param(_argv("power-method", "--option", "eta=1e-3", "--option", "a=10", "--option", "b=1"),
                 "--option a/b", id="a-above-b"),
    pytest.param(_argv("power-method", "--option", "a=1"), "--option a/b", id="range-without-relu"),
    pytest.param(_argv("power-method", "--option", "eta=1e-3", "--option", "a=100", "--option", "b=200"),
                 "--option a/b", id="data-outside-relu-range"),
    pytest.param(_argv("spectral-clustering", "--option", "K=0"), "--option K", id="ramp-zero"),
    pytest.param(_argv("spectral-clustering", "--option", "mu=-1"), "--option mu", id="mu-negative"),
    pytest.param(_argv("spectral-clustering", "--option", "eta=1e-12"), "--option eta", id="sc-eta-tiny"),
    pytest.param(_argv("newton", "--option", "alpha=-1"), "--option alpha", id="alpha-negative"),
    pytest.param(_argv("newton", "--option", "alpha=100"), "--option alpha", id="alpha-divergent"),
    pytest.param(_argv("newton", layers="3"), "--layers", id="newton-no-newton-step"),
    pytest.param(_argv("preconditioned-gd", "--option", "convention=other"), "--option convention",
                 id="convention-choice"),
    # sizes and settings
    pytest.param(_argv("preconditioned-gd", "--cond", "1e17"), "--cond", id="cond-beyond-float64"),
    pytest.param(_argv("preconditioned-gd", "--seed", str(2**64)), "--seed", id="seed-beyond-64-bit"),
    pytest.param(_argv("preconditioned-gd", "--max-memory-gb", "0"), "--max-memory-gb", id="budget-zero"),
    pytest.param(_argv("preconditioned-gd", "--max-memory-gb", "nan"), "--max-memory-gb", id="budget-nan"),
    pytest.param(_argv("preconditioned-gd", "--max-memory-gb", "lots"), "--max-memory-gb", id="budget-unparsable"),
    pytest.param(_argv("power-method", n="2"), "--n", id="pm-n-below-d"),
    pytest.param(_argv("spectral-clustering", "--cond", "10"), "--cond", id="sc-cond-unused"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_construct_bad_input_exits_2_with_one_line(argv, needle, capsys):
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert needle in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_unknown_key_lists_the_valid_keys(capsys):
    _, err = _run(_argv("power-method", "--option", "etaa=1e-3"), capsys)
    assert "valid keys: a, b, eta, k, normaliser" in err and "did you mean 'eta'" in err


@pytest.mark.parametrize("name", sorted(available()))
def test_every_registered_construction_refuses_unknown_keys(name, capsys):
    """The key check is generic (ConstructionSpec.execute): no construction can silently ignore a typo."""
    code, err = _run(_argv(name, "--option", "no_such_key=1"), capsys)
    assert code == 2 and err.startswith("icl-verify: error: --option: unknown key 'no_such_key'"), err


def test_valid_options_still_run(capsys):
    """The checks refuse nothing valid: a ReLU normaliser run with declared options passes."""
    assert cli.main(_argv("power-method", "--option", "eta=1e-3", "--option", "k=2")) == 0
    assert "within" in capsys.readouterr().out


# -- Python API: the same checks without the CLI ------------------------------------------------------------


def _fake_spec(**kw) -> ConstructionSpec:
    def run(cfg: ConstructionConfig) -> ConstructionReport:
        return ConstructionReport("fake", {}, [{"layer": 0, "max_rel_dev": 0.0}], 1.0, "none")

    return ConstructionSpec("fake", "fake", "a fake construction", run, **kw)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        pytest.param({"d": 0}, "--d", id="d-zero"),
        pytest.param({"n": True}, "--n", id="n-bool"),
        pytest.param({"layers": 2.0}, "--layers", id="layers-float"),
        pytest.param({"batch": -1}, "--batch", id="batch-negative"),
        pytest.param({"cond": float("nan")}, "--cond", id="cond-nan"),
        pytest.param({"cond": 0.5}, "--cond", id="cond-below-1"),
        pytest.param({"seed": -1}, "--seed", id="seed-negative"),
        pytest.param({"max_memory_gb": float("inf")}, "--max-memory-gb", id="budget-inf"),
        pytest.param({"options": {"k": 2}}, "--option", id="option-value-not-str"),
    ],
)
def test_config_refuses_out_of_range_settings(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ConstructionConfig(**{"d": 3, "n": 8, "layers": 2, **kwargs})


def test_declared_keys_are_the_only_ones_accepted():
    """A new construction gets the key check by declaring its keys; declaring none refuses every option."""
    cfg = ConstructionConfig(d=3, n=8, layers=2, options={"widht": "4"})
    with pytest.raises(ValueError, match=r"^--option: unknown key 'widht' .*valid keys: width"):
        _fake_spec(options={"width": "hidden width"}).execute(cfg)
    with pytest.raises(ValueError, match=r"^--option: unknown key 'widht' .*none"):
        _fake_spec().execute(cfg)
    assert _fake_spec(options={"widht": "ok"}).execute(cfg).passed


def test_generic_memory_estimate_guards_undeclared_constructions():
    """A construction without its own estimate is still guarded (constructions.base.generic_memory)."""
    with pytest.raises(ValueError, match=r"^--max-memory-gb: fake .* GiB"):
        _fake_spec().execute(ConstructionConfig(d=100_000, n=8, layers=10))


@pytest.mark.parametrize("name", sorted(available()))
def test_estimates_of_small_settings_fit_the_default_budget(name):
    spec = available()[name]
    cfg = ConstructionConfig(d=3, n=8, layers=int(LAYERS.get(name, "9")), batch=2)
    assert 0 < sum(spec.memory_estimate(cfg).values()) < DEFAULT_MAX_MEMORY_GB * 2**30


# -- huge sizes: a subprocess under a 3 GiB address-space cap -----------------------------------------------


def _cap_address_space() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def _capped(argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from empirical.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=_cap_address_space)


HUGE = [
    pytest.param(_argv("preconditioned-gd", d="100000"), "d=100000", id="pgd-d-1e5"),
    pytest.param(_argv("newton", d="100000"), "d=100000", id="newton-d-1e5"),
    pytest.param(_argv("power-method", d="100000", n="100000"), "d=100000, n=100000", id="pm-d-1e5"),
    pytest.param(_argv("spectral-clustering", n="100000"), "attention scores", id="sc-n-1e5"),
    pytest.param(_argv("preconditioned-gd", layers="100000000"), "residual streams", id="pgd-layers-1e8"),
    # eta drives the ReLU normaliser's width: M ≈ 3.5e5 units at eta = 1e-10, times B·N activations
    pytest.param(_argv("power-method", "--option", "eta=1e-10", batch="64", n="64"), "--option eta",
                 id="pm-eta-drives-width"),
]


@pytest.mark.parametrize("argv,needle", HUGE)
def test_huge_sizes_refused_before_allocation(argv, needle):
    """Exit 2 with the estimate and the flag that raises the budget, inside a 3 GiB cap: nothing big was made."""
    r = _capped(argv)
    err = r.stderr.strip()
    assert r.returncode == 2, err
    assert err.startswith("icl-verify: error: --max-memory-gb:") and "over the 4 GiB budget" in err, err
    assert needle in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "MemoryError" not in err


def test_raised_budget_really_attempts_the_allocation():
    """Control for the case above: with the budget raised past the estimate the same run does try to allocate
    (and the capped machine refuses it), so it is the guard, not luck, that keeps the default run safe."""
    r = _capped(_argv("preconditioned-gd", "--max-memory-gb", "1e9", d="100000"))
    err = r.stderr.strip()
    assert r.returncode == 2 and "ran out of memory" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
