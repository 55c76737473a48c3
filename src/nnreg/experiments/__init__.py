"""Reproductions of the book's chapter-3 experiments, each a module with
``run(quick, data_dir, seed, progress) -> Report``.

``quick`` runs on the 8×8 digits with few epochs (under a minute, for tests); the full runs
use MNIST and are what the reports in ``docs/experiments/`` document.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runners and reports (matplotlib) load when an experiment runs
    from nnreg.experiments.common import ProgressFactory
    from nnreg.experiments.report import Report

EXPERIMENTS = {
    "overfitting": "overfitting",
    "l2-full": "l2_full",
    "l1-vs-l2": "l1_vs_l2",
    "tail-off": "tail_off",
    "cost-growth": "cost_growth",
    "regularizers": "regularizers",
}
"""Experiment name -> module in this package."""

SUMMARIES = {
    "overfitting": "1,000 training images, 400 epochs: overfitting, and L2 (λ = 0.1) against it",
    "l2-full": "L2 (λ = 5) on all 50,000 training images, 30 epochs, 30 and 100 hidden units",
    "l1-vs-l2": "L1 (subgradient, proximal, cumulative) and elastic net against L2",
    "tail-off": "the book's exercise: L2 decay from large initial weights tails off",
    "cost-growth": "why a reported regularized cost grows while accuracy grows",
    "regularizers": "every regularizer on [784, 100, 10], dropout, max-norm, expanded data",
}
"""One line per experiment, for ``nnreg experiment --help`` (no module is loaded)."""


def run_experiment(
    name: str,
    quick: bool = False,
    data_dir: str | Path | None = None,
    seed: int = 0,
    progress: ProgressFactory | None = None,
) -> Report:
    """Run experiment ``name`` and return its report (write it with ``Report.write``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    module = import_module(f"nnreg.experiments.{EXPERIMENTS[name]}")
    return module.run(quick, data_dir, seed, progress)


def __getattr__(name: str):
    if name == "Report":
        from nnreg.experiments.report import Report

        return Report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXPERIMENTS", "Report", "run_experiment"]
