"""empirical.results_diff: the same-seed check behind moves and refactors must see a one-bit change."""

from __future__ import annotations

import json

from empirical.results_diff import diff_folders, main


def _write(folder, cid, **over):
    folder.mkdir(exist_ok=True)
    payload = {"schema": "icl-verify/claim@1", "id": cid, "verdict": "verified", "wall_time_s": 1.0,
               "git_sha": "a" * 40, "checks": [{"name": "c", "measured": 0.1, "op": "<=", "threshold": 1.0}],
               "measured": {"checkpoint": {"path": "empirical/checkpoints/x.safetensors", "command": "python -m a"}}}
    payload.update(over)
    (folder / f"{cid}.json").write_text(json.dumps(payload))


def test_times_and_paths_are_ignored(tmp_path):
    _write(tmp_path / "a", "p.x")
    _write(tmp_path / "b", "p.x", wall_time_s=9.0, git_sha="b" * 40,
           measured={"checkpoint": {"path": "empirical/papers/p/checkpoints/x.safetensors", "command": "python -m b"}})
    (tmp_path / "b" / "robustness.json").write_text("{}")  # not a claim file
    assert diff_folders(tmp_path / "a", tmp_path / "b") == {}
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0


def test_one_bit_in_a_float_is_a_difference(tmp_path):
    _write(tmp_path / "a", "p.x")
    _write(tmp_path / "b", "p.x", checks=[{"name": "c", "measured": 0.1 + 2**-56, "op": "<=", "threshold": 1.0}])
    assert 0.1 + 2**-56 != 0.1
    diffs = diff_folders(tmp_path / "a", tmp_path / "b")
    assert list(diffs) == ["p.x"] and diffs["p.x"][0].startswith("/checks[0]/measured:"), diffs
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1


def test_a_missing_claim_or_key_is_a_difference(tmp_path):
    _write(tmp_path / "a", "p.x")
    _write(tmp_path / "a", "p.y")
    _write(tmp_path / "b", "p.x", settings={"steps": 3})
    diffs = diff_folders(tmp_path / "a", tmp_path / "b")
    assert diffs["p.y"] == ["only in old"] and diffs["p.x"] == ["/settings: only in new"]


def test_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "old" in capsys.readouterr().err


def test_a_moved_file_named_in_a_note_is_renamed_first(tmp_path):
    _write(tmp_path / "a", "p.x", notes=["see empirical/he25_real_data.py"])
    _write(tmp_path / "b", "p.x", notes=["see empirical/papers/he25/real_data.py"])
    assert list(diff_folders(tmp_path / "a", tmp_path / "b")) == ["p.x"]
    assert diff_folders(tmp_path / "a", tmp_path / "b",
                        renamed=[("empirical/he25_real_data.py", "empirical/papers/he25/real_data.py")]) == {}
    argv = [str(tmp_path / "a"), str(tmp_path / "b"), "--renamed",
            "empirical/he25_real_data.py=empirical/papers/he25/real_data.py"]
    assert main(argv) == 0
