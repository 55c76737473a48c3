"""Figures from run folders' metrics: what regularization did, epoch by epoch.

:func:`write_figures` draws, for one run or overlaid for several (one colour per run):

* ``cost.png`` — data cost C₀, penalty and their sum, per data set;
* ``accuracy.png`` — accuracy per data set;
* ``weights.png`` — RMS weight per layer and over all weights, with the references
  1/√n_in (per layer) and 1/√N (all N weights);
* ``histograms.png`` — per layer, the weights at the start and at the end, log counts,
  with exact zeros counted in the legend and falling in a bin centred on 0;
* ``sparsity.png`` — fraction of weights exactly zero and below the small threshold;
* ``gradient-share.png`` — ‖∂penalty/∂W‖ / ‖∂C₀/∂W‖ per layer (who moves the weights).

:func:`write_sweep_figures` draws a λ sweep's results: accuracy, sparsity and norms
against λ, one line per regularizer.

Every line carries a ``gid`` naming the metric it draws and its scale
(``"run 0: test/accuracy*100"``), every histogram the parameters it counts
(``"run 1: final_weights/0"``), so the figures can be checked against the run folder.
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), rendered by Agg.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nnreg.runs import RunFolderWarning, read_run

DATA_SETS = ("training", "validation", "test")
COST_PARTS = (
    ("data_cost", "-", "data cost C₀"),
    ("penalty", ":", "penalty"),
    ("total_cost", "--", "total"),
)
DATA_SET_STYLES = {"training": "-", "validation": "--", "test": ":"}


@dataclass
class Run:
    """One run folder's content, as plotted."""

    label: str
    metrics: list[dict[str, Any]]
    config: dict[str, Any]
    initial_weights: list[np.ndarray] | None
    final_weights: list[np.ndarray] | None

    @property
    def epochs(self) -> list[int]:
        return [record["epoch"] for record in self.metrics]

    def series(self, *path: str | int) -> list[float] | None:
        """One value per epoch along ``path`` in each record, or None where it is absent."""
        values = []
        for record in self.metrics:
            value: Any = record
            for key in path:
                try:
                    value = value[key]
                except (KeyError, IndexError, TypeError):
                    return None
            values.append(np.nan if value is None else value)
        return values

    @property
    def num_layers(self) -> int:
        return len(self.metrics[0]["weights"]["layers"])

    def data_sets(self) -> list[str]:
        return [name for name in DATA_SETS if name in self.metrics[0]]


def load_runs(folders: Sequence[str | Path]) -> list[Run]:
    """Read run folders; ``ValueError`` saying what is wrong for a missing or foreign one."""
    if not folders:
        raise ValueError("give at least one run folder (written by nnreg train)")
    runs = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder: give a run folder written by nnreg train")
        run = read_run(folder)
        for problem in run["problems"]:
            warnings.warn(f"{problem}; drawn without it", RunFolderWarning, stacklevel=2)
        if not run["metrics"]:
            raise ValueError(f"{folder} holds no epoch metrics yet: train at least one epoch")
        if "weights" not in run["metrics"][0]:
            raise ValueError(f"{folder}'s metrics have no weight statistics: train it again")
        runs.append(
            Run(
                _label(folder, run["config"]),
                run["metrics"],
                run["config"],
                (run["initial_parameters"] or (None, None))[0],
                (run["parameters"] or (None, None))[0],
            )
        )
    return runs


def _label(folder: Path, config: dict[str, Any]) -> str:
    """``folder (regularizer λ=…)`` from the run's settings."""
    settings = config.get("settings", {})
    name = settings.get("reg") or config.get("regularizer", {}).get("name", "?")
    lmbda = settings.get("lmbda")
    if name == "none" or lmbda is None:
        return f"{folder.name} ({name})"
    values = lmbda if isinstance(lmbda, list) else [lmbda]
    return f"{folder.name} ({name} λ={','.join(f'{value:g}' for value in values)})"


def _colour(index: int) -> str:
    return f"C{index % 10}"


def _new_figure(columns: int, rows: int = 1, width: float = 5.0, height: float = 3.8) -> Figure:
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    for axes in figure.subplots(rows, columns, squeeze=False).ravel():
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _line(axes, x, y, gid: str, **style) -> None:
    if y is not None:
        (line,) = axes.plot(x, y, **style)
        line.set_gid(gid)


def cost_figure(runs: list[Run]) -> Figure:
    names = [name for name in DATA_SETS if any(name in run.data_sets() for run in runs)]
    figure = _new_figure(len(names))
    for axes, name in zip(figure.axes, names):
        for index, run in enumerate(runs):
            if name not in run.data_sets():
                continue
            for key, style, description in COST_PARTS:
                _line(
                    axes,
                    run.epochs,
                    run.series(name, key),
                    f"run {index}: {name}/{key}",
                    color=_colour(index),
                    linestyle=style,
                    label=f"{run.label}: {description}" if len(runs) > 1 else description,
                )
        axes.set(
            title=f"{name} data: cost split",
            xlabel="epoch",
            ylabel="cost per example",
        )
        axes.legend(fontsize="small")
    figure.suptitle("Cost = data cost C₀ + penalty (the penalty uses n = the training-set size)")
    return figure


def accuracy_figure(runs: list[Run]) -> Figure:
    figure = _new_figure(1, width=7.0)
    axes = figure.axes[0]
    for index, run in enumerate(runs):
        for name in run.data_sets():
            accuracy = run.series(name, "accuracy")
            _line(
                axes,
                run.epochs,
                [100 * value for value in accuracy],
                f"run {index}: {name}/accuracy*100",
                color=_colour(index),
                linestyle=DATA_SET_STYLES[name],
                label=f"{run.label}: {name}",
            )
    axes.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    axes.legend(fontsize="small")
    return figure


def weights_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers + 1)
    for layer, axes in enumerate(figure.axes):
        whole, references = layer == layers, set()
        for index, run in enumerate(runs):
            path = ("weights",) if whole else ("weights", "layers", layer)
            if not whole and layer >= run.num_layers:
                continue
            _line(
                axes,
                run.epochs,
                run.series(*path, "rms"),
                f"run {index}: {'/'.join(map(str, path))}/rms",
                color=_colour(index),
                label=run.label,
                marker="." if len(run.epochs) < 40 else None,
            )
            reference = run.series(*path, "reference_rms")[0]
            if reference not in references:
                references.add(reference)
                axes.axhline(
                    reference,
                    color="black",
                    linestyle="--",
                    linewidth=1,
                    label=f"1/√{'N' if whole else 'n_in'} = {reference:.3g}",
                )
        title = "all weights" if whole else f"layer {layer + 1} weights"
        axes.set(title=title, xlabel="epoch", ylabel="RMS weight", yscale="log")
        axes.legend(fontsize="small")
    figure.suptitle("Weight size per layer against 1/√n (dashed)")
    return figure


def histograms_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers)
    for layer, axes in enumerate(figure.axes):
        arrays = [(f"{runs[0].label}: start", runs[0].initial_weights, 0, "initial")]
        arrays += [
            (f"{run.label}: end", run.final_weights, index, "final")
            for index, run in enumerate(runs)
        ]
        present = [
            (label, weights[layer], index, when)
            for label, weights, index, when in arrays
            if weights is not None and layer < len(weights)
        ]
        if not present:
            continue
        edges = symmetric_bin_edges(max(float(np.abs(w).max()) for _, w, _, _ in present))
        for label, w, index, when in present:
            counts, _ = np.histogram(w, bins=edges)
            zeros = int(np.count_nonzero(w == 0))
            patch = axes.stairs(
                counts,
                edges,
                linewidth=1.5,
                color="0.5" if when == "initial" else _colour(index),
                label=f"{label} ({zeros:,} exactly 0)",
            )
            patch.set_gid(f"run {index}: {when}_weights/{layer}")
        axes.axvline(0.0, color="black", linewidth=0.5)
        axes.set(title=f"layer {layer + 1} weights", xlabel="weight", ylabel="count")
        axes.set_yscale("log")
        axes.legend(fontsize="small")
    figure.suptitle("Weight histograms at the start and the end (the bin at 0 holds the zeros)")
    return figure


def symmetric_bin_edges(largest: float, bins: int = 101) -> np.ndarray:
    """An odd number of equal bins over [−largest, largest]: one is centred on 0."""
    largest = largest if largest > 0 else 1.0
    half_width = largest / bins
    return np.linspace(-largest - half_width, largest + half_width, bins + 1)


def sparsity_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers)
    for layer, axes in enumerate(figure.axes):
        for index, run in enumerate(runs):
            if layer >= run.num_layers:
                continue
            small = run.metrics[0]["weights"].get("small")
            for key, style, description in (
                ("fraction_zero", "-", "exactly 0"),
                ("fraction_small", "--", f"|w| < {small:g}"),
            ):
                values = run.series("weights", "layers", layer, key)
                _line(
                    axes,
                    run.epochs,
                    None if values is None else [100 * v for v in values],
                    f"run {index}: weights/layers/{layer}/{key}*100",
                    color=_colour(index),
                    linestyle=style,
                    label=f"{run.label}: {description}",
                )
        axes.set(title=f"layer {layer + 1} sparsity", xlabel="epoch", ylabel="weights (%)")
        axes.legend(fontsize="small")
    figure.suptitle("Sparsity: weights exactly zero and near zero")
    return figure


def gradient_share_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers)
    for layer, axes in enumerate(figure.axes):
        for index, run in enumerate(runs):
            _line(
                axes,
                run.epochs,
                run.series("gradient_share", layer, "ratio"),
                f"run {index}: gradient_share/{layer}/ratio",
                color=_colour(index),
                label=run.label,
            )
        axes.axhline(1.0, color="black", linewidth=0.5)
        axes.set(
            title=f"layer {layer + 1}",
            xlabel="epoch",
            yscale="log",
            ylabel="‖∂penalty/∂W‖ / ‖∂C₀/∂W‖",
        )
        axes.legend(fontsize="small")
    figure.suptitle("Who moves the weights: above 1 the penalty pulls harder than the data")
    return figure


FIGURES: dict[str, Callable[[list[Run]], Figure]] = {
    "cost": cost_figure,
    "accuracy": accuracy_figure,
    "weights": weights_figure,
    "histograms": histograms_figure,
    "sparsity": sparsity_figure,
    "gradient-share": gradient_share_figure,
}
"""Every figure, by file stem."""


def write_figures(
    folders: Sequence[str | Path], out: str | Path, dpi: int = 110
) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` for the runs in ``folders`` into ``out`` as PNG."""
    runs = load_runs(folders)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cannot create {out}: {error.strerror or error}; choose another --out"
        ) from None
    written = {}
    for stem, draw in FIGURES.items():
        path = out / f"{stem}.png"
        draw(runs).savefig(path, dpi=dpi)
        written[stem] = path
    return written


# -- sweeps --------------------------------------------------------------------------------------
def _sweep_lines(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Finished rows grouped into one line per (regularizer, η, hidden), sorted by λ."""
    lines: dict[str, list[dict[str, Any]]] = {}
    etas = {row["eta"] for row in rows}
    hiddens = {row["hidden"] for row in rows}
    for row in rows:
        if row["diverged"] or "validation_accuracy" not in row:
            continue
        label = row["reg"]
        if len(etas) > 1:
            label += f", η={row['eta']:g}"
        if len(hiddens) > 1:
            label += f", {row['hidden']} hidden"
        lines.setdefault(label, []).append(row)
    return {label: sorted(group, key=lambda r: r["lmbda"]) for label, group in lines.items()}


def _lambda_axis(axes, rows) -> None:
    """Log λ axis that still shows λ = 0 (linear below the smallest positive λ)."""
    positive = [row["lmbda"] for row in rows if row["lmbda"] > 0]
    if positive:
        axes.set_xscale("symlog", linthresh=min(positive))
    axes.set_xlabel("λ (symlog: linear below the smallest λ > 0)")


def sweep_figures(rows: list[dict[str, Any]]) -> dict[str, Figure]:
    """Accuracy, first-layer sparsity and per-layer norms against λ, one line per regularizer."""
    lines = _sweep_lines(rows)
    layers = sorted(
        {int(key[5:].split("_")[0]) for row in rows for key in row if key.startswith("layer")}
    )
    figures = {}
    figure = _new_figure(1, width=7.0)
    axes = figure.axes[0]
    for index, (label, group) in enumerate(lines.items()):
        axes.plot(
            [r["lmbda"] for r in group],
            [100 * r["validation_accuracy"] for r in group],
            marker="o",
            color=_colour(index),
            label=label,
        )
    _lambda_axis(axes, rows)
    axes.set(title="Validation accuracy against λ", ylabel="validation accuracy (%)")
    axes.legend(fontsize="small")
    figures["accuracy-vs-lambda"] = figure
    for stem, key, title, ylabel, scale in (
        ("sparsity-vs-lambda", "fraction_zero", "Weights exactly zero", "weights (%)", 100),
        ("norms-vs-lambda", "l2_norm", "Weight norm ‖W‖₂", "‖W‖₂", 1),
    ):
        figure = _new_figure(max(1, len(layers)))
        for axes, layer in zip(figure.axes, layers):
            for index, (label, group) in enumerate(lines.items()):
                axes.plot(
                    [r["lmbda"] for r in group],
                    [scale * r[f"layer{layer}_{key}"] for r in group],
                    marker="o",
                    color=_colour(index),
                    label=label,
                )
            _lambda_axis(axes, rows)
            axes.set(title=f"layer {layer}: {title.lower()}", ylabel=ylabel)
            axes.legend(fontsize="small")
        figure.suptitle(f"{title} against λ")
        figures[stem] = figure
    return figures


def write_sweep_figures(
    rows: list[dict[str, Any]], out: str | Path, dpi: int = 110
) -> dict[str, Path]:
    written = {}
    for stem, figure in sweep_figures(rows).items():
        written[stem] = Path(out) / f"{stem}.png"
        figure.savefig(written[stem], dpi=dpi)
    return written
