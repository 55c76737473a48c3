"""The book's overfitting experiment (chapter 3): 1,000 MNIST training images,
[784, 30, 10], the large initializer N(0, 1), 400 epochs, η = 0.5, m = 10, without and with
L2 (λ = 0.1, n = 1,000)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from nnreg.experiments.common import (
    ProgressFactory,
    experiment_data,
    percent,
    settings_text,
    train_configuration,
)
from nnreg.experiments.report import Report
from nnreg.plots import legend_below

BOOK = {"none": 0.8227, "l2": 0.871}
"""Best test accuracy the book reports without and with L2 (λ = 0.1)."""


def run(
    quick: bool, data_dir: str | Path | None, seed: int, progress: ProgressFactory | None
) -> Report:
    data = experiment_data(quick, data_dir)
    training = data.datasets["training"].head(300 if quick else 1000)
    test = data.datasets["test"]
    epochs = 60 if quick else 400
    runs = [
        train_configuration(
            label,
            training,
            {"test": test},
            sizes=[data.num_inputs, 30, 10],
            epochs=epochs,
            reg=reg,
            lmbda=lmbda,
            initializer="large",
            seed=seed,
            progress=progress,
        )
        for label, reg, lmbda in (("without L2", "none", 0.0), ("L2, λ = 0.1", "l2", 0.1))
    ]
    table = []
    for run_, reg in zip(runs, ("none", "l2")):
        best, epoch = run_.best("test")
        train_cost = run_.series("training", "data_cost")
        table.append(
            [
                run_.label,
                f"{percent(best)} (epoch {epoch})",
                percent(run_.last("test")),
                percent(run_.last("training")),
                f"{train_cost[0]:.3f} → {train_cost[-1]:.4f}",
                "—" if quick else percent(BOOK[reg]),
            ]
        )
    plain, regularized = runs
    gap = regularized.best("test")[0] - plain.best("test")[0]
    turning = _turning_point(plain.series("test", "data_cost"))
    at_turn = plain.series("test", "accuracy")[turning - 1]
    best, best_epoch = plain.best("test")
    summary = (
        f"With {len(training):,} training images the unregularized network drives its training "
        f"cost from {plain.series('training', 'data_cost')[0]:.3f} to "
        f"{plain.series('training', 'data_cost')[-1]:.4f} and classifies "
        f"{percent(plain.last('training'))} of them, but its test data cost is lowest at epoch "
        f"{turning} and rises from there, and test accuracy, {percent(at_turn)} at that "
        f"epoch, gains only {100 * (best - at_turn):.2f} points over the remaining "
        f"{epochs - turning} epochs (best {percent(best)}, epoch {best_epoch}): what it still "
        "learns about its training images hardly carries over — overfitting. L2 with "
        f"λ = 0.1 keeps the weights small (RMS {regularized.history.last['weights']['rms']:.3f} "
        f"against {plain.history.last['weights']['rms']:.3f}), and the best test accuracy "
        f"moves by {100 * gap:+.2f} points."
    )
    if quick:
        summary += " (Quick run on the 8×8 digits: not comparable with the book's numbers.)"
    return Report(
        name="overfitting",
        title="Overfitting, and what L2 changes",
        summary=summary,
        columns=[
            "run",
            "best test accuracy",
            "last test accuracy",
            "last training accuracy",
            "training data cost (first → last epoch)",
            "the book (best test)",
        ],
        table=table,
        sections=[
            (
                "How to read it",
                "The book quotes the best epoch's test accuracy; the table gives the best and "
                "the last. The training cost keeps falling while the test cost turns upward: "
                f"after that point the network learns peculiarities of its {len(training):,} "
                f"images. The penalty (λ/2n)·Σw² uses n = {len(training):,}, the "
                "training-set size.",
            ),
            ("Settings", settings_text(runs, data)),
        ],
        figures=[
            ("costs", "Data cost C₀ on the training and the test data", _cost_figure(runs)),
            ("accuracy", "Accuracy on the training and the test data", _accuracy_figure(runs)),
        ],
    )


def _turning_point(costs: list[float]) -> int:
    """The epoch of the lowest cost (after which it rises)."""
    return min(range(len(costs)), key=costs.__getitem__) + 1


def _cost_figure(runs) -> Figure:
    figure = Figure(figsize=(11, 4), layout="constrained")
    for axes, name in zip(figure.subplots(1, 2), ("training", "test")):
        for index, run_ in enumerate(runs):
            epochs = run_.series("epoch")
            axes.plot(epochs, run_.series(name, "data_cost"), color=f"C{index}", label=run_.label)
        axes.set(title=f"{name} data", xlabel="epoch", ylabel="data cost C₀ per example")
        if name == "training":
            axes.set_yscale("log")
        legend_below(axes, 3)
    return figure


def _accuracy_figure(runs) -> Figure:
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    for index, run_ in enumerate(runs):
        epochs = run_.series("epoch")
        for name, style in (("training", "--"), ("test", "-")):
            accuracy = [100 * value for value in run_.series(name, "accuracy")]
            axes.plot(
                epochs, accuracy, color=f"C{index}", linestyle=style, label=f"{run_.label}: {name}"
            )
    axes.set(xlabel="epoch", ylabel="accuracy (%)")
    legend_below(axes, 3)
    return figure
