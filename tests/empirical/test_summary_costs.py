"""summary.md reports the wall time per paper and the peak memory the runs recorded."""

from __future__ import annotations

import torch

from empirical.artifacts import summary_markdown
from empirical.registry import get_claim
from empirical.runner import run_claim


def test_summary_reports_time_per_paper_and_peak_memory(tmp_path):
    r = run_claim(get_claim("he25.relu_pair_linear_attention"), profile="quick", device=torch.device("cpu"), seed=0,
                  out_dir=tmp_path, progress=False)
    assert r["peak_rss_mb"] > 10  # a Python process with torch loaded holds far more than 10 MiB
    other = {**r, "id": "ahn23.x", "wall_time_s": 2.0, "peak_rss_mb": 1e5}
    text = summary_markdown({r["id"]: r, "ahn23.x": other})
    assert "Wall time per paper: ahn23 2.0 s, he25" in text
    assert "Peak resident memory of the runs: 100000 MiB." in text
