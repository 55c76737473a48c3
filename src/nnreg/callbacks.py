"""Callbacks for ``nnreg.train`` from Python, in a terminal or a notebook.

* :class:`EarlyStopping` — stop after ``patience`` epochs without a better validation
  accuracy and restore the best parameters (the book's chapter-3 suggestion);
* :class:`HalveLearningRate` — halve η after ``patience`` epochs without a better validation
  accuracy, stop once η < η₀/128 (the book's schedule);
* :class:`ProgressBar` — a progress bar (``nnreg.train(..., progress=True)``), and a line per
  epoch with ``progress="epochs"``: a rich bar in a terminal, one text output replaced in
  place in a notebook;
* :class:`LivePlot` — in a notebook, one figure redrawn in place each epoch (less often when
  epochs are shorter than a drawing): the cost split into data cost and penalty, accuracy,
  per-layer RMS against 1/√n_in, exact zeros, sign flips and the first layer's weights as
  images. In a terminal or a script it does nothing.

A callback is any :class:`nnreg.Callback`: ``on_train_begin(epochs, steps_per_epoch)``,
``on_steps(steps)``, ``on_epoch_end(record, network)`` (``record`` is the epoch's metrics, see
:class:`nnreg.History`), ``on_train_end(history, network)``, ``on_interrupt``, ``on_abort``; setting
``stop_training = True`` ends training after the epoch.
"""

from __future__ import annotations

import io
import numbers
import time
from typing import Any

from nnreg import notebook
from nnreg.optimizers import Optimizer
from nnreg.schedules import PlateauWatcher
from nnreg.training import Callback


class EarlyStopping(PlateauWatcher):
    """Stop after ``patience`` epochs without a better accuracy on ``data_set`` (an
    evaluation set passed to ``nnreg.train``); the best parameters are put back into the
    network when training ends. ``best_epoch``, ``best_accuracy`` and ``reason`` say what
    happened."""

    def __init__(self, patience: int, data_set: str = "validation") -> None:
        super().__init__(None, early_stopping_n=patience, data_set=data_set)


class HalveLearningRate(PlateauWatcher):
    """Halve the learning rate of ``optimizer`` after ``patience`` epochs without a better
    accuracy on ``data_set`` (counting again after each halving); stop once η < η₀/128."""

    def __init__(self, optimizer: Optimizer, patience: int, data_set: str = "validation") -> None:
        super().__init__(optimizer, halve_after_n=patience, data_set=data_set)


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """``epoch   3/30  cost 0.41 = C₀ 0.39 + penalty 0.02  train 94.1%  val 93.8%  zeros 0.0%``."""
    from nnreg.text import readable

    epoch = f"epoch {record['epoch']:>3}/{epochs}"
    if "training" not in record:  # diverged inside the epoch: nothing was measured
        return f"{epoch}  diverged"
    train = record["training"]
    parts = [
        epoch,
        f"cost {readable(train['total_cost'])} = C₀ {readable(train['data_cost'])}"
        f" + penalty {readable(train['penalty'])}",
        f"train {train['accuracy']:.2%}",
    ]
    if "validation" in record:
        parts.append(f"val {record['validation']['accuracy']:.2%}")
    if "weights" in record:
        parts.append(f"zeros {record['weights']['fraction_zero']:.1%}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Training progress: in a terminal a rich progress bar (and, with ``epoch_lines``, a
    line per epoch above it); in a notebook one text output replaced in place, at most
    ``refresh`` times a second."""

    def __init__(self, epoch_lines: bool = False, refresh: float = 4.0) -> None:
        self.epoch_lines = epoch_lines
        self.refresh = refresh
        self.lines: list[str] = []

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.done, self.epoch, self.shown_at = 0, 0, 0.0
        self.in_notebook = notebook.in_notebook()
        if self.in_notebook:
            self.display = notebook.Display()
            self._show(force=True)
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[bold]training", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            transient=True,
        )  # fmt: skip
        self.progress.start()
        self.task = self.progress.add_task("training", total=epochs * steps_per_epoch)

    def on_steps(self, steps: int) -> None:
        self.done += steps
        if self.in_notebook:
            self._show()
        else:
            self.progress.update(self.task, completed=self.done)

    def on_epoch_end(self, record: dict[str, Any], network) -> None:
        self.epoch += 1
        line = epoch_line(record, self.epochs)
        if self.epoch_lines:
            self.lines.append(line)
        self.last = line
        if self.in_notebook:
            self._show(force=True)
        elif self.epoch_lines:
            self.progress.console.print(line, soft_wrap=True)

    def on_train_end(self, history, network) -> None:
        if self.in_notebook:
            self._show(force=True)
        else:
            self.progress.stop()

    def on_interrupt(self, history, network) -> None:
        self.on_train_end(history, network)

    def on_abort(self) -> None:
        progress = None if getattr(self, "in_notebook", True) else getattr(self, "progress", None)
        if progress is not None:
            progress.stop()  # the terminal gets its cursor back

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown_at < 1 / self.refresh:
            return
        self.shown_at = now
        from IPython.display import Pretty

        total = max(1, self.epochs * self.steps_per_epoch)
        filled = int(30 * self.done / total)
        bar = f"training [{'█' * filled}{'·' * (30 - filled)}] {100 * self.done / total:3.0f}%"
        last = getattr(self, "last", None)
        shown = self.lines if self.epoch_lines else ([last] if last else [])
        self.display.show(Pretty("\n".join([*shown, bar])))


class LivePlot(Callback):
    """In a notebook, one figure redrawn in place every ``every`` epochs: the training and
    validation cost split into data cost C₀ and penalty, the accuracy, each layer's RMS
    weight against 1/√n_in, the fraction of weights exactly 0, the sign flips per epoch,
    and the first layer's weights as images (exact zeros in green). Outside a notebook it
    draws nothing and costs nothing.

    Drawing the figure takes about a second. When epochs are shorter than that (small data,
    small networks), it waits after each drawing, up to the next epoch that is due, until
    drawing has taken at most ``drawing_share`` of the time (by default a quarter: training
    is slowed by at most a third); ``drawing_share=1`` draws every ``every`` epochs whatever
    it costs. The last epoch is always drawn."""

    def __init__(self, every: int = 1, dpi: int = 80, drawing_share: float = 0.25) -> None:
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"LivePlot: every must be a whole number of epochs ≥ 1, got {every!r}")
        if isinstance(dpi, bool) or not isinstance(dpi, numbers.Real) or not 10 <= dpi <= 600:
            raise ValueError(f"LivePlot: dpi must be a number from 10 to 600, got {dpi!r}")
        if (
            isinstance(drawing_share, bool)
            or not isinstance(drawing_share, numbers.Real)
            or not 0 < drawing_share <= 1
        ):
            raise ValueError(
                f"LivePlot: drawing_share must be a number in (0, 1], got {drawing_share!r}"
            )
        self.every, self.dpi, self.drawing_share = int(every), dpi, float(drawing_share)
        self.records: list[dict[str, Any]] = []
        self.figure = None  # the last figure drawn (a matplotlib Figure)
        self.drawn = 0  # how many epochs the figure shows
        self._last_drawing = (0.0, 0.0)  # (when the last drawing ended, how long it took)

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.active = notebook.in_notebook()
        if self.active:
            self.display = notebook.Display()

    def on_epoch_end(self, record: dict[str, Any], network) -> None:
        if not getattr(self, "active", False):
            return
        self.records.append(record)
        if len(self.records) % self.every == 0 and self._time_to_draw():
            self._draw(network)

    def on_train_end(self, history, network) -> None:
        if getattr(self, "active", False) and len(self.records) > self.drawn:
            self._draw(network)

    def _time_to_draw(self) -> bool:
        """Whether the time since the last drawing ended is long enough for that drawing's
        duration to be at most ``drawing_share`` of both together."""
        ended, took = self._last_drawing
        return time.monotonic() - ended >= took * (1 / self.drawing_share - 1)

    def _draw(self, network) -> None:
        from IPython.display import Image

        start = time.monotonic()
        self.figure = live_figure(self.records, network)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        self.display.show(Image(data=buffer.getvalue(), format="png"))
        self.drawn = len(self.records)
        end = time.monotonic()
        self._last_drawing = (end, end - start)


def live_figure(records: list[dict[str, Any]], network):
    """The LivePlot figure for these epoch records and the network's current weights."""
    import numpy as np
    from matplotlib.figure import Figure

    from nnreg.plots import draw_weight_images, legend_below, readable_log_axis

    figure = Figure(figsize=(15, 7.5), layout="constrained")
    grid = figure.subplots(2, 3)
    epochs = [r["epoch"] for r in records if "training" in r]
    measured = [r for r in records if "training" in r]

    def series(*path):
        values = []
        for record in measured:
            value: Any = record
            for key in path:
                value = value[key]
            values.append(np.nan if value is None else value)
        return values

    cost, accuracy, rms, zeros, flips, images = grid.ravel()
    for part, (name, style) in enumerate((("training", "-"), ("validation", "--"))):
        if measured and name in measured[0]:
            cost.plot(epochs, series(name, "data_cost"), style, color="C0", label=f"{name} C₀")
            accuracy.plot(epochs, [100 * v for v in series(name, "accuracy")], style,
                          color=f"C{part}", marker=".", label=name)  # fmt: skip
    if measured:
        cost.plot(epochs, series("training", "penalty"), ":", color="C1", label="penalty")
        cost.plot(epochs, series("training", "total_cost"), "-", color="C2", label="total")
    cost.set(title="cost = data cost C₀ + penalty", xlabel="epoch")
    accuracy.set(title="accuracy (%)", xlabel="epoch")
    layers = len(measured[0]["weights"]["layers"]) if measured else 0
    for layer in range(layers):
        colour = f"C{layer}"
        rms.plot(epochs, series("weights", "layers", layer, "rms"), color=colour,
                 marker=".", label=f"layer {layer + 1}")  # fmt: skip
        rms.axhline(measured[0]["weights"]["layers"][layer]["reference_rms"], color=colour,
                    linestyle="--", linewidth=1)  # fmt: skip
        zeros.plot(epochs, [100 * v for v in series("weights", "layers", layer, "fraction_zero")],
                   color=colour, marker=".", label=f"layer {layer + 1}")  # fmt: skip
        flips.plot(epochs, series("weights", "layers", layer, "sign_flips"), color=colour,
                   marker=".", label=f"layer {layer + 1}")  # fmt: skip
    rms.set(title="RMS weight (dashed: 1/√n_in)", xlabel="epoch", yscale="log")
    readable_log_axis(rms)
    zeros.set(title="weights exactly 0 (%)", xlabel="epoch")
    zeros.set_ylim(0, max(1.0, zeros.get_ylim()[1]))  # a flat 0 % sits on the bottom
    flips.set(title="sign flips in the epoch", xlabel="epoch")
    for axes in (cost, accuracy, rms, zeros, flips):
        legend_below(axes, 3)
    draw_weight_images(images, np.asarray(network.weights[0]), "first layer, per hidden unit")
    figure.suptitle(f"epoch {records[-1]['epoch']}" if records else "")
    return figure


class RunFolder(Callback):
    """Write what ``nnreg train`` writes — config.json, metrics.jsonl, the parameters and a
    checkpoint after every epoch, summary.json at the end — for a run trained from Python,
    so that it can be resumed with ``nnreg train --resume PATH``, drawn with ``nnreg plot``
    and found done by a sweep, like a run of the command line.

    ``data`` names the data set the run trains on as ``nnreg train --data`` would (digits,
    mnist, fashion-mnist or a folder) and ``seed`` the seed recorded with it. The run must be
    one ``nnreg train`` can repeat: its network, optimizer, regularizer and data are checked
    against the settings they make when training begins, and a ``ValueError`` says what has
    no ``nnreg train`` equivalent (a custom regularizer, a combination, a subset of the data)
    before anything is written.

    ``snapshots=True`` also keeps the parameters after every epoch in ``snapshots/``, as
    ``nnreg train --snapshots`` does (``nnreg board`` then shows the weights at any epoch).

    :class:`EarlyStopping` and :class:`HalveLearningRate` among the same callbacks are
    recorded as ``--early-stopping`` and ``--halve-eta-after``, with what a resume needs
    (the best parameters, η₀ and the last halving); put RunFolder after them, so that the
    epoch it writes is the one they have finished with.
    """

    def __init__(self, path, data: str = "digits", seed: int = 0, snapshots: bool = False) -> None:
        from pathlib import Path

        if not isinstance(snapshots, bool):
            raise ValueError(f"RunFolder: snapshots must be True or False, got {snapshots!r}")
        self.folder, self.data, self.seed, self.snapshots = Path(path), data, seed, snapshots
        self.writer = None

    def bind(self, network, optimizer, regularizer, state, training, evaluation, batch_size,
             epochs, n, callbacks=()) -> None:  # fmt: skip
        """Called by ``nnreg.train`` before training starts, with what the run is made of."""
        import dataclasses

        from nnreg.runs import RunFolderWriter
        from nnreg.session import load_data

        settings = _settings_of(self, network, optimizer, regularizer, state, batch_size, epochs)
        self.stopping, self.halving = _plateau_watchers(self, callbacks, optimizer, evaluation)
        settings = dataclasses.replace(
            settings,
            early_stopping=self.stopping.early_stopping_n if self.stopping else None,
            halve_eta_after=self.halving.halve_after_n if self.halving else None,
        )
        datasets = load_data(self.data, None, None, None)
        if (
            len(datasets["training"]) != len(training)
            or datasets["training"].inputs.shape[1] != training.inputs.shape[1]
        ):
            raise ValueError(
                f"RunFolder: the training data ({len(training)} examples) are not the "
                f"{self.data!r} data set's training split ({len(datasets['training'])}); "
                "name the data set it is (RunFolder(path, data=...))"
            )
        if n != len(training):
            settings = dataclasses.replace(settings, training_set_size=n)
        config = {
            "settings": dataclasses.asdict(settings),
            "training_set_size": n,
            "regularizer": regularizer.config(),
            "optimizer": optimizer.config(),
            "examples": {"training": len(training), **{k: len(v) for k, v in evaluation.items()}},
        }
        self.optimizer = optimizer
        self.started = time.perf_counter()
        self.writer = RunFolderWriter(
            self.folder,
            config,
            network,
            state,
            extra_state=self._extra_state,
            snapshots=self.snapshots,
        )

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
        if self.writer is None:
            raise ValueError("RunFolder works with nnreg.train (it is given the run there)")
        self.writer.on_train_begin(epochs, steps_per_epoch)

    def _extra_state(self) -> dict[str, Any]:
        """What ``nnreg train --resume`` reads back into its watcher (see
        :meth:`nnreg.schedules.PlateauWatcher.state`)."""
        if self.halving:  # it halves this run's optimizer
            return self.halving.state()
        extra = {"learning_rate": self.optimizer.learning_rate}
        if self.stopping:  # η never changes: η₀ is η, and no halving happened
            extra.update(initial_learning_rate=self.optimizer.learning_rate, last_halving_epoch=0)
        return extra

    def on_epoch_end(self, record: dict[str, Any], network) -> None:
        from nnreg.checkpoints import save_parameters
        from nnreg.schedules import BEST_PARAMETERS

        if self.stopping or self.halving:  # nnreg train's watcher records η every epoch
            record.setdefault("learning_rate", self.optimizer.learning_rate)
        if self.stopping and self.stopping.best_epoch == record["epoch"]:
            save_parameters(self.folder / BEST_PARAMETERS, *self.stopping.best_parameters)
        self.writer.on_epoch_end(record, network)

    def on_interrupt(self, history, network) -> None:
        self.writer.on_interrupt(history, network)

    def on_abort(self) -> None:
        if self.writer is not None:
            self.writer.on_abort()

    def on_train_end(self, history, network) -> None:
        from nnreg.runs import SUMMARY, write_json
        from nnreg.session import summarize

        self.writer.on_train_end(history, network)
        if history.records and not history.last.get("diverged"):
            summary = summarize(history, self.stopping or self.halving)
            summary["time"]["run"] = time.perf_counter() - self.started
            write_json(self.folder / SUMMARY, summary)


def _plateau_watchers(run_folder, callbacks, optimizer, evaluation):
    """The :class:`EarlyStopping` and :class:`HalveLearningRate` among ``callbacks`` (``None``
    for each that is absent), checked to be what ``nnreg train`` can repeat: at most one of
    each, watching the validation set, halving this run's optimizer, and before
    ``run_folder`` in the list."""
    callbacks = list(callbacks)
    found = {}
    for kind, name in ((EarlyStopping, "EarlyStopping"), (HalveLearningRate, "HalveLearningRate")):
        watchers = [c for c in callbacks if isinstance(c, kind)]
        if len(watchers) > 1:
            raise ValueError(f"RunFolder: nnreg train has one {name}, this run has {len(watchers)}")
        watcher = watchers[0] if watchers else None
        if watcher is not None:
            if watcher.data_set != "validation" or "validation" not in evaluation:
                raise ValueError(
                    f"RunFolder: nnreg train's {name} watches the validation set, this one "
                    f"watches {watcher.data_set!r}"
                )
            if kind is HalveLearningRate and watcher.optimizer is not optimizer:
                raise ValueError(
                    "RunFolder: HalveLearningRate halves another optimizer than this run's"
                )
            if callbacks.index(watcher) > callbacks.index(run_folder):
                raise ValueError(
                    f"RunFolder: put it after {name} in callbacks, so that each epoch it "
                    "writes is the one the watcher has finished with"
                )
        found[name] = watcher
    others = [
        c
        for c in callbacks
        if isinstance(c, PlateauWatcher) and not isinstance(c, (EarlyStopping, HalveLearningRate))
    ]
    if others:
        raise ValueError(f"RunFolder: nnreg train has no callback like {type(others[0]).__name__}")
    return found["EarlyStopping"], found["HalveLearningRate"]


def _settings_of(run_folder, network, optimizer, regularizer, state, batch_size, epochs):
    """The ``nnreg train`` settings that repeat this run, or ``ValueError`` saying what
    has none."""
    from nnreg.regularizers import REGULARIZERS
    from nnreg.session import TrainSettings, regularizer_for

    optimizer_config = optimizer.config()
    if optimizer_config["name"] not in ("sgd", "momentum"):
        raise ValueError(f"RunFolder: nnreg train has no {optimizer_config['name']!r} optimizer")
    wanted = regularizer.config()
    base = dict(
        data=run_folder.data,
        sizes=list(network.sizes),
        activation=network.activation.name,
        cost=network.cost.name,
        initializer=network.initializer or "default",
        epochs=state.epoch + epochs,
        batch_size=batch_size,
        eta=optimizer_config["learning_rate"],
        momentum=optimizer_config.get("momentum", 0.0),
        seed=run_folder.seed,
        dtype=network.dtype.name,
        regularize_biases=bool(wanted.get("regularize_biases", False)),
        reg_layers=wanted.get("layers"),
    )
    lmbda = wanted.get("lmbda", wanted.get("l1_lmbda", 0.0))
    for name in REGULARIZERS:
        extra = {"l2_lmbda": wanted.get("l2_lmbda")} if name == "elastic-net" else {}
        try:
            settings = TrainSettings(**base, reg=name, lmbda=lmbda, **extra)
            if regularizer_for(settings).config() == wanted:
                return settings
        except (ValueError, TypeError):
            continue
    raise ValueError(
        f"RunFolder: nnreg train has no regularizer like {wanted}: write this run's metrics "
        "yourself, or train it with settings nnreg train knows"
    )
