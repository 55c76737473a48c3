"""Figures from run folders' metrics: what regularization did, epoch by epoch.

:func:`write_figures` draws, for one run or overlaid for several (one colour per run):

* ``cost.png`` — data cost C₀, penalty and their sum, per data set;
* ``accuracy.png`` — accuracy per data set;
* ``weights.png`` — RMS weight per layer and over all weights, with the references
  1/√n_in (per layer) and 1/√N (all N weights);
* ``histograms.png`` — per layer, the weights at the start and at the end, log counts,
  with exact zeros counted in the legend and falling in a bin centred on 0;
* ``sparsity.png`` — fraction of weights exactly zero and below the small threshold;
* ``gradient-share.png`` — ‖∂penalty/∂W‖ / ‖∂C₀/∂W‖ per layer (who moves the weights);
* ``first-layer-weights.png`` — each hidden unit's input weights as an image (28×28 for
  MNIST), centred on 0 on the board's robust colour scale, exact zeros in green, runs
  side by side (drawn by :mod:`nnreg.weight_images`, whose names are importable from here).

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
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from nnreg.datasets.dataset import image_shape as image_shape
from nnreg.runs import RunFolderWarning, read_run
from nnreg.weight_images import PANELS_PER_ROW as PANELS_PER_ROW
from nnreg.weight_images import ZERO_COLOUR as ZERO_COLOUR
from nnreg.weight_images import draw_weight_images as draw_weight_images
from nnreg.weight_images import first_layer_figure
from nnreg.weight_images import robust_colour_limit as robust_colour_limit
from nnreg.weight_images import weight_images_figure as weight_images_figure
from nnreg.weight_images import weight_mosaic as weight_mosaic

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
    _distinct_labels(runs, [Path(folder) for folder in folders])
    return runs


def _label(folder: Path, config: dict[str, Any]) -> str:
    """``regularizer λ=…`` from the run's settings (the folder name is added by
    :func:`load_runs` only where two runs would otherwise read the same)."""
    settings = config.get("settings", {})
    name = settings.get("reg") or config.get("regularizer", {}).get("name", "?")
    lmbda = settings.get("lmbda")
    if name == "none" or lmbda is None:
        return name
    values = lmbda if isinstance(lmbda, list) else [lmbda]
    return f"{name} λ={','.join(f'{value:g}' for value in values)}"


def _distinct_labels(runs: list[Run], folders: list[Path]) -> None:
    """Runs whose labels coincide get their folder's name in front."""
    for run, folder in zip(runs, folders):
        if sum(other.label == run.label for other in runs) > 1:
            run.label = f"{folder.name}: {run.label}"


def _colour(index: int) -> str:
    return f"C{index % 10}"


def _new_figure(columns: int, rows: int = 1, width: float = 5.0, height: float = 3.8) -> Figure:
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    for axes in figure.subplots(rows, columns, squeeze=False).ravel():
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _marker(run: Run) -> dict[str, Any]:
    """Points marked when there are few epochs (a one-epoch run is one point), small ones
    up to 40 epochs, none beyond."""
    if len(run.epochs) <= 3:
        return {"marker": "o"}
    return {"marker": ".", "markersize": 4} if len(run.epochs) < 40 else {}


def _colour_of(runs: list[Run], index: int, part: int) -> str:
    """One colour per run when several are overlaid, else one per part (data set, cost
    part), so that even a single point per line tells them apart."""
    return _colour(index if len(runs) > 1 else part)


def _line(axes, x, y, gid: str, **style) -> None:
    if y is not None:
        (line,) = axes.plot(x, y, **style)
        line.set_gid(gid)


def _epoch_axis(axes, runs: list[Run], start: int = 1) -> None:
    """Epochs from ``start`` (0: the initial parameters) to the last, whole numbers, with
    half an epoch of margin, so that a run of one epoch is not drawn on 0.95–1.05."""
    last = max(max(run.epochs) for run in runs)
    axes.set_xlim(start - 0.5, last + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.set_xlabel("epoch" if start == 1 else "epoch (0: the initial weights)")


def legend_below(axes, columns: int = 1) -> None:
    """The legend under the axes, never over the data."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            fontsize="small",
            frameon=False,
            ncols=columns,
        )


def readable_log_axis(axes) -> None:
    """Log-scale labels at 1, 2 and 5 of each decade, written as plain numbers."""
    axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _mark_divergence(axes, runs: list[Run]) -> None:
    """A dotted red line at each epoch where a run diverged (its last record)."""
    for run in runs:
        for record in run.metrics:
            if record.get("diverged"):
                axes.axvline(
                    record["epoch"],
                    color="red",
                    linestyle=":",
                    linewidth=1,
                    label=f"{run.label}: diverged" if len(runs) > 1 else "diverged",
                )


def _scale_to_finite(axes, values: list[float]) -> None:
    """A log axis when the finite values span more than three decades (a diverging run's
    cost: the early epochs stay readable); NaN and inf are left out as gaps."""
    finite = np.array([v for v in values if v is not None and np.isfinite(v) and v > 0])
    if len(finite) and finite.max() / finite.min() > 1e3:
        axes.set_yscale("log")


def _start_point(run: Run, layer: int | None, key: str, small: float = 1e-3) -> float | None:
    """A weight statistic of the initial parameters (epoch 0), from the run folder."""
    if run.initial_weights is None:
        return None
    weights = (
        np.concatenate([w.ravel() for w in run.initial_weights])
        if layer is None
        else run.initial_weights[layer]
    )
    if key == "rms":
        return float(np.sqrt(np.mean(np.square(weights))))
    if key == "fraction_zero":
        return float(np.mean(weights == 0))
    return float(np.mean(np.abs(weights) < small))


def _from_start(axes, run: Run, start: float | None, first: float | None, **style) -> None:
    """The segment from the initial weights (epoch 0) to the first epoch."""
    if start is not None and first is not None:
        axes.plot([0, run.epochs[0]], [start, first], **style)


def cost_figure(runs: list[Run]) -> Figure:
    names = [name for name in DATA_SETS if any(name in run.data_sets() for run in runs)]
    figure = _new_figure(len(names))
    for axes, name in zip(figure.axes, names):
        drawn = []
        for index, run in enumerate(runs):
            if name not in run.data_sets():
                continue
            for part, (key, style, description) in enumerate(COST_PARTS):
                values = run.series(name, key)
                drawn += values or []
                _line(
                    axes,
                    run.epochs,
                    values,
                    f"run {index}: {name}/{key}",
                    color=_colour_of(runs, index, part),
                    linestyle=style,
                    **_marker(run),
                    label=f"{run.label}: {description}" if len(runs) > 1 else description,
                )
        _mark_divergence(axes, runs)
        axes.set(title=f"{name} data: cost split", ylabel="cost per example")
        _epoch_axis(axes, runs)
        _scale_to_finite(axes, drawn)
        legend_below(axes, 1 if len(runs) > 1 else 3)
    figure.suptitle("Cost = data cost C₀ + penalty (the penalty uses n = the training-set size)")
    return figure


def accuracy_figure(runs: list[Run]) -> Figure:
    figure = _new_figure(1, width=7.0)
    axes = figure.axes[0]
    for index, run in enumerate(runs):
        for part, name in enumerate(run.data_sets()):
            accuracy = run.series(name, "accuracy")
            _line(
                axes,
                run.epochs,
                [100 * value for value in accuracy],
                f"run {index}: {name}/accuracy*100",
                color=_colour_of(runs, index, part),
                linestyle=DATA_SET_STYLES[name],
                **_marker(run),
                label=f"{run.label}: {name}" if len(runs) > 1 else name,
            )
    axes.set(title="Accuracy", ylabel="accuracy (%)")
    _epoch_axis(axes, runs)
    legend_below(axes, 1 if len(runs) > 1 else 3)
    return figure


def weights_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers + 1)
    for layer, axes in enumerate(figure.axes):
        whole, references, drawn = layer == layers, set(), []
        for index, run in enumerate(runs):
            path = ("weights",) if whole else ("weights", "layers", layer)
            if not whole and layer >= run.num_layers:
                continue
            values = run.series(*path, "rms")
            drawn += values or []
            style = dict(color=_colour(index), **_marker(run))
            _line(
                axes,
                run.epochs,
                values,
                f"run {index}: {'/'.join(map(str, path))}/rms",
                label=run.label if len(runs) > 1 else "RMS weight",
                **style,
            )
            start = _start_point(run, None if whole else layer, "rms")
            drawn.append(start)
            _from_start(axes, run, start, values[0] if values else None, **style)
            references.add(run.series(*path, "reference_rms")[0])
        for reference in sorted(references):  # after the runs: last in the legend
            drawn.append(reference)
            axes.axhline(
                reference,
                color="black",
                linestyle="--",
                linewidth=1,
                label=f"1/√{'N' if whole else 'n_in'} = {reference:.3g}",
            )
        title = "all weights" if whole else f"layer {layer + 1} weights"
        axes.set(title=title, ylabel="RMS weight", yscale="log")
        finite = [v for v in drawn if v is not None and np.isfinite(v) and v > 0]
        if finite:  # the reference line inside the frame, not on its edge
            low, high = min(finite), max(finite)
            pad = 10 ** (0.08 * max(np.log10(high / low), 1.0))
            axes.set_ylim(low / pad, high * pad)
            if high / low < 1e6:  # else (a diverged run) the default decades
                readable_log_axis(axes)
        _epoch_axis(axes, runs, start=0)
        legend_below(axes)
    figure.suptitle("Weight size per layer against 1/√n (dashed)")
    return figure


def histograms_figure(runs: list[Run]) -> Figure:
    layers = max(run.num_layers for run in runs)
    figure = _new_figure(layers)
    for layer, axes in enumerate(figure.axes):
        start = runs[0].label + ": start" if len(runs) > 1 else "start"
        arrays = [(start, runs[0].initial_weights, 0, "initial")]
        arrays += [
            (f"{run.label}: end" if len(runs) > 1 else "end", run.final_weights, index, "final")
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
        legend_below(axes)
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
            for part, (key, style, description) in enumerate(
                (
                    ("fraction_zero", "-", "exactly 0"),
                    ("fraction_small", "--", f"|w| < {small:g}"),
                )
            ):
                values = run.series("weights", "layers", layer, key)
                values = None if values is None else [100 * v for v in values]
                look = dict(color=_colour_of(runs, index, part), linestyle=style, **_marker(run))
                _line(
                    axes,
                    run.epochs,
                    values,
                    f"run {index}: weights/layers/{layer}/{key}*100",
                    label=f"{run.label}: {description}" if len(runs) > 1 else description,
                    **look,
                )
                start = _start_point(run, layer, key, small or 1e-3)
                _from_start(
                    axes,
                    run,
                    None if start is None else 100 * start,
                    values[0] if values else None,
                    **look,
                )
        axes.set(title=f"layer {layer + 1} sparsity", ylabel="weights (%)")
        _epoch_axis(axes, runs, start=0)
        legend_below(axes, 1 if len(runs) > 1 else 2)
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
                **_marker(run),
            )
        axes.axhline(1.0, color="black", linewidth=0.5)
        axes.set(title=f"layer {layer + 1}", yscale="log", ylabel="‖∂penalty/∂W‖ / ‖∂C₀/∂W‖")
        low, high = axes.get_ylim()
        if high / low < 1e6:
            readable_log_axis(axes)
        _epoch_axis(axes, runs)
        if len(runs) > 1:
            legend_below(axes)
    figure.suptitle("Who moves the weights: above 1 the penalty pulls harder than the data")
    return figure


FIGURES: dict[str, Callable[[list[Run]], Figure]] = {
    "cost": cost_figure,
    "accuracy": accuracy_figure,
    "weights": weights_figure,
    "histograms": histograms_figure,
    "sparsity": sparsity_figure,
    "gradient-share": gradient_share_figure,
    "first-layer-weights": first_layer_figure,
}
"""Every figure, by file stem."""


def plot(*sources, labels: Sequence[str] | None = None, only: Sequence[str] | None = None):
    """The figures ``nnreg plot`` writes, as matplotlib figures: ``{"cost": Figure, …}``.

    Each source is a run folder (a path), a :class:`~nnreg.training.History` returned by
    ``nnreg.train``, or a pair ``(history, network)`` — the network gives the figures that
    need the weights themselves (histograms, first-layer images). Several sources are
    overlaid, as ``nnreg plot A B`` does; ``labels`` names them, ``only`` picks figures
    by name (e.g. ``only=["cost", "first-layer-weights"]``).
    """
    if not sources:
        raise ValueError("give at least one run folder, History or (History, Network) pair")
    runs = []
    for index, source in enumerate(sources):
        if isinstance(source, (str, Path)):
            run = load_runs([source])[0]
        else:
            history, network = source if isinstance(source, tuple) else (source, None)
            records = getattr(history, "records", None)
            if not records:
                raise ValueError(
                    f"source {index + 1} is neither a run folder nor a History with epochs"
                )
            weights = None if network is None else [np.array(w) for w in network.weights]
            run = Run(f"run {index + 1}", list(records), {}, None, weights)
        runs.append(run)
    for run, label in zip(runs, labels or []):
        run.label = label
    names = list(FIGURES) if only is None else list(only)
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}: choose from {', '.join(FIGURES)}")
    return {name: FIGURES[name](runs) for name in names}


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
        draw(runs).savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.08)
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
    """Log λ axis that still shows λ = 0 (linear below the smallest positive λ), with a
    labelled tick at every λ of the grid."""
    values = sorted({row["lmbda"] for row in rows})
    positive = [value for value in values if value > 0]
    if positive:
        axes.set_xscale("symlog", linthresh=min(positive))
    axes.set_xticks(values, [f"{value:g}" for value in values])
    axes.xaxis.set_minor_formatter(NullFormatter())
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
    legend_below(axes)
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
            legend_below(axes)
        figure.suptitle(f"{title} against λ")
        figures[stem] = figure
    return figures


def write_sweep_figures(
    rows: list[dict[str, Any]], out: str | Path, dpi: int = 110
) -> dict[str, Path]:
    written = {}
    for stem, figure in sweep_figures(rows).items():
        written[stem] = Path(out) / f"{stem}.png"
        figure.savefig(written[stem], dpi=dpi, bbox_inches="tight", pad_inches=0.08)
    return written
