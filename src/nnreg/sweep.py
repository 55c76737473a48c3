"""λ sweeps: a grid of regularizer × λ × η × hidden units, one ordinary run folder per cell,
run in parallel with joblib (processes on this machine) or Dask (a cluster, or a local one).

A cell whose folder holds ``summary.json`` is done and is skipped when the sweep runs
again; a cell interrupted part-way resumes from its own checkpoint when its folder holds
one written with the same settings (the result is bit for bit an unbroken run's), and is
trained again from scratch otherwise (no checkpoint yet, a damaged one, other settings). A
cell that diverges is recorded as diverged and the sweep goes on. Every cell limits its
BLAS library to ``blas_threads`` threads, so parallel cells do not oversubscribe the cores
(and give the same numbers whatever the backend).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnreg.checkpoints import CHECKPOINT, PREVIOUS_CHECKPOINT, CheckpointError
from nnreg.regularizers import REGULARIZERS
from nnreg.runs import CONFIG, SUMMARY, read_run, write_json
from nnreg.session import TrainSettings, resume_training, run_training
from nnreg.training import TrainingDiverged

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CELLS = "cells"
RESULTS = "results.csv"
GRID_KEYS = {"reg": str, "lmbda": float, "eta": float, "hidden": int}
"""The axes of a grid and the type of their values."""


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    reg: str
    lmbda: float
    eta: float
    hidden: int

    @property
    def name(self) -> str:
        return f"{self.reg}_lmbda={self.lmbda:g}_eta={self.eta:g}_hidden={self.hidden}"


@dataclass
class Grid:
    """Values along each axis and the settings every cell shares."""

    reg: list[str]
    lmbda: list[float]
    eta: list[float]
    hidden: list[int]
    base: TrainSettings

    def cells(self) -> list[Cell]:
        return [
            Cell(*values)
            for values in itertools.product(self.reg, self.lmbda, self.eta, self.hidden)
        ]


def make_grid(
    reg: Sequence[str] = ("l2",),
    lmbda: Sequence[float] = (0.0,),
    eta: Sequence[float] | None = None,
    hidden: Sequence[int] = (30,),
    base: TrainSettings | None = None,
) -> Grid:
    """A checked grid; ``ValueError`` saying what to change for an empty or invalid axis."""
    base = base or TrainSettings()
    grid = Grid(
        list(reg),
        [float(v) for v in lmbda],
        [float(v) for v in (eta or [base.eta])],
        list(hidden),
        base,
    )
    for axis in GRID_KEYS:
        if not getattr(grid, axis):
            raise ValueError(f"the grid is empty along {axis}: give at least one value to --{axis}")
    for name in grid.reg:
        if name not in REGULARIZERS:
            raise ValueError(
                f"unknown regularizer {name!r} in the grid: choose from {', '.join(REGULARIZERS)}"
            )
    for value in grid.lmbda:
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(
                f"λ must be >= 0, got {value:g} in the grid: use 0 for no regularization"
            )
    for value in grid.eta:
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"η must be > 0, got {value:g} in the grid")
    for value in grid.hidden:
        if value < 1:
            raise ValueError(f"hidden units must be >= 1, got {value} in the grid")
    return grid


def read_grid_file(path: str | Path) -> tuple[dict[str, list], dict[str, Any]]:
    """A TOML file's ``[grid]`` (lists per axis) and ``[train]`` (TrainSettings fields).

    .. code-block:: toml

        [grid]
        reg = ["l2", "l1-proximal"]
        lmbda = [0, 0.1, 1, 5]
        [train]
        data = "digits"
        epochs = 10
    """
    path = Path(path)
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the grid file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"the grid file {path} is not valid TOML: {error}") from None
    grid, train = content.get("grid", {}), content.get("train", {})
    unknown = set(grid) - set(GRID_KEYS)
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    unknown_train = set(train) - fields
    if unknown or unknown_train or not isinstance(grid, dict):
        raise ValueError(
            f"the grid file {path} has unknown keys {sorted(unknown | unknown_train)}: [grid] "
            f"takes {', '.join(GRID_KEYS)}; [train] takes nnreg train settings"
        )
    for key, values in grid.items():
        if not isinstance(values, list):
            raise ValueError(f"the grid file {path}: {key} must be a list, e.g. {key} = [1, 2]")
    return grid, train


# -- one cell ---------------------------------------------------------------------------------
def cell_settings(base: dict[str, Any], cell: Cell) -> TrainSettings:
    """The ``nnreg train`` settings of one cell: the base settings with the cell's values."""
    return TrainSettings(
        **{
            **base,
            "reg": cell.reg,
            "lmbda": cell.lmbda,
            "eta": cell.eta,
            "hidden": cell.hidden,
            "sizes": None,
            "l2_lmbda": base["l2_lmbda"] if cell.reg == "elastic-net" else None,
        }
    )


def run_cell(base: dict[str, Any], cell: Cell, folder: str, blas_threads: int = 1) -> str:
    """Train one cell into ``folder`` (runs in a worker process), resuming it from its
    checkpoint when it was interrupted with the same settings; returns the cell's name."""
    from threadpoolctl import threadpool_limits

    settings, folder = cell_settings(base, cell), Path(folder)
    with threadpool_limits(limits=blas_threads):
        try:
            if resumable(folder, settings):
                try:
                    resume_training(folder)
                    return cell.name
                except CheckpointError:  # damaged: start again
                    pass
            if folder.exists():
                shutil.rmtree(folder)
            run_training(settings, out=folder)
        except TrainingDiverged as error:
            write_json(folder / SUMMARY, {"diverged": True, "message": str(error)})
    return cell.name


def resumable(folder: Path, settings: TrainSettings) -> bool:
    """An unfinished cell folder with a checkpoint, written with these very settings."""
    if cell_done(folder) or not any(
        (folder / n).is_file() for n in (CHECKPOINT, PREVIOUS_CHECKPOINT)
    ):
        return False
    try:
        written = json.loads((folder / CONFIG).read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    wanted = json.loads(json.dumps(dataclasses.asdict(settings)))
    # the config records the sizes the data gave, where the settings may leave them to --hidden
    return isinstance(written, dict) and {k: v for k, v in written.items() if k != "sizes"} == {
        k: v for k, v in wanted.items() if k != "sizes"
    }


def cell_done(folder: Path) -> bool:
    return (folder / SUMMARY).is_file()


# -- the sweep -------------------------------------------------------------------------------
@dataclass
class SweepResult:
    folder: Path
    rows: list[dict[str, Any]]
    trained: list[str]  # in the order they finished, resumed ones included
    skipped: list[str]
    best: dict[str, Any] | None
    resumed: list[str] = dataclasses.field(default_factory=list)


def run_sweep(
    grid: Grid,
    out: str | Path,
    backend: str = "joblib",
    jobs: int = 1,
    scheduler: str | None = None,
    blas_threads: int = 1,
    on_cell_done: Callable[[str], None] | None = None,
) -> SweepResult:
    """Train every cell not done yet, then gather all cells into ``out/results.csv``."""
    out = Path(out)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
    if jobs < 1:
        raise ValueError(f"jobs (-j) must be >= 1, got {jobs}")
    cells = grid.cells()
    base = dataclasses.asdict(grid.base)
    todo, skipped, resumed = [], [], []
    for cell in cells:
        folder = out / CELLS / cell.name
        if cell_done(folder):
            skipped.append(cell.name)
            continue
        if resumable(folder, cell_settings(base, cell)):
            resumed.append(cell.name)
        todo.append((cell, str(folder)))
    try:
        (out / CELLS).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cannot create {out}: {error.strerror or error}; choose another --out"
        ) from None
    write_json(out / "grid.json", {"cells": [dataclasses.asdict(c) for c in cells], "base": base})
    trained = BACKENDS[backend](
        base, todo, jobs, scheduler, blas_threads, on_cell_done or (lambda name: None)
    )
    rows = [cell_row(cell, out / CELLS / cell.name) for cell in cells]
    write_results(out / RESULTS, rows)
    return SweepResult(out, rows, trained, skipped, best_row(rows), resumed)


def _joblib(base, todo, jobs, scheduler, blas_threads, on_cell_done) -> list[str]:
    if scheduler is not None:
        raise ValueError("--scheduler only applies to --backend dask")
    from joblib import Parallel, delayed

    trained = []
    runs = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(run_cell)(base, cell, folder, blas_threads) for cell, folder in todo
    )
    for name in runs:
        trained.append(name)
        on_cell_done(name)
    return trained


def _dask(base, todo, jobs, scheduler, blas_threads, on_cell_done) -> list[str]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ValueError(
            "--backend dask needs Dask: pip install 'nnreg[dask]' (or use --backend joblib)"
        ) from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True)
            client = Client(cluster)
    except (OSError, TimeoutError) as error:
        raise ValueError(
            f"cannot reach the Dask scheduler at {scheduler}: {error}. Start one with `dask "
            "scheduler` and workers with `dask worker ADDRESS`, or leave out --scheduler for "
            "a local cluster"
        ) from None
    trained = []
    try:
        futures = [
            client.submit(run_cell, base, cell, folder, blas_threads, pure=False)
            for cell, folder in todo
        ]
        for future in as_completed(futures):
            name = future.result()
            trained.append(name)
            on_cell_done(name)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return trained


BACKENDS = {"joblib": _joblib, "dask": _dask}


# -- results ----------------------------------------------------------------------------------
def cell_row(cell: Cell, folder: Path) -> dict[str, Any]:
    """One results row: the cell, its validation results, per-layer sparsity and norms."""
    row: dict[str, Any] = dataclasses.asdict(cell)
    run = read_run(folder)
    summary = run["summary"] or {}
    row["diverged"] = bool(summary.get("diverged"))
    if row["diverged"] or not run["metrics"]:
        return row
    last = run["metrics"][-1]
    evaluated = "validation" if "validation" in last else "test"
    row["validation_accuracy"] = last[evaluated]["accuracy"]
    row["validation_data_cost"] = last[evaluated]["data_cost"]
    row["penalty"] = last[evaluated]["penalty"]
    row["test_accuracy"] = last["test"]["accuracy"] if "test" in last else None
    for layer, stats in enumerate(last["weights"]["layers"], start=1):
        row[f"layer{layer}_fraction_zero"] = stats["fraction_zero"]
        row[f"layer{layer}_l2_norm"] = stats["l2_norm"]
    row["seconds"] = summary.get("seconds")
    return row


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cell with the best validation accuracy (the first of equals, in grid order)."""
    finished = [row for row in rows if not row["diverged"] and "validation_accuracy" in row]
    return max(finished, key=lambda row: row["validation_accuracy"]) if finished else None


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """The rows as CSV; test accuracy is kept out (it is reported for the chosen cell only)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and key != "test_accuracy"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
