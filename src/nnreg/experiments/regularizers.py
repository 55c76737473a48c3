"""The whole toolbox on one network: [784, 100, 10], 30 epochs, η = 0.5, m = 10 on MNIST,
with no regularization, L2, L1 (proximal), elastic net, dropout, max-norm, expanded data
(the book's four one-pixel shifts, 250,000 images) and the combinations the book
recommends (L2 with dropout, L2 with expanded data, dropout with max-norm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nnreg.combined import Combined
from nnreg.constraints import MaxNorm
from nnreg.datasets.expand import expand
from nnreg.dropout import Dropout
from nnreg.experiments.common import (
    ProgressFactory,
    experiment_data,
    percent,
    settings_text,
    train_configuration,
)
from nnreg.experiments.report import Report
from nnreg.plots import weight_images_figure
from nnreg.regularizers import L1, L2, ElasticNet, NoRegularization

BOOK = {
    "L2": "97.92% validation (100 hidden, λ = 5, the book's own run)",
    "dropout": "98.4% → 98.7% (Hinton et al. 2012, larger networks, quoted in the book)",
    "expanded data": "98.4% → 98.9% (Simard et al. 2003, 800 hidden, quoted in the book)",
    "L2 + expanded data": "98.9% (Simard et al. 2003, 800 hidden, quoted in the book)",
    "dropout + max-norm": "98.7% (Hinton et al. 2012: dropout with a max-norm-like constraint)",
}


def configurations(seed: int):
    """(label, regularizer, expanded data?) of each run."""
    return [
        ("none", NoRegularization(), False),
        ("L2", L2(5.0), False),
        ("L1 proximal", L1(5.0, method="proximal"), False),
        ("elastic net", ElasticNet(5.0, 5.0), False),
        ("dropout", Dropout(0.5, seed=seed), False),
        ("max-norm", MaxNorm(3.0, layers=[1]), False),
        ("expanded data", NoRegularization(), True),
        ("L2 + dropout", Combined([L2(5.0), Dropout(0.5, seed=seed)]), False),
        ("L2 + expanded data", L2(5.0), True),
        (
            "dropout + max-norm",
            Combined([Dropout(0.5, seed=seed), MaxNorm(3.0, layers=[1])]),
            False,
        ),
    ]


def run(
    quick: bool, data_dir: str | Path | None, seed: int, progress: ProgressFactory | None
) -> Report:
    data = experiment_data(quick, data_dir)
    training, test = data.datasets["training"], data.datasets["test"]
    side = int(round(training.inputs.shape[1] ** 0.5))
    expanded = expand(training, 4, np.random.default_rng([seed, 1]), shape=(side, side))
    runs = [
        train_configuration(
            label,
            expanded if use_expanded else training,
            {"test": test},
            sizes=[data.num_inputs, 30 if quick else 100, 10],
            epochs=5 if quick else 30,
            seed=seed,
            progress=progress,
            regularizer=regularizer,
        )
        for label, regularizer, use_expanded in configurations(seed)
    ]
    table = []
    for run_ in runs:
        layers = run_.history.last["weights"]["layers"]
        table.append(
            [
                run_.label,
                f"{percent(run_.best('test')[0])} (epoch {run_.best('test')[1]})",
                percent(run_.last("test")),
                percent(run_.last("training")),
                percent(layers[0]["fraction_zero"]),
                f"{run_.history.last['weights']['rms']:.3f}",
                f"{run_.seconds:.0f} s",
                "—" if quick else BOOK.get(run_.label, "—"),
            ]
        )
    ranked = sorted(runs, key=lambda r: r.best("test")[0], reverse=True)
    plain = runs[0]
    by_label = {r.label: r for r in runs}
    expanded_time = by_label["expanded data"].seconds / max(plain.seconds, 1e-9)
    summary = (
        f"On {len(training):,} training images the unregularized network's best test accuracy "
        f"is {percent(plain.best('test')[0])}; against it: "
        + ", ".join(
            f"{r.label} {100 * (r.best('test')[0] - plain.best('test')[0]):+.2f}"
            for r in ranked
            if r is not plain
        )
        + f" points. The best is {ranked[0].label} ({percent(ranked[0].best('test')[0])}). "
        "Only the L1 methods make weights exactly zero; dropout and max-norm bound the weights "
        "without a penalty; expanded data shows five times as many (shifted) examples per "
        f"epoch and took {expanded_time:.1f}× the unregularized run's time."
    )
    gaps = "; ".join(
        f"{r.label}: training {percent(r.last('training'))}, test {percent(r.last('test'))}"
        for r in runs
    )
    against_book = (
        "The book's chapter 3 quotes dropout and expanded-data results from papers that used "
        "much larger networks (Hinton et al. 2012; Simard et al. 2003 with 800 hidden units, "
        "who also used elastic distortions) trained far longer; a [784, 100, 10] sigmoid "
        "network trained for 30 epochs is not expected to reach them, and the gap in the table "
        "is that difference in model and budget, not a different algorithm. The book's own "
        "number for this network, 97.92% on validation data with L2 (λ = 5) and the large "
        "initializer, is the one to compare the L2 row with; the l2-full report reproduces "
        "that run. Every row here is one run with one seed; differences of a few tenths of a "
        "point are within seed-to-seed variation. Last-epoch training and test accuracy — "
        f"the gap regularization is meant to close: {gaps}."
    )
    if quick:
        summary += " (Quick run on the 8×8 digits: not comparable with the book's numbers.)"
    return Report(
        name="regularizers",
        title="The regularization toolbox on one network",
        summary=summary,
        columns=[
            "regularization",
            "best test accuracy",
            "last test accuracy",
            "last training accuracy",
            "layer 1 exactly 0",
            "RMS weight",
            "training time",
            "the book",
        ],
        table=table,
        sections=[
            ("Against the book", against_book),
            ("Settings", settings_text(runs, data)),
        ],
        figures=[
            ("summary", "Best test accuracy and training time", _figure(runs)),
            (
                "first-layer-weights",
                "Each hidden unit's input weights as an image, one panel per regularization: "
                "exact zeros in green",
                weight_images_figure([(run_.label, run_.final_weights[0]) for run_ in runs]),
            ),
        ],
    )


def _figure(runs) -> Figure:
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    accuracy_axes, time_axes = figure.subplots(1, 2)
    labels = [r.label for r in runs]
    positions = np.arange(len(runs))
    accuracy_axes.barh(positions, [100 * r.best("test")[0] for r in runs], color="C0")
    accuracy_axes.set(yticks=positions, yticklabels=labels, xlabel="best test accuracy (%)")
    low = min(100 * r.best("test")[0] for r in runs)
    accuracy_axes.set_xlim(max(0.0, low - 2), 100)
    accuracy_axes.invert_yaxis()
    time_axes.barh(positions, [r.seconds for r in runs], color="C1")
    time_axes.set(yticks=positions, yticklabels=labels, xlabel="training time (s)")
    time_axes.invert_yaxis()
    return figure
