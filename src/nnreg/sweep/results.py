"""A sweep's results: one row per cell, the best cell, results.csv."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from nnreg.runs import METRICS, SUMMARY
from nnreg.sweep.cells import read_json
from nnreg.sweep.grid import Cell

RESULTS = "results.csv"


def cell_row(cell: Cell, folder: Path, failure: str | None = None) -> dict[str, Any]:
    """One results row: the cell, its status (finished, diverged, failed, or not trained)
    and, when finished, its validation results, per-layer sparsity and norms. A cell whose
    files cannot be read is failed, with the reason."""
    row: dict[str, Any] = {**dataclasses.asdict(cell), "status": "failed", "diverged": False}
    if failure is not None:
        return {**row, "reason": failure}
    try:
        return {**row, **_results(folder)}
    except ValueError as error:
        return {**row, "reason": f"{error}; delete {folder} to train this cell again"}


def _results(folder: Path) -> dict[str, Any]:
    if not (folder / SUMMARY).is_file():
        return {"status": "not trained"}
    summary = read_json(folder / SUMMARY)
    if not isinstance(summary, dict):
        raise ValueError(f"{folder / SUMMARY} does not hold a run's result")
    if summary.get("diverged") is True:
        return {"status": "diverged", "diverged": True, "reason": str(summary.get("message", ""))}
    try:
        lines = (folder / METRICS).read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1])
        evaluated = last["validation" if "validation" in last else "test"]
        row = {
            "status": "finished",
            "validation_accuracy": _number(evaluated["accuracy"]),
            "validation_data_cost": _number(evaluated["data_cost"]),
            "penalty": _number(evaluated["penalty"]),
            "test_accuracy": _number(last["test"]["accuracy"]) if "test" in last else None,
        }
        for layer, stats in enumerate(last["weights"]["layers"], start=1):
            row[f"layer{layer}_fraction_zero"] = _number(stats["fraction_zero"])
            row[f"layer{layer}_l2_norm"] = _number(stats["l2_norm"])
        if "layer1_fraction_zero" not in row or row["validation_accuracy"] is None:
            raise ValueError("no layers or no accuracy")
    except (OSError, UnicodeDecodeError, ValueError, LookupError, TypeError) as error:
        raise ValueError(
            f"{folder / METRICS} does not hold a finished cell's metrics "
            f"({type(error).__name__}: {error})"
        ) from None
    times = summary.get("time")
    if isinstance(times, dict):
        row["training_seconds"] = _number(times.get("training_steps"))
        # the epochs: steps, monitors and checkpoints, not the start (data, compilation)
        row["epochs_seconds"] = _number(times.get("epochs"))
        row["wall_seconds"] = _number(times.get("run"))
    else:  # a cell trained by an older nnreg: training steps only
        row["training_seconds"] = _number(summary.get("seconds"))
        row["epochs_seconds"] = row["training_seconds"]
        row["wall_seconds"] = None
    return row


def _number(value: Any) -> float | None:
    """A number read from a file (None for null, as NaN is written); ValueError otherwise."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{value!r} is not a number")


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cell with the best validation accuracy. Ties (common on small validation sets)
    go to the lower validation data cost C₀ — the same predictions made more confidently
    right — and then to the first in grid order."""
    finished = [row for row in rows if row["status"] == "finished"]
    if not finished:
        return None

    def rank(row):
        cost = row.get("validation_data_cost")
        return (-row["validation_accuracy"], math.inf if cost is None else cost)

    return min(finished, key=rank)  # min keeps the first of equals


def tied_with_best(rows: list[dict[str, Any]], best: dict[str, Any]) -> int:
    """How many other finished cells have the best cell's validation accuracy."""
    return sum(
        row is not best
        and row["status"] == "finished"
        and row["validation_accuracy"] == best["validation_accuracy"]
        for row in rows
    )


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """The rows as CSV; test accuracy is kept out (it is reported for the chosen cell only)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and key != "test_accuracy"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
