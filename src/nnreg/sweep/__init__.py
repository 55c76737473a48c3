"""λ sweeps: a grid of regularizer × λ × η × hidden units, one ordinary run folder per cell,
run in parallel with joblib (processes on this machine) or Dask (a cluster, or a local one).

Before anything is written, the grid and the settings are checked and every cell folder
already there is compared with the settings asked for (:func:`plan_cell`):

* a cell whose ``config.json`` holds exactly these settings and whose ``summary.json`` holds
  a result is done and is skipped;
* a cell interrupted part-way with these settings resumes from its own checkpoint (bit for
  bit an unbroken run), and is trained again from scratch when the checkpoint is damaged
  or none was written yet;
* a cell whose settings differ only in a smaller number of epochs is continued from its
  last checkpoint to the new number (training does not depend on how many epochs are still
  to come, so this too is bit for bit an unbroken run with the new number);
* any other difference in a finished cell refuses the whole sweep (nothing is trained,
  nothing written): results are never replaced, nor shown under settings they were not
  trained with; an unfinished cell with other settings is trained again from scratch;
* a cell whose files cannot be read is reported as failed, with the reason, and left as it
  is; so is a cell whose training raised an error. The sweep goes on with the others.

A cell that diverges is recorded as diverged. Every cell limits its BLAS library to
``blas_threads`` threads, so parallel cells do not oversubscribe the cores (and give the
same numbers whatever the backend).

While it runs, the sweep holds a lock on its folder. Workers watch it: when the sweep is
stopped (or its process is killed, which drops the lock) they stop their cells after the
current step, writing a checkpoint, and a worker process whose sweep process is gone ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnreg.runs import remove_leftovers, write_json
from nnreg.sweep.backends import BACKENDS, gather
from nnreg.sweep.cells import Plan, cell_done, plan_cell, run_cell
from nnreg.sweep.grid import (
    GRID_KEYS,
    Cell,
    Grid,
    cell_settings,
    check_axis,
    check_settings,
    make_grid,
    read_grid_file,
)
from nnreg.sweep.results import RESULTS, best_row, cell_row, write_results
from nnreg.sweep.supervision import SweepLock
from nnreg.training import StopFlag
from nnreg.validation import check_int

CELLS = "cells"


STALE_WHEN_TRAINING = (
    RESULTS,
    "accuracy-vs-lambda.png",
    "sparsity-vs-lambda.png",
    "norms-vs-lambda.png",
)
"""What a finished sweep writes from all its cells (results.csv, and the figures the command
line draws from it): removed when cells are to be trained, written again when all are done."""


@dataclass
class SweepResult:
    folder: Path
    rows: list[dict[str, Any]]
    trained: list[str]  # in the order they finished, resumed, extended and diverged included
    skipped: list[str]
    best: dict[str, Any] | None
    resumed: list[str] = dataclasses.field(default_factory=list)
    extended: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # name → reason
    interrupted: bool = False  # stopped before every cell was done: results.csv not written
    # cells not trained because another cell is the very same run (regularization off at
    # λ = 0): name → the cell trained for both
    shared: dict[str, str] = dataclasses.field(default_factory=dict)


def run_sweep(
    grid: Grid,
    out: str | Path,
    backend: str = "joblib",
    jobs: int = 1,
    scheduler: str | None = None,
    blas_threads: int = 1,
    on_cell_done: Callable[[str], None] | None = None,
    stop: StopFlag | None = None,
) -> SweepResult:
    """Train every cell not done yet, then gather all cells into ``out/results.csv``.

    Everything is checked before anything is written (``ValueError``). ``on_cell_done(name)``
    is called for each cell done, the skipped ones first. When ``stop.requested`` becomes
    true (a signal), running cells stop after their current step with a checkpoint, no
    other cell starts, and the result says ``interrupted`` (results.csv is not written)."""
    out = Path(out)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
    check_int("jobs (-j)", jobs, minimum=1, hint=": cells trained at once")
    check_int("blas threads (--blas-threads)", blas_threads, minimum=1, hint=": per cell")
    if scheduler is not None and backend != "dask":
        raise ValueError("--scheduler only applies to --backend dask")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is not a folder: choose another --out")
    on_cell_done = on_cell_done or (lambda name: None)
    cells, base = grid.cells(), dataclasses.asdict(grid.base)
    lock = SweepLock(out, stop) if out.exists() else None
    try:
        plans = {c.name: plan_cell(out / CELLS / c.name, cell_settings(base, c)) for c in cells}
        _refuse_conflicts(out, plans)
        shared = _same_runs(cells, base, plans)
        with BACKENDS[backend](jobs, scheduler, stop) as run_all:
            _create(out)
            lock = lock or SweepLock(out, stop)
            remove_leftovers(out)  # what a killed sweep was writing (results.csv…)
            todo = [
                c
                for c in cells
                if plans[c.name].action in ("train", "resume", "extend") and c.name not in shared
            ]
            if todo:
                for name in STALE_WHEN_TRAINING:
                    (out / name).unlink(missing_ok=True)
            write_json(
                out / "grid.json", {"cells": [dataclasses.asdict(c) for c in cells], "base": base}
            )
            skipped = [c.name for c in cells if plans[c.name].action == "done"]
            for name in [*skipped, *shared]:
                on_cell_done(name)
            sweep = (os.path.abspath(out), os.getpid(), socket.gethostname())
            tasks = [
                (base, c, str(out / CELLS / c.name), blas_threads, plans[c.name].action, *sweep)
                for c in todo
            ]
            outcomes = gather(run_all, tasks, on_cell_done, stop)
    finally:
        if lock is not None:
            lock.release()
    rows = _rows(out, cells, plans, outcomes, shared)
    for name, outcome in outcomes.items():  # given here, in the caller's process
        for category, message in outcome.get("warnings", ()):
            warnings.warn(f"cell {name}: {message}", category, stacklevel=2)
    interrupted = any(o["status"] == "interrupted" for o in outcomes.values())
    if not interrupted:
        write_results(out / RESULTS, rows)
    return SweepResult(
        out,
        rows,
        [n for n, o in outcomes.items() if o["status"] in ("finished", "diverged")],
        skipped,
        best_row(rows),
        [c.name for c in todo if plans[c.name].action == "resume"],
        [c.name for c in todo if plans[c.name].action == "extend"],
        {c.name: row["reason"] for c, row in zip(cells, rows) if row["status"] == "failed"},
        interrupted,
        shared,
    )


def _rows(out: Path, cells, plans, outcomes, shared: dict[str, str]) -> list[dict[str, Any]]:
    """Every cell's results row; a cell not trained because it is another's run reports
    that run's results (``same_run_as``)."""
    failed = {n: p.reason for n, p in plans.items() if p.action == "failed"}
    failed.update({o["name"]: o["message"] for o in outcomes.values() if o["status"] == "failed"})
    rows = []
    for cell in cells:
        trained = shared.get(cell.name, cell.name)
        row = cell_row(cell, out / CELLS / trained, failed.get(trained))
        row["same_run_as"] = shared.get(cell.name, "")
        rows.append(row)
    return rows


def _same_runs(cells, base: dict[str, Any], plans: dict[str, Plan]) -> dict[str, str]:
    """Cells that would train the very same network: regularization off (every λ is 0, or
    the regularizer is none) and every other setting equal. The first of each group in
    grid order is trained; each other one not trained already maps to it and reports its
    results under its own regularizer's name."""
    first: dict[str, str] = {}
    shared: dict[str, str] = {}
    for cell in cells:
        settings = cell_settings(base, cell)
        if not _regularization_off(settings):
            continue
        key = json.dumps(
            {**dataclasses.asdict(settings), "reg": None, "lmbda": None, "l2_lmbda": None},
            sort_keys=True,
            default=str,
        )
        if key not in first:
            first[key] = cell.name
        elif plans[cell.name].action != "done":  # one trained before keeps its own folder
            shared[cell.name] = first[key]
    return shared


def _regularization_off(settings) -> bool:
    if settings.reg == "none":
        return True
    values = []
    for value in (settings.lmbda, settings.l2_lmbda):
        if value is not None:
            values += list(value) if isinstance(value, (list, tuple)) else [value]
    return all(v == 0 for v in values)


def _refuse_conflicts(out: Path, plans: dict[str, Plan]) -> None:
    conflicts = [f"{name} ({p.reason})" for name, p in plans.items() if p.action == "conflict"]
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (
            f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        )
        raise ValueError(
            f"{out} already holds cells trained with other settings: {shown}. A cell's results "
            "are never replaced, nor shown under settings they were not trained with, so "
            "nothing was trained: give the settings those cells were trained with (see "
            f"{out / 'grid.json'}), choose another --out, or delete those cell folders to "
            "train them again"
        )


def _create(out: Path) -> None:
    try:
        (out / CELLS).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cannot create {out}: {error.strerror or error}; choose another --out"
        ) from None


__all__ = [
    "BACKENDS",
    "CELLS",
    "GRID_KEYS",
    "RESULTS",
    "Cell",
    "Grid",
    "Plan",
    "SweepResult",
    "best_row",
    "cell_done",
    "cell_row",
    "cell_settings",
    "check_axis",
    "check_settings",
    "make_grid",
    "plan_cell",
    "read_grid_file",
    "run_cell",
    "run_sweep",
    "write_results",
]
