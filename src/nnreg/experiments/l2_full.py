"""L2 on the full training set (chapter 3): 50,000 MNIST images, 30 epochs, η = 0.5,
m = 10, the large initializer; [784, 30, 10] with λ = 5.0 and with λ = 0, and
[784, 100, 10] with λ = 5.0 (the book reports that one on the validation data)."""

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

CONFIGURATIONS = (
    # label, hidden units, λ, data set the book reports, the book's best accuracy
    ("30 hidden, λ = 5.0", 30, 5.0, "test", 0.9649),
    ("30 hidden, λ = 0", 30, 0.0, "test", 0.9549),
    ("100 hidden, λ = 5.0", 100, 5.0, "validation", 0.9792),
)


def run(
    quick: bool, data_dir: str | Path | None, seed: int, progress: ProgressFactory | None
) -> Report:
    data = experiment_data(quick, data_dir)
    evaluation = {name: data.datasets[name] for name in ("validation", "test")}
    runs = [
        train_configuration(
            label,
            data.datasets["training"],
            evaluation,
            sizes=[data.num_inputs, hidden, 10],
            epochs=10 if quick else 30,
            reg="l2" if lmbda else "none",
            lmbda=lmbda,
            initializer="large",
            seed=seed,
            progress=progress,
        )
        for label, hidden, lmbda, _, _ in CONFIGURATIONS
    ]
    table = []
    for run_, (_, _, _, data_set, book) in zip(runs, CONFIGURATIONS):
        best, epoch = run_.best(data_set)
        difference = "" if quick else f" ({100 * (best - book):+.2f} points)"
        table.append(
            [
                run_.label,
                data_set,
                f"{percent(best)} (epoch {epoch}){difference}",
                percent(run_.last(data_set)),
                percent(run_.last("training")),
                "—" if quick else percent(book),
            ]
        )
    regularized, plain, wide = runs
    summary = (
        f"On {len(data.datasets['training']):,} training images L2 with λ = 5.0 reaches a best "
        f"test accuracy of {percent(regularized.best('test')[0])} against "
        f"{percent(plain.best('test')[0])} without regularization; at the last epoch training "
        f"accuracy exceeds test accuracy by "
        f"{100 * (regularized.last('training') - regularized.last('test')):.2f} points with L2 "
        f"and by {100 * (plain.last('training') - plain.last('test')):.2f} without. "
        f"With 100 hidden neurons the best validation accuracy is "
        f"{percent(wide.best('validation')[0])}."
    )
    if quick:
        summary += " (Quick run on the 8×8 digits: not comparable with the book's numbers.)"
    return Report(
        name="l2-full",
        title="L2 regularization on the full training set",
        summary=summary,
        columns=[
            "run",
            "data set",
            "best accuracy (vs the book)",
            "last accuracy",
            "last training accuracy",
            "the book (best)",
        ],
        table=table,
        sections=[
            (
                "How to read it",
                "The book quotes the accuracy of the best epoch of one run; the table gives "
                "the best and the last epoch of one run with the seed below. Over seeds the "
                "best epoch varies by a few tenths of a point, so differences of that size "
                "are noise. The penalty uses n = the training-set size; η·λ/n = "
                f"{0.5 * 5.0 / len(data.datasets['training']):.2e} per step.",
            ),
            ("Settings", settings_text(runs, data)),
        ],
        figures=[("accuracy", "Accuracy per epoch", _accuracy_figure(runs))],
    )


def _accuracy_figure(runs) -> Figure:
    figure = Figure(figsize=(11, 4), layout="constrained")
    for axes, name in zip(figure.subplots(1, 2), ("training", "test")):
        for index, run_ in enumerate(runs):
            accuracy = [100 * value for value in run_.series(name, "accuracy")]
            axes.plot(run_.series("epoch"), accuracy, color=f"C{index}", label=run_.label)
            if name == "test" and run_.label.startswith("100"):
                validation = [100 * value for value in run_.series("validation", "accuracy")]
                axes.plot(
                    run_.series("epoch"),
                    validation,
                    color=f"C{index}",
                    linestyle="--",
                    label=f"{run_.label}: validation",
                )
        axes.set(title=f"{name} data", xlabel="epoch", ylabel="accuracy (%)")
        legend_below(axes, 3)
    return figure
