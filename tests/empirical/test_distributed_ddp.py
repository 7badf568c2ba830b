"""Scale-out training: 2 gloo processes on the CPU (torchrun) == 1 process on the same global batch.

Budget: the torchrun test takes ~15 s on a 2-core machine (two fresh interpreters import torch); the
rest is sub-second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from empirical.distributed import main, setup, shard_batch
from empirical.families import FAMILIES
from theory.samplers import LinearRegressionTask

#: Relative tolerance, float64. The 2-process run differs from the 1-process run only in how the global
#: batch mean is summed (two half-batch means averaged by the all-reduce vs one mean over all B): a
#: relative difference of order B·ε_64 ≈ 1e-15 per gradient. Adam's update m/√v is scale-free and
#: well-conditioned away from zero gradients, so over K = 20 steps the weights drift by at most
#: ~K·B·ε·(small amplification) ≈ 1e-13; 1e-10 leaves room for that and still sits 8 orders of magnitude
#: below what a real difference (another batch, a missing gradient all-reduce) produces (checked below).
DDP_RTOL = 1e-10

ROOT = Path(__file__).resolve().parents[2]


def _args(seed: int = 3) -> list[str]:
    return [
        "--family",
        "toy-linreg",
        "--steps",
        "20",
        "--batch-size",
        "8",
        "--lr",
        "1e-2",
        "--dtype",
        "float64",
        "--device",
        "cpu",
        "--seed",
        str(seed),
        "--quiet",
        "--option",
        "d=3",
        "--option",
        "n=6",
        "--option",
        "hidden=16",
    ]


def _load(out: Path) -> tuple[list[float], dict[str, torch.Tensor], dict]:
    side = json.loads((out / "model.json").read_text())
    return side["metrics"]["losses"], load_file(str(out / "model.safetensors")), side


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


@pytest.mark.train
@pytest.mark.timeout(120)
def test_two_gloo_processes_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "empirical.distributed",
        *_args(),
        "--out",
        str(tmp_path / "two"),
    ]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False)
    assert r.returncode == 0, r.stderr[-3000:]

    assert main([*_args(), "--out", str(tmp_path / "one")]) == 0  # same global batch, one process
    loss1, w1, _ = _load(tmp_path / "one")
    loss2, w2, side2 = _load(tmp_path / "two")
    assert side2["config"]["world_size"] == 2 and side2["config"]["backend"] == "gloo"
    assert len(loss1) == len(loss2) == 20
    l1, l2 = torch.tensor(loss1, dtype=torch.float64), torch.tensor(loss2, dtype=torch.float64)
    assert float(((l1 - l2).abs() / l1.abs()).max()) <= DDP_RTOL
    assert w1.keys() == w2.keys()
    for k in w1:
        assert _rel(w2[k], w1[k]) <= DDP_RTOL, k
    # the comparison can fail: another seed (other batches and init) moves the weights far beyond DDP_RTOL
    assert main([*_args(seed=4), "--out", str(tmp_path / "other")]) == 0
    _, w_other, _ = _load(tmp_path / "other")
    assert max(_rel(w_other[k], w1[k]) for k in w1) > 1e-3


def test_shard_batch_partitions_prompt_batch(gen):
    batch = LinearRegressionTask(d=3, n=5, m=2).sample(12, gen)
    for world in (1, 2, 3, 4):
        parts = [shard_batch(batch, r, world) for r in range(world)]
        for name in ("X", "y", "xq", "yq"):
            assert torch.equal(torch.cat([getattr(p, name) for p in parts]), getattr(batch, name))
        assert torch.equal(torch.cat([p.meta["w"] for p in parts]), batch.meta["w"])
        assert all(p.batch_size == 12 // world for p in parts)
        # the mean of equal shard means is the global mean (why DDP's gradient average is exact)
        means = torch.stack([p.y.mean() for p in parts]).mean()
        assert torch.allclose(means, batch.y.mean(), rtol=1e-14, atol=0)


def test_shard_batch_nested_containers():
    t = torch.arange(8.0).reshape(4, 2)
    out = shard_batch({"a": t, "b": (t, 7)}, 1, 2)
    assert torch.equal(out["a"], t[2:]) and torch.equal(out["b"][0], t[2:]) and out["b"][1] == 7


def test_shard_batch_error(gen):
    batch = LinearRegressionTask(d=2, n=3).sample(6, gen)
    with pytest.raises(ValueError, match="batch"):
        shard_batch(batch, 0, 4)
    with pytest.raises(ValueError, match="rank"):
        shard_batch(batch, 2, 2)
    with pytest.raises(ValueError, match="batch"):
        shard_batch(object(), 0, 1)


def test_setup_single_process_without_torchrun_env(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    env = setup("cpu")
    assert (env.rank, env.world, env.backend, env.device.type) == (0, 1, None, "cpu")


def test_setup_error(monkeypatch):
    with pytest.raises(ValueError, match="backend"):
        setup("cpu", "mpi")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        setup("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="nccl"):
        setup("cpu", "nccl")


def test_family_options_error():
    fam = FAMILIES["toy-linreg"]
    assert fam.parse_options({"d": "4"})["d"] == 4
    with pytest.raises(ValueError, match="option"):
        fam.parse_options({"width": "3"})
    with pytest.raises(ValueError, match="option d"):
        fam.parse_options({"d": "four"})


def test_main_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert main([*_args(), "--out", str(tmp_path)]) == 2  # a usage error: one line naming the argument
    err = capsys.readouterr().err.strip()
    assert "--batch-size" in err and "divisible" in err and len(err.splitlines()) == 1
