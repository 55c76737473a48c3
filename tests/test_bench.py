"""Smoke test of the benchmark suite: it runs, and its correctness cross-check passes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


@pytest.mark.slow
def test_benchmark_suite_runs_and_implementations_agree(mnist_folder, tmp_path):
    environment = {**os.environ, "NNREG_DATA": str(mnist_folder.parent)}
    result = subprocess.run(
        [sys.executable, str(BENCH / "bench_engine.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "performance.json").read_text())
    rows = [row for case in results["cases"] for row in case["rows"]]
    checked = [row for row in rows if "max_weight_difference" in row]
    assert len(checked) >= 3 and all(row["agrees"] for row in checked)
    assert results["compute_bound"]["float64"]["gflops"] > 0
    # every other implementation is compared with nnreg in pairs of adjacent runs
    for case in results["cases"]:
        for row in case["rows"][1:]:
            if "l2_over_this" not in row:
                assert len(row["paired_ratios"]) == len(row["seconds"])
                assert row["ratio_nnreg_over_this"] > 0
    assert "| nnreg |" in (tmp_path / "performance-table.md").read_text().replace("  ", " ")


@pytest.mark.slow
def test_end_to_end_benchmark_runs_and_both_fronts_agree(mnist_folder, tmp_path):
    """The end-to-end benchmark on 2,000 images: every part measured, the two fronts'
    outputs checked against each other (it fails otherwise)."""
    environment = {**os.environ, "NNREG_DATA": str(mnist_folder.parent)}
    result = subprocess.run(
        [sys.executable, str(BENCH / "bench_end_to_end.py"), "--quick"]
        + ["--json", str(tmp_path / "e2e.json")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "e2e.json").read_text())
    run = results["nnreg_train"]["runs"][0]
    assert run["command"] > run["epochs"] >= run["training_steps"] + run["monitors"]
    for monitors in ("all", "accuracy"):
        row = results[f"chapter3_{monitors}"]
        assert row["speedup"]["median"] > 0 and row["peak_mib"]["book"] > 100
    assert set(results["startup_seconds"]) == {"nnreg --help", "import nnreg"}
