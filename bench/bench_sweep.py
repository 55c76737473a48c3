"""Wall time of one λ sweep with 1 and with 2 parallel workers, on the same grid.

    python bench/bench_sweep.py [--data digits] [--epochs 10] [--repeats 3] [--backend joblib]

Each repeat runs the whole grid into a fresh folder, alternating 1 and 2 workers; the
ratio is median(1 worker) / median(2 workers). Every cell is limited to one BLAS thread,
so 2 workers use the 2 cores and the two runs give identical results (checked).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness import machine, summary

from nnreg.session import TrainSettings
from nnreg.sweep import make_grid, run_sweep

GRID = dict(reg=["l2", "l1-proximal"], lmbda=[0.0, 0.1, 1.0, 5.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="joblib", choices=["joblib", "dask"])
    parser.add_argument("--out", type=Path, default=Path("docs/sweep-benchmark.json"))
    arguments = parser.parse_args()
    grid = make_grid(**GRID, base=TrainSettings(data=arguments.data, epochs=arguments.epochs))
    seconds: dict[int, list[float]] = {1: [], 2: []}
    rows: dict[int, list] = {}
    for _ in range(arguments.repeats):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                result = run_sweep(grid, folder, arguments.backend, jobs=workers)
                seconds[workers].append(time.perf_counter() - started)
                rows[workers] = [
                    {k: v for k, v in r.items() if k != "seconds"} for r in result.rows
                ]
    same = rows[1] == rows[2]
    report = {
        "grid": {**GRID, "data": arguments.data, "epochs": arguments.epochs},
        "cells": len(grid.cells()),
        "backend": arguments.backend,
        "seconds": {str(k): summary(v) for k, v in seconds.items()},
        "speedup_2_over_1": summary(seconds[1])["median"] / summary(seconds[2])["median"],
        "identical_results": same,
        "machine": machine(),
    }
    arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{report['cells']} cells, {arguments.data}, {arguments.epochs} epochs, "
        f"{arguments.backend}: 1 worker {report['seconds']['1']['median']:.1f} s, 2 workers "
        f"{report['seconds']['2']['median']:.1f} s (median of {arguments.repeats}) — "
        f"{report['speedup_2_over_1']:.2f}× faster; identical results: {same}"
    )


if __name__ == "__main__":
    main()
