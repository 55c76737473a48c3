"""One training run from plain settings: what ``nnreg train`` does, as a library function.

:class:`TrainSettings` holds the options of ``nnreg train``; :func:`run_training` builds
the network, optimizer and regularizer from them, trains, and writes the run folder
(see :mod:`nnreg.runs`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.activity import ActivityRegularizer
from nnreg.checkpoints import has_checkpoint, load_checkpoint
from nnreg.combined import Combined
from nnreg.constraints import MaxNorm
from nnreg.datasets import Dataset, load_digits
from nnreg.datasets.dataset import data_checksums
from nnreg.datasets.download import DownloadError, Progress
from nnreg.datasets.fashion_mnist import load_fashion_mnist
from nnreg.datasets.folders import load_idx_folder
from nnreg.datasets.mnist import load_mnist
from nnreg.dropout import Dropout
from nnreg.network import DTYPES, Network
from nnreg.optimizers import make_optimizer
from nnreg.regularizers import make_regularizer
from nnreg.runs import (
    SNAPSHOTS,
    SUMMARY,
    RunFolderWriter,
    read_config,
    repair_initial_parameters,
    write_json,
)
from nnreg.schedules import PlateauWatcher
from nnreg.training import (
    Callback,
    History,
    StopFlag,
    TrainingInterrupted,
    TrainingState,
    train,
)
from nnreg.validation import MAX_UNITS, check_int, check_parameter_memory, check_sizes

DATASETS = {
    "digits": lambda folder, mirrors, progress: load_digits(),
    "mnist": lambda folder, mirrors, progress: load_mnist(
        folder, mirrors=mirrors, progress=progress
    ),
    "fashion-mnist": lambda folder, mirrors, progress: load_fashion_mnist(folder),
}
"""Named data sets; anything else given as ``data`` is a folder of IDX files."""

DATA_SHAPES = {
    "digits": (64, 10, 1197),
    "mnist": (784, 10, 50_000),
    "fashion-mnist": (784, 10, 50_000),
}
"""Input features, classes and training examples of each named data set: ``sizes`` and
``batch_size`` are checked against them before any data is loaded (a test checks them
against the loaded data)."""

MAX_EPOCHS = 100_000
"""The most epochs a run may ask for (a typo such as 10³⁰ would hold a machine forever)."""


def load_data(
    data: str,
    data_dir: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Dataset]:
    """The training / validation / test splits of a named data set or of a folder."""
    if data in DATASETS:
        return DATASETS[data](data_dir, mirrors, progress)
    path = Path(data).expanduser()
    if path.is_dir():
        return load_idx_folder(path)
    if path.exists():
        raise ValueError(
            f"{data} is a file, not a folder: give the folder holding the four MNIST-style "
            f"IDX files, or one of {', '.join(DATASETS)}"
        )
    if any(mark in data for mark in ("/", "\\", "~")) or data.startswith("."):
        raise ValueError(
            f"the folder {data} does not exist: give a folder holding the four MNIST-style "
            f"IDX files, or one of {', '.join(DATASETS)}"
        )
    raise ValueError(
        f"unknown data set {data!r}: choose {', '.join(DATASETS)}, or give a folder holding "
        "the four MNIST-style IDX files"
    )


@dataclass
class TrainSettings:
    """The options of ``nnreg train``; defaults reach ≥ 93% test accuracy on digits."""

    data: str = "digits"
    data_dir: str | None = None
    mirrors: Sequence[str] | None = None
    sizes: Sequence[int] | None = None
    hidden: int = 30
    activation: str = "sigmoid"
    cost: str = "cross-entropy"
    initializer: str = "default"
    epochs: int = 30
    batch_size: int = 10
    eta: float = 0.5
    lmbda: float | Sequence[float] = 0.1
    l2_lmbda: float | Sequence[float] | None = None
    reg: str = "l2"
    regularize_biases: bool = False
    momentum: float = 0.0
    seed: int = 0
    dtype: str = "float64"
    training_set_size: int | None = None
    early_stopping: int | None = None
    halve_eta_after: int | None = None
    reg_layers: Sequence[int] | None = None
    dropout: float | Sequence[float] = 0.0
    max_norm: float | None = None
    activity_l1: float = 0.0
    activity_l2: float = 0.0
    expand: int = 0


@dataclass
class RunResult:
    folder: Path
    history: History
    summary: dict[str, Any]


def default_run_folder(settings: TrainSettings, root: Path = Path("runs")) -> Path:
    """``runs/<date>-<time>-<reg>``, with a numeric suffix if that exists already."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{settings.reg}"
    folder, suffix = root / stem, 1
    while folder.exists():
        suffix += 1
        folder = root / f"{stem}-{suffix}"
    return folder


def run_training(
    settings: TrainSettings,
    out: Path | None = None,
    callbacks: Iterable[Callback] = (),
    download_progress: Progress | None = None,
    stop: StopFlag | None = None,
    snapshots: bool = False,
) -> RunResult:
    """Train as ``nnreg train`` does and write the run folder; returns folder, history, summary.

    With ``stop``, training can be interrupted between two steps: a checkpoint is written
    and :class:`~nnreg.training.TrainingInterrupted` (with ``folder``) is raised. With
    ``snapshots``, every epoch's parameters are kept too (``snapshots/epoch-0001.npz``…), for
    looking at the weights of any epoch later; a resumed run goes on keeping them."""
    folder = Path(out) if out is not None else default_run_folder(settings)
    return _train(
        located(settings),
        folder,
        callbacks,
        download_progress,
        resume=False,
        stop=stop,
        snapshots=snapshots,
    )


def located(settings: TrainSettings) -> TrainSettings:
    """``settings`` with where the data are as absolute paths (``data_dir``, and ``data``
    when it names a folder), so the run folder records where the data really are and a run
    resumes from any current folder."""
    changes: dict[str, Any] = {}
    if settings.data_dir is not None and str(settings.data_dir).strip():
        changes["data_dir"] = str(Path(settings.data_dir).expanduser().resolve())
    folder = Path(settings.data).expanduser()
    if settings.data not in DATASETS and str(settings.data).strip() and folder.is_dir():
        changes["data"] = str(folder.resolve())
    return dataclasses.replace(settings, **changes)


def resume_training(
    folder: Path,
    callbacks: Iterable[Callback] = (),
    download_progress: Progress | None = None,
    stop: StopFlag | None = None,
    data_dir: str | Path | None = None,
    data: str | Path | None = None,
) -> RunResult:
    """Continue the run in ``folder`` from its last good checkpoint, with its own settings;
    the result is bit for bit that of an uninterrupted run.

    The data are read where the run folder says they are, unless they moved: then
    ``data_dir`` (for MNIST or Fashion-MNIST) or ``data`` (for a run trained on a folder of
    IDX files) says where they are now. Either way the data loaded must be the ones the run
    was trained on: their SHA-256 is compared with the one the run folder recorded."""
    folder = Path(folder)
    config = read_config(folder)
    try:
        settings = TrainSettings(**config["settings"])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"{folder}/config.json does not hold nnreg train settings ({error})"
        ) from None
    settings = _moved_data(settings, config, folder, data_dir, data)
    snapshots = (folder / SNAPSHOTS).is_dir()
    return _train(
        settings, folder, callbacks, download_progress, resume=True, stop=stop, snapshots=snapshots
    )


def _moved_data(settings, config, folder: Path, data_dir, data) -> TrainSettings:
    """The settings with the data's new place, when one is given; ``ValueError`` when that
    cannot be checked or does not fit the run's data set."""
    if data_dir is None and data is None:
        return settings
    if not isinstance(config.get(DATA_SHA256), dict):
        raise ValueError(
            f"{folder}/config.json records no checksums of the data the run was trained on "
            "(it was written by an older nnreg), so data found elsewhere could not be checked "
            "to be the same: put the data back where the run had them"
        )
    if data is not None:
        if settings.data in DATASETS:
            raise ValueError(
                f"data: this run was trained on {settings.data}, not on a folder of IDX files: "
                "to say where its files are now, give data_dir (--data-dir) instead"
            )
        settings = dataclasses.replace(settings, data=str(data))
    if data_dir is not None:
        if settings.data not in DATASETS or settings.data == "digits":
            raise ValueError(
                f"data_dir: this run was trained on {settings.data}, which is not read from "
                "the data folder"
                + (
                    ": to say where its folder is now, give data (--data) instead"
                    if settings.data not in DATASETS
                    else ""
                )
            )
        settings = dataclasses.replace(settings, data_dir=str(data_dir))
    return located(settings)


def _train(
    settings, folder: Path, callbacks, download_progress, resume: bool, stop=None, snapshots=False
) -> RunResult:
    started = time.perf_counter()
    # Settings that need no data are checked first, so a typo never waits for a download.
    optimizer, regularizer = check_settings(settings)
    datasets, data_sha256, moved = _load_run_data(settings, folder, resume, download_progress)
    watching = _watching(settings, datasets)
    if settings.expand:
        datasets["training"] = _expanded(datasets["training"], settings)
    training = datasets["training"]
    sizes = settings.sizes or [
        training.inputs.shape[1],
        _hidden_units(settings),
        training.targets.shape[1],
    ]
    rng = np.random.default_rng(settings.seed)
    network = Network(
        sizes, settings.activation, settings.cost, settings.initializer, rng, settings.dtype
    )
    state = TrainingState(
        optimizer.init_state(network.weights + network.biases),
        regularizer.init_state(network.weights, network.biases),
        rng,
    )
    watcher = (
        PlateauWatcher(optimizer, settings.early_stopping, settings.halve_eta_after, folder)
        if watching
        else None
    )
    records, warning = (
        _restore(folder, network, state, optimizer, watcher, len(training))
        if resume
        else (None, None)
    )
    config = _run_config(settings, sizes, regularizer, optimizer, datasets, data_sha256)
    history = History(list(records or []))
    remaining = settings.epochs - state.epoch
    stopped = records[-1].get("stopped") if records else None
    if remaining > 0 and not stopped:
        writer = RunFolderWriter(
            folder,
            config,
            network,
            state,
            extra_state=partial(_extra_state, optimizer, watcher),
            resumed_records=records,
            snapshots=snapshots,
            moved_data=moved,
        )
        try:
            history = train(
                network,
                training,
                epochs=remaining,
                batch_size=settings.batch_size,
                optimizer=optimizer,
                regularizer=regularizer,
                evaluation_data={k: v for k, v in datasets.items() if k != "training"},
                training_set_size=settings.training_set_size,
                callbacks=[*([watcher] if watcher else []), writer, *callbacks],
                state=state,
                history=history,
                stop=stop,
            )
        except TrainingInterrupted as interrupted:
            interrupted.folder = folder
            raise
    summary = summarize(history, watcher)
    if warning:
        summary["resume_warning"] = warning
    # this call's wall time: loading the data, setting up and the epochs it trained
    summary["time"]["run"] = time.perf_counter() - started
    write_json(folder / SUMMARY, summary)
    return RunResult(folder, history, summary)


def _watching(settings: TrainSettings, datasets: dict[str, Dataset]) -> bool:
    """Whether the run watches the validation accuracy (early stopping, η halving)."""
    watching = bool(settings.early_stopping or settings.halve_eta_after)
    if watching and "validation" not in datasets:
        raise ValueError(
            "early_stopping (--early-stopping) and halve_eta_after (--halve-eta-after) watch "
            "the validation accuracy, but this data set has no validation split"
        )
    return watching


def _run_config(settings, sizes, regularizer, optimizer, datasets, data_sha256) -> dict:
    """What the run folder's config.json records: everything needed to repeat the run."""
    return {
        "settings": {**dataclasses.asdict(settings), "sizes": list(sizes)},
        "training_set_size": settings.training_set_size or len(datasets["training"]),
        "regularizer": regularizer.config(),
        "optimizer": optimizer.config(),
        "examples": {name: len(data) for name, data in datasets.items()},
        DATA_SHA256: data_sha256,
    }


def _extra_state(optimizer, watcher: PlateauWatcher | None) -> dict[str, Any]:
    """What a checkpoint keeps besides the training state: η, and the watcher's best."""
    return {"learning_rate": optimizer.learning_rate, **(watcher.state() if watcher else {})}


def _expanded(training: Dataset, settings: TrainSettings) -> Dataset:
    """The training set with ``settings.expand`` shifted copies of every image (the book's
    expanded MNIST), drawn from the run's seed."""
    from nnreg.datasets.expand import expand  # SciPy's ndimage: loaded only when asked

    side = int(round(training.inputs.shape[1] ** 0.5))
    rng = np.random.default_rng([settings.seed, 1])
    return expand(training, settings.expand, rng, shape=(side, side))


def _restore(folder: Path, network, state, optimizer, watcher, examples: int):
    """Put a resumed run's last checkpoint into ``network``, ``state``, ``optimizer`` (its η)
    and ``watcher``; returns the epochs' records so far and a warning for the summary."""
    repair_initial_parameters(folder, network)  # the seed has just rebuilt them: mend a copy
    if not has_checkpoint(folder):  # stopped before its first checkpoint: the seed gives
        return [], (  # the same start again
            "no checkpoint had been written yet (the run stopped during its first epoch): "
            "it was trained again from its initial parameters, which gives the same result"
        )
    records, extra, warning = load_checkpoint(folder, network, state, examples)
    optimizer.learning_rate = extra.get("learning_rate", optimizer.learning_rate)
    if watcher is not None:
        watcher.restore(records, extra, network)
    return records, warning


DATA_SHA256 = "data_sha256"
"""The key of a run's config that holds the SHA-256 of each split of its data."""


def _load_run_data(settings, folder: Path, resume: bool, download_progress):
    """The run's data, their SHA-256 per split, and where they are now when they moved
    (settings to record in the run's config). Resuming, they must be the data the run was
    trained on (when it recorded their checksums)."""
    try:
        datasets = load_data(settings.data, settings.data_dir, settings.mirrors, download_progress)
    except (FileNotFoundError, DownloadError) as error:
        if not resume:
            raise
        hint = "data_dir (--data-dir)" if settings.data in DATASETS else "data (--data)"
        advice = f"If the data this run was trained on are elsewhere now, resume with {hint}."
        if isinstance(error, DownloadError):
            error.also = advice
            raise
        raise FileNotFoundError(f"{error}\n{advice}") from None
    checksums = data_checksums(datasets)
    if resume:
        config = read_config(folder)
        recorded = config.get(DATA_SHA256)
        if isinstance(recorded, dict) and recorded != checksums:
            where = settings.data if settings.data not in DATASETS else settings.data_dir
            raise ValueError(
                f"the {settings.data} data read from {where or 'the default data folder'} are "
                f"not the data this run was trained on (their SHA-256 differ from those in "
                f"{folder}/config.json), so it could not continue bit for bit: give the folder "
                "holding the very files it was trained on"
            )
        moved = {key: getattr(settings, key) for key in ("data", "data_dir")}
        if any(config["settings"].get(key) != value for key, value in moved.items()):
            return datasets, checksums, moved
    return datasets, checksums, None


def check_settings(settings: TrainSettings):
    """Check every setting that needs no data (``ValueError`` naming the first wrong one, as
    ``nnreg train`` reports it); returns the optimizer and regularizer they make."""
    optimizer = make_optimizer(settings.eta, settings.momentum)
    regularizer = regularizer_for(settings)
    check_int("expand", settings.expand, minimum=0, maximum=4, hint=": shifted copies per image")
    check_int(
        "epochs",
        settings.epochs,
        minimum=1,
        maximum=MAX_EPOCHS,
        hint=": the number of passes over the data",
    )
    check_int(
        "batch_size",
        settings.batch_size,
        minimum=1,
        maximum=MAX_UNITS,
        hint=": m is the mini-batch size",
    )
    check_int("seed", settings.seed, minimum=0, hint=": seeds are whole numbers >= 0")
    _check_network_fits(settings)
    if settings.data in DATA_SHAPES:  # as training checks it, before the data are loaded
        examples = DATA_SHAPES[settings.data][2] * (1 + int(settings.expand))
        check_int(
            "batch_size",
            settings.batch_size,
            minimum=1,
            maximum=examples,
            hint=f": m is the mini-batch size, between 1 and the {examples} training examples",
        )
    for name in ("early_stopping", "halve_eta_after"):
        value = getattr(settings, name)
        if value is not None:
            check_int(name, value, minimum=1, hint=": a number of epochs without improvement")
    return optimizer, regularizer


def _check_network_fits(settings: TrainSettings) -> None:
    """Refuse, before any data is loaded, a network too big for this machine's memory (with
    ``hidden``, counted with one input and one output unit: a lower bound)."""
    itemsize = np.dtype(DTYPES.get(settings.dtype, np.float64)).itemsize
    if settings.sizes is not None:
        sizes = check_sizes(settings.sizes)
        check_parameter_memory(sizes, itemsize, "sizes")
        _check_sizes_fit_data(sizes, settings.data)
    else:
        hidden = _hidden_units(settings)
        check_parameter_memory([1, hidden, 1], itemsize, "hidden", shown=hidden)


def _hidden_units(settings: TrainSettings) -> int:
    return check_int(
        "hidden", settings.hidden, minimum=1, maximum=MAX_UNITS, hint=": units of the hidden layer"
    )


def _check_sizes_fit_data(sizes: list[int], data: str) -> None:
    """Refuse, before loading it, a named data set whose inputs or classes the layers do
    not fit (with the message training would give after loading it)."""
    if data not in DATA_SHAPES:
        return
    inputs, classes, _ = DATA_SHAPES[data]
    if sizes[0] != inputs:
        raise ValueError(
            f"sizes do not fit {data}: it has {inputs} input features but the input layer has "
            f"{sizes[0]} units: make sizes[0] = {inputs}"
        )
    if sizes[-1] != classes:
        raise ValueError(
            f"sizes do not fit {data}: it has {classes} classes but the output layer has "
            f"{sizes[-1]} units: make sizes[-1] = {classes}"
        )


def regularizer_for(settings: TrainSettings):
    """The regularizer ``settings`` ask for (weights' penalty, activity penalties, dropout,
    max-norm), checked; ``ValueError`` naming the setting otherwise."""
    options: dict[str, Any] = {"regularize_biases": settings.regularize_biases}
    if settings.reg == "elastic-net":
        options["l2_lmbda"] = settings.l2_lmbda
    elif settings.l2_lmbda is not None:
        raise ValueError(
            f"l2_lmbda (--l2-lmbda) only applies to the elastic-net regularizer, not to "
            f"{settings.reg!r}: drop it, or use --reg elastic-net"
        )
    if settings.reg_layers is not None:
        options["layers"] = settings.reg_layers
    return _with_extras(make_regularizer(settings.reg, settings.lmbda, **options), settings)


def _with_extras(regularizer, settings: TrainSettings):
    """The weight regularizer, combined with activity penalties (on the activations before
    dropout, as Keras's activity regularizer), dropout and max-norm."""
    parts = [regularizer]
    if settings.activity_l1 or settings.activity_l2:
        parts.append(ActivityRegularizer(settings.activity_l1, settings.activity_l2))
    if np.any(np.asarray(settings.dropout) > 0) or np.any(np.asarray(settings.dropout) < 0):
        parts.append(Dropout(settings.dropout, seed=settings.seed))
    if settings.max_norm is not None:
        parts.append(MaxNorm(settings.max_norm))
    return parts[0] if len(parts) == 1 else Combined(parts)


def summarize(history: History, watcher: PlateauWatcher | None = None) -> dict[str, Any]:
    """The final epoch's accuracies and cost split, and the fraction of exactly-zero weights;
    with a ``watcher`` (early stopping, η halving), its best epoch and why it stopped."""
    last = history.last
    summary: dict[str, Any] = {"epochs": last["epoch"]}
    for name in ("training", "validation", "test"):
        if name in last:
            summary[name] = last[name]
    summary["fraction_zero_weights"] = last["weights"]["fraction_zero"]
    summary["time"] = total_times(history.records)
    if watcher is not None:
        summary["best"] = {
            "epoch": watcher.best_epoch,
            "validation_accuracy": watcher.best_accuracy,
        }
        stopped = last.get("stopped") or watcher.reason
        if stopped:
            summary["stopped"] = stopped
    return summary


TIME_PARTS = ("training_steps", "monitors", "checkpoint", "epoch")


def total_times(records: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds summed over the epochs, per part of an epoch (see :class:`History`); the
    ``epochs`` entry is their whole wall time. Older records with only ``seconds`` (the
    training steps) count as such."""
    totals = dict.fromkeys(TIME_PARTS, 0.0)
    for record in records:
        times = record.get("time") or {"training_steps": record.get("seconds") or 0.0}
        for part in TIME_PARTS:
            totals[part] += (
                times.get(part, 0.0)
                if part != "epoch"
                else times.get("epoch", times.get("training_steps", 0.0))
            )
    totals["epochs"] = totals.pop("epoch")
    return totals
