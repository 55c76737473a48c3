"""The ``nnreg`` command line: argument parsing and printing only; the work is the library's.

Exit status: 0 on success, 2 for a usage mistake (the message says what to do, no
traceback), 3 when training diverged (its metrics so far are kept in the run folder).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nnreg.activations import ACTIVATIONS
from nnreg.callbacks import epoch_line
from nnreg.costs import COSTS
from nnreg.experiments import EXPERIMENTS
from nnreg.experiments import SUMMARIES as EXPERIMENT_SUMMARIES
from nnreg.initializers import INITIALIZERS
from nnreg.network import DTYPES
from nnreg.regularizers import FORMULAS, REGULARIZERS
from nnreg.text import readable
from nnreg.training import Callback, StopFlag, TrainingDiverged, TrainingInterrupted

DOCTOR_REGULARIZERS = ("l2", "l1", "elastic-net", "none")
"""What ``nnreg doctor --regularizer`` accepts (nnreg.doctor.REGULARIZERS, kept here so that
``nnreg --help`` does not load the doctor; a test checks they agree)."""

EXIT_SWEEP_CELLS_FAILED = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3

LOG_WIDTH = 1000
"""Columns of output written to a file or a pipe: a log keeps whole lines."""


def make_console(stderr: bool = False) -> Console:
    """A console for stdout or stderr: the terminal's width on a terminal; on a file or a
    pipe (``nnreg train > log``) lines are not wrapped at 80 columns but kept whole, unless
    COLUMNS says otherwise."""
    if Console(stderr=stderr).is_terminal or os.environ.get("COLUMNS"):
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, width=LOG_WIDTH, soft_wrap=True)


console = make_console()
errors = make_console(stderr=True)


class NumberList(click.ParamType):
    """A comma-separated list of numbers, e.g. ``64,30,10`` or ``5,1``."""

    def __init__(self, kind: type, what: str, example: str) -> None:
        self.kind = kind
        self.name = what
        self.example = example

    def get_metavar(self, param, ctx=None) -> str:
        """``64,30,10`` reads better in --help than the type's name."""
        return "N,N,…" if self.kind is int else "X,X,…"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        if not any(parts):
            self.fail(f"give at least one {self.name}", param, ctx)
        if not all(parts):
            self.fail(
                f"{value!r} has an empty item: write the {self.name}s separated by single "
                f"commas, e.g. {self.example}",
                param,
                ctx,
            )
        try:
            return [self.kind(part) for part in parts]
        except ValueError:
            self.fail(
                f"{value!r} is not a comma-separated list of {self.name}s, e.g. {self.example}",
                param,
                ctx,
            )


class Folder(click.Path):
    """A folder path that is not empty (an empty ``--out ""`` would mean the current folder)."""

    def __init__(self, path_type: type = Path, example: str = "runs/l2") -> None:
        super().__init__(file_okay=False, path_type=path_type)
        self.example = example

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail(f"is empty: give a folder name, e.g. {self.example}", param, ctx)
        return super().convert(value, param, ctx)


DATA_FOLDER = Folder(str, "~/data")
"""What --data-dir takes: a folder's name, as text (it is recorded in run folders)."""


REG_EPILOG = (
    "\b\nRegularizers (n = training-set size, m = mini-batch size, biases untouched):\n"
    + "\n".join(f"  {name:<14} {formula}" for name, formula in FORMULAS.items())
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnreg")
def main() -> None:
    """nnreg: feedforward networks with L1/L2 regularization done exactly right and made visible."""


@main.command(
    epilog=REG_EPILOG, short_help="Train a network; write a run folder (metrics, checkpoints)."
)
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help="digits (scikit-learn's embedded 8×8 digits, offline), mnist, fashion-mnist, or a "
    "folder holding MNIST-style IDX files.",
)
@click.option(
    "--data-dir",
    type=DATA_FOLDER,
    default=None,
    help="Data folder (default: $NNREG_DATA, else a per-user folder); MNIST is read from its "
    "mnist/ subfolder and downloaded there when missing.",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    help="MNIST mirror URL to download from (repeatable; default: $NNREG_MNIST_MIRRORS or "
    "the built-in list). http(s):// and file:// work.",
)
@click.option(
    "--sizes",
    type=NumberList(int, "whole number", "64,30,10"),
    default=None,
    help="Units per layer, input first, e.g. 64,30,10 (default: inputs,HIDDEN,classes).",
)
@click.option(
    "--hidden", type=int, default=30, show_default=True, help="Hidden units, when no --sizes."
)
@click.option(
    "--activation",
    type=click.Choice(list(ACTIVATIONS), case_sensitive=False),
    default="sigmoid",
    show_default=True,
    help="Hidden-layer activation.",
)
@click.option(
    "--cost",
    type=click.Choice(list(COSTS), case_sensitive=False),
    default="cross-entropy",
    show_default=True,
    help="cross-entropy: sigmoid outputs; log-likelihood: softmax outputs.",
)
@click.option(
    "--initializer",
    type=click.Choice(list(INITIALIZERS), case_sensitive=False),
    default="default",
    show_default=True,
    help="default: weights N(0, 1/n_in); large: N(0, 1).",
)
@click.option(
    "--epochs", type=int, default=30, show_default=True, help="Passes over the training data."
)
@click.option(
    "--batch-size", type=int, default=10, show_default=True, help="m, examples per mini-batch."
)
@click.option("--eta", type=float, default=0.5, show_default=True, help="η, the learning rate.")
@click.option(
    "--lmbda",
    "--lambda",
    "lmbda",
    type=NumberList(float, "number", "5,1"),
    default="0.1",
    show_default=True,
    help="λ, the regularization strength (divided by n, the training-set size); "
    "one value, or one per weight layer: 5,1.",
)
@click.option(
    "--l2-lmbda",
    type=NumberList(float, "number", "5,1"),
    default=None,
    help="λ₂ of elastic-net's L2 part (default: the same as --lmbda).",
)
@click.option(
    "--reg",
    type=click.Choice(list(REGULARIZERS), case_sensitive=False),
    default="l2",
    show_default=True,
    help="Regularizer; l1 is the book's subgradient rule. Formulas below.",
)
@click.option(
    "--regularize-biases", is_flag=True, help="Regularize biases too (default: weights only)."
)
@click.option(
    "--momentum",
    type=float,
    default=0.0,
    show_default=True,
    help="μ, momentum coefficient (0: plain SGD).",
)
@click.option(
    "--training-set-size",
    type=int,
    default=None,
    help="Override n in λ/n (default: the number of training examples).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of initial weights and shuffling."
)
@click.option(
    "--dtype",
    type=click.Choice(list(DTYPES), case_sensitive=False),
    default="float64",
    show_default=True,
)
@click.option(
    "--out",
    type=Folder(),
    default=None,
    help="Run folder to write (default: runs/<date>-<time>-<reg>).",
)
@click.option(
    "--reg-layers",
    type=NumberList(int, "whole number", "1,2"),
    default=None,
    help="Weight layers the --reg regularizer applies to, e.g. 1 or 1,2 (default: all).",
)
@click.option(
    "--dropout",
    type=NumberList(float, "number", "0.5,0.2"),
    default="0",
    show_default=True,
    help="Dropout rate p of the hidden layers (inverted dropout), one or one per hidden layer.",
)
@click.option("--max-norm", type=float, default=None, help="Max-norm c of each unit's weights.")
@click.option("--activity-l1", type=float, default=0.0, help="L1 penalty on hidden activations.")
@click.option("--activity-l2", type=float, default=0.0, help="L2 penalty on hidden activations.")
@click.option(
    "--expand",
    type=int,
    default=0,
    show_default=True,
    help="Add this many shifted copies (1-4) of every training image, as in the book.",
)
@click.option(
    "--early-stopping",
    type=int,
    default=None,
    help="Stop after N epochs without a better validation accuracy; the best parameters "
    "are kept (best_parameters.npz).",
)
@click.option(
    "--halve-eta-after",
    type=int,
    default=None,
    help="Halve η after N epochs without a better validation accuracy; stop below η/128.",
)
@click.option(
    "--resume",
    type=Folder(),
    default=None,
    help="Continue the run in this folder from its last checkpoint, with its own settings "
    "(no other option but --quiet, and --data-dir or --data when its data moved, which must "
    "be the same files: checked); the result equals an uninterrupted run's.",
)
@click.option(
    "--snapshots",
    is_flag=True,
    help="Keep every epoch's parameters (snapshots/epoch-0001.npz…) to look at the weights "
    "of any epoch later, e.g. in nnreg board.",
)
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
def train(
    out: Path | None,
    quiet: bool,
    resume: Path | None,
    snapshots: bool,
    **options,
) -> None:
    """Train a network and write a run folder (config, per-epoch metrics, parameters,
    a checkpoint after every epoch)."""
    from nnreg.session import resume_training, run_training

    ctx = click.get_current_context()
    if resume is not None:
        reject_options_beside_resume(ctx, resume)
    if all(given_on_command_line(ctx, name) for name in ("sizes", "hidden")):
        errors.print(
            "[bold red]Error:[/] --hidden sets the hidden layer only when no --sizes is given: "
            "drop --hidden, or put its units into --sizes (e.g. --sizes 64,100,10)",
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
    settings = train_settings(**options)
    stop = StopFlag()
    try:
        with EpochPrinter(quiet) as printer, stop_on_signals(stop), warnings_shown():
            if resume is not None:
                moved = {
                    key: options[key]
                    for key in ("data_dir", "data")
                    if given_on_command_line(ctx, key)
                }
                result = resume_training(
                    resume, [printer], printer.download_progress, stop, **moved
                )
            else:
                result = run_training(
                    settings, out, [printer], printer.download_progress, stop, snapshots
                )
    except TrainingInterrupted as error:
        errors.print(
            f"[bold yellow]Interrupted[/] by {stop.reason}: the current step finished and a "
            f"checkpoint and the metrics so far were written. Resume with: nnreg train "
            f"--resume {escape(str(error.folder))}",
            soft_wrap=True,
        )
        sys.exit(128 + int(getattr(signal, stop.reason, signal.SIGINT)))
    except (ValueError, OSError, download_error()) as error:
        errors.print(f"[bold red]Error:[/] {escape(error_message(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except TrainingDiverged as error:
        errors.print(f"[bold red]Training diverged:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_DIVERGED)
    print_summary(result.summary, result.folder)


def train_settings(lmbda, l2_lmbda, mirrors, dropout, **options):
    """The settings ``nnreg train``'s parsed options ask for (one value where one is given)."""
    from nnreg.session import TrainSettings

    def single(values):
        return values if values is None or len(values) != 1 else values[0]

    return TrainSettings(
        mirrors=list(mirrors) or None,
        lmbda=single(lmbda),
        l2_lmbda=single(l2_lmbda),
        dropout=single(dropout),
        **options,
    )


@contextlib.contextmanager
def warnings_shown():
    """Warnings nnreg gives while training (e.g. an unstable weight decay) as one line on
    stderr each, when they happen."""

    def show(message, category, *rest) -> None:
        errors.print(f"[yellow]Warning:[/] {escape(str(message))}", soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        yield


RESUME_OPTIONS = ("resume", "quiet", "data_dir", "data")
"""The options nnreg train --resume takes: where the data are now, and --quiet."""


def reject_options_beside_resume(ctx: click.Context, folder: Path) -> None:
    """A resumed run keeps the settings in its config.json, so an option given beside
    --resume would silently do nothing: refuse it instead. Only where the data are now
    (--data-dir, or --data for a folder of IDX files) may be given: data that moved."""
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name not in RESUME_OPTIONS and given_on_command_line(ctx, param.name)
    ]
    if given:
        errors.print(
            f"[bold red]Error:[/] --resume continues the run with the settings in "
            f"{escape(str(folder / 'config.json'))}, so {escape(', '.join(given))} would be "
            f"ignored: drop {'it' if len(given) == 1 else 'them'}, or start a new run "
            f"without --resume (--data-dir or --data may say where the run's data are now).",
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)


def given_on_command_line(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


@contextlib.contextmanager
def stop_on_signals(stop: StopFlag):
    """SIGINT (Ctrl-C) and SIGTERM ask training to stop after the current step; a second
    one stops at once."""

    def request(signum, frame):
        if stop.requested:
            raise StoppedAtOnce(signum)
        stop.requested, stop.reason = True, signal.Signals(signum).name

    previous = {number: signal.signal(number, request) for number in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StoppedAtOnce(BaseException):
    """A second SIGINT or SIGTERM: stop now, inside the step. Not a KeyboardInterrupt, which
    the command-line framework would turn into "Aborted!" and exit status 1."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


OPTIONS = {
    "batch_size": "--batch-size",
    "epochs": "--epochs",
    "eta": "--eta",
    "lmbda": "--lmbda",
    "l2_lmbda": "--l2-lmbda",
    "momentum": "--momentum",
    "training_set_size": "--training-set-size",
    "sizes": "--sizes",
    "hidden": "--hidden",
    "seed": "--seed",
    "early_stopping": "--early-stopping",
    "halve_eta_after": "--halve-eta-after",
    "dropout": "--dropout",
    "max-norm": "--max-norm",
    "activity": "--activity-l1/--activity-l2",
    "layers": "--reg-layers",
    "expand": "--expand",
    "copies": "--expand",
}


def error_message(error: BaseException) -> str:
    """What a library error says, in the command's terms: the option that sets a parameter
    it names, the options that say where data are (a failed download)."""
    if hasattr(error, "for_command"):
        return error.for_command()
    return with_option_name(str(error))


def with_option_name(message: str) -> str:
    """Prefix a library message about a parameter with the option that sets it."""
    first = message.split(" ", 1)[0]
    return f"{OPTIONS[first]}: {message}" if first in OPTIONS else message


class EpochPrinter(Callback):
    """A rich progress bar over all mini-batches, and one line per epoch."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or not console.is_terminal,  # no bar in a log
            transient=True,
        )
        self.task = None
        self.epochs = 0
        self.first_epoch: int | None = None
        self.downloads: dict[str, int] = {}

    def download_progress(self, name: str, done: int, total: int | None) -> None:
        if name not in self.downloads:
            self.downloads[name] = self.progress.add_task(f"download {name}", total=total)
        self.progress.update(self.downloads[name], completed=done)

    def __enter__(self) -> EpochPrinter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs
        self.task = self.progress.add_task("mini-batches", total=epochs * steps_per_epoch)

    def on_steps(self, steps: int) -> None:
        self.progress.advance(self.task, steps)

    def on_epoch_end(self, record, network) -> None:
        if self.quiet:
            return
        if self.first_epoch is None:
            self.first_epoch = record["epoch"]
        line = epoch_line(record, self.first_epoch - 1 + self.epochs)
        self.progress.console.print(line, soft_wrap=True)


def print_summary(summary: dict, folder: Path) -> None:
    epochs = summary["epochs"]
    table = Table(title=f"nnreg train: {epochs} epoch{'s' * (epochs != 1)}", title_justify="left")
    for column in ("data set", "accuracy", "data cost C₀", "penalty", "total cost"):
        table.add_column(column, justify="right" if column != "data set" else "left")
    for name in ("training", "validation", "test"):
        if name in summary:
            row = summary[name]
            table.add_row(
                name,
                f"{row['accuracy']:.2%}",
                readable(row["data_cost"]),
                readable(row["penalty"]),
                readable(row["total_cost"]),
            )
    console.print(table)
    console.print(
        "penalty uses n = the training-set size for every data set; "
        f"weights exactly zero: {summary['fraction_zero_weights']:.2%}"
    )
    if "best" in summary:
        best = summary["best"]
        console.print(
            f"best validation accuracy {best['validation_accuracy']:.2%} at epoch {best['epoch']}"
            + (f"; stopped: {summary['stopped']}" if "stopped" in summary else "")
        )
    if "resume_warning" in summary:
        console.print(f"[yellow]Warning:[/] {escape(summary['resume_warning'])}", soft_wrap=True)
    console.print(f"run folder: {folder}")


@main.command(short_help="Draw a run's figures, or several runs overlaid.")
@click.argument("run_folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the PNG files (default: RUN_FOLDER/figures for one run, "
    "./comparison-figures for several).",
)
def plot(run_folders: tuple[Path, ...], out: Path | None) -> None:
    """Draw a run's figures; several run folders are overlaid (e.g. L1 against L2).

    Writes cost.png (data cost, penalty, total), accuracy.png, weights.png (RMS per layer
    against 1/√n), histograms.png (start and end), sparsity.png, gradient-share.png and
    first-layer-weights.png.
    """
    from nnreg.plots import write_figures
    from nnreg.runs import RunFolderWarning

    if out is None:
        out = run_folders[0] / "figures" if len(run_folders) == 1 else Path("comparison-figures")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunFolderWarning)
            written = write_figures(run_folders, out)
    except (ValueError, OSError) as error:
        errors.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    for warning in caught:
        if issubclass(warning.category, RunFolderWarning):
            errors.print(f"[yellow]Warning:[/] {escape(str(warning.message))}", soft_wrap=True)
    for path in written.values():
        console.print(str(path))


@main.group(short_help="MNIST in the files your own code reads (mnist.pkl.gz, mnist.npz).")
def data() -> None:
    """Data sets in the formats other code expects."""


@data.command(short_help="Write MNIST as the book's mnist.pkl.gz or Keras's mnist.npz.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["book", "keras"], case_sensitive=False),
    required=True,
    help="book: mnist.pkl.gz as the book's mnist_loader reads it (float32 pixels in [0, 1], "
    "50,000/10,000/10,000); keras: mnist.npz as keras.datasets.mnist reads it (uint8).",
)
@click.option(
    "--out",
    type=Folder(),
    default=Path("."),
    show_default=True,
    help="Folder to write the file into (e.g. the data/ your script reads from).",
)
@click.option("--data-dir", type=DATA_FOLDER, default=None, help="nnreg's data folder.")
@click.option("--mirror", "mirrors", multiple=True, help="MNIST mirror URL (repeatable).")
def export(file_format: str, out: Path, data_dir: str | None, mirrors: tuple[str, ...]) -> None:
    """Write MNIST, from nnreg's checked IDX files (downloaded when missing), as the file
    the book's code or Keras's code loads, so that your own script runs offline."""
    from nnreg.datasets.export import export_mnist

    try:
        path = export_mnist(file_format.lower(), out, data_dir, list(mirrors) or None)
    except (ValueError, OSError, download_error()) as error:
        errors.print(f"[bold red]Error:[/] {escape(error_message(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    console.print(str(path))


@main.command(short_help="Classify your own pictures, .npy or IDX files with a trained run.")
@click.argument("run_folder", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--top",
    type=click.IntRange(min=0, max=1000),
    default=3,
    show_default=True,
    help="How many of the most likely classes to list per example (0: only the answer).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict(run_folder: Path, files: tuple[Path, ...], top: int, as_json: bool) -> None:
    """Classify FILES with the network trained in RUN_FOLDER (or a Network.save file).

    \b
    FILES: pictures (PNG, JPEG, anything Pillow opens), read as grey, inverted when the
    paper is light, and framed as the training images were (MNIST: the ink fitted into
    20×20 and centred by its centre of mass in 28×28; the 8×8 digits: fitted into 8×8); a
    picture already the network's size is taken as it is. .npy arrays and IDX files give
    one prediction per image or row, never resized: integers are the training data's codes
    (÷ 255, ÷ 16 for the digits), floats the inputs themselves, in [0, 1].
    Probabilities: softmax outputs as they are; sigmoid outputs normalised to sum 1.
    A file that cannot be read is named on stderr and the others are still classified
    (exit status 2).
    """
    from nnreg.predict import format_predictions, load_trained, predict_file

    try:
        trained = load_trained(run_folder)
    except ValueError as error:
        errors.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    predictions, failed = [], []
    for path in files:
        try:
            predictions += predict_file(trained, path)
        except ValueError as error:
            failed.append(str(error))
            errors.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
    if as_json:
        click.echo(
            json.dumps(
                {"predictions": [p.as_dict() for p in predictions], "errors": failed},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for line in format_predictions(predictions, top):
            click.echo(line)
    if failed:
        sys.exit(EXIT_USAGE)


@main.command(
    short_help="Reproduce one of the book's chapter-3 experiments.",
    epilog="\b\nNAME is one of:\n"
    + "\n".join(f"  {name:<13} {summary}" for name, summary in EXPERIMENT_SUMMARIES.items()),
)
@click.argument("name", type=click.Choice(list(EXPERIMENTS), case_sensitive=False), metavar="NAME")
@click.option(
    "--quick", is_flag=True, help="Small budget (8×8 digits, few epochs): under a minute."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the report (default: experiments/NAME).",
)
@click.option(
    "--data-dir",
    type=DATA_FOLDER,
    default=None,
    help="Data folder holding mnist/ (default: $NNREG_DATA, else a per-user folder).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every run.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def experiment(name: str, quick: bool, out: Path | None, data_dir, seed: int, quiet: bool) -> None:
    """Reproduce one of the book's chapter-3 experiments and write its report.

    Writes report.md, a self-contained report.html and the figures as PNG files.
    """
    from nnreg.experiments import run_experiment

    out = out if out is not None else Path("experiments") / name
    try:
        with RunProgress(quiet) as progress:
            report = run_experiment(name, quick, data_dir, seed, progress.for_run)
        paths = report.write(out)
    except (ValueError, OSError, download_error()) as error:
        errors.print(f"[bold red]Error:[/] {escape(error_message(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    console.print(report.summary)
    console.print(f"report: {paths['markdown']} and {paths['html']}")


class RunProgress:
    """One progress bar per training run of an experiment."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or not console.is_terminal,  # no bar in a log
        )

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def for_run(self, label: str) -> Callback:
        progress = self.progress

        class Bar(Callback):
            def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
                self.task = progress.add_task(label, total=epochs * steps_per_epoch)

            def on_steps(self, steps: int) -> None:
                progress.advance(self.task, steps)

        return Bar()


@main.command(short_help="A live web view of run folders; start and stop runs from it.")
@click.argument("runs_dir", default="runs", type=Folder(), metavar="[RUNS_DIR]")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but this machine's loopback lets others see your "
    "runs and start training on it.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free one).",
)
@click.option(
    "--data-dir",
    type=DATA_FOLDER,
    default=None,
    help="Data folder of the runs started from the page, as nnreg train --data-dir "
    "(default: $NNREG_DATA, else a per-user folder).",
)
def board(runs_dir: Path, host: str, port: int, data_dir: str | None) -> None:
    """Serve a live view of every run folder under RUNS_DIR (default: runs): the runs with
    their status, one run's curves as it trains (cost split, accuracy, per-layer RMS against
    1/√n_in, zeros, sign flips, gradient share) and its weights at any epoch, several runs
    compared, and a form that starts, stops and resumes runs. Needs nnreg[board]."""
    try:
        import nnreg.board as web
        from nnreg.board.app import create_app  # noqa: F401 - the extra's libraries
    except ImportError as error:
        errors.print(
            f"[bold red]Error:[/] nnreg board needs the board extra ({escape(str(error))}): "
            + escape('pip install "nnreg[board]"'),
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
    if runs_dir.exists() and not runs_dir.is_dir():
        errors.print(
            f"[bold red]Error:[/] RUNS_DIR {escape(str(runs_dir))} is a file, not a folder"
        )
        sys.exit(EXIT_USAGE)
    created = not runs_dir.exists()
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        errors.print(
            f"[bold red]Error:[/] cannot create RUNS_DIR {escape(str(runs_dir))}: "
            f"{escape(error.strerror or str(error))}",
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)

    def ready(url: str) -> None:
        if not web.is_loopback(host):
            errors.print(
                f"[yellow]Warning:[/] --host {escape(host)}: anyone who can reach this machine "
                "can see these runs and start training on it (the board has no login). Use "
                "it only on a network you trust.",
                soft_wrap=True,
            )
        new = " (a new, empty folder)" if created else ""
        console.print(
            f"nnreg board: the runs under {escape(str(runs_dir))}{new} at [bold]{url}[/] "
            "(Ctrl-C to stop)",
            soft_wrap=True,
            highlight=False,
        )

    try:
        web.serve(runs_dir, host, port, ready, data_dir=data_dir)
    except web.BoardError as error:
        errors.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    console.print("nnreg board stopped.", highlight=False)


@main.command(short_help="Tell which regularization mistake your own code makes.")
@click.argument("target", metavar="PATH.py|PATH.ipynb[:NAME]")
@click.argument("script_arguments", nargs=-1, metavar="[-- ARGS]")
@click.option(
    "--run",
    is_flag=True,
    help="Run PATH as your training script (or notebook) from its folder, as python PATH "
    "ARGS would, until its first update; diagnose that real call (the script is stopped "
    "there).",
)
@click.option(
    "--gradients",
    default=None,
    help="Name of the method your update calls for the data gradient (default: the method "
    "it calls that returns one array per weight and bias, e.g. backprop).",
)
@click.option(
    "--regularizer",
    type=click.Choice(list(DOCTOR_REGULARIZERS), case_sensitive=False),
    default=None,
    help="What your code is meant to do, when its cost function does not tell.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long your code may run (import and probes together) before it is stopped.",
)
def doctor(
    target: str,
    script_arguments: tuple[str, ...],
    run: bool,
    gradients: str | None,
    regularizer: str | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Tell which regularization mistake your own update code makes.

    Runs PATH.py or PATH.ipynb (never changes it, writes nothing next to it) in a child
    process with a time limit, builds NAME (or the class with an update method) on a tiny
    [3, 4, 2] network and probes its update with controlled weights and gradients. Exit 0:
    the rule is correct; 1: a mistake was found; 2: the code could not be loaded or
    probed, or did not finish in time; 130: interrupted (Ctrl-C).
    """
    from nnreg.doctor import DoctorError, diagnose, render

    if script_arguments and not run:
        errors.print(
            f"[bold red]Error:[/] {escape(' '.join(script_arguments))}: arguments after the "
            "file are for your script, with --run (nnreg doctor --run train.py -- --epochs 5)",
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        diagnosis = diagnose(
            target,
            gradients,
            regularizer,
            timeout=timeout,
            run=list(script_arguments) if run else None,
        )
    except DoctorError as error:
        if as_json:
            click.echo(json.dumps({"error": str(error)}, indent=2, ensure_ascii=False))
        else:
            errors.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        errors.print("Interrupted: your code was stopped; nothing was diagnosed.")
        sys.exit(130)
    if as_json:
        data = dataclasses.asdict(diagnosis)
        data["exit_code"] = diagnosis.exit_code
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(render(diagnosis))
    sys.exit(diagnosis.exit_code)


class NameList(click.ParamType):
    """A comma-separated list of names, e.g. ``l2,l1-proximal``."""

    name = "list"

    def get_metavar(self, param, ctx=None) -> str:
        return "NAME,NAME,…"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return value
        # names are matched without regard to case, as every choice of nnreg is (--reg L2)
        return [part.strip().lower() for part in str(value).split(",") if part.strip()]


@main.command(short_help="Train a grid of regularizer × λ × η × hidden units.")
@click.option(
    "--grid",
    "grid_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file with [grid] (reg, lmbda, eta, hidden lists) and [train] settings.",
)
@click.option("--reg", type=NameList(), default=None, help="Regularizers, e.g. l2,l1-proximal.")
@click.option(
    "--lmbda",
    "--lambda",
    "lmbda",
    type=NumberList(float, "number", "5,1"),
    default=None,
    help="λ values, e.g. 0,0.1,1,5,10.",
)
@click.option("--eta", type=NumberList(float, "number", "0.1,0.5"), default=None, help="η values.")
@click.option(
    "--hidden",
    type=NumberList(int, "whole number", "30,100"),
    default=None,
    help="Hidden-layer sizes, e.g. 30,100.",
)
@click.option("--data", default=None, help="digits (default), mnist, fashion-mnist or a folder.")
@click.option("--data-dir", type=DATA_FOLDER, default=None, help="Data folder.")
@click.option("--epochs", type=int, default=None, help="Epochs per cell (default 30).")
@click.option("--batch-size", type=int, default=None, help="m (default 10).")
@click.option("--early-stopping", type=int, default=None, help="Early stopping per cell.")
@click.option("--seed", type=int, default=None, help="Seed of every cell (default 0).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Sweep folder (default: sweeps/<date>-<time>).",
)
@click.option(
    "--backend",
    type=click.Choice(["joblib", "dask"], case_sensitive=False),
    default="joblib",
    show_default=True,
    help="joblib: processes here; dask: a Dask cluster.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Parallel cells (joblib processes, or local Dask workers).",
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster).",
)
@click.option(
    "--blas-threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="BLAS threads per cell, so parallel cells do not oversubscribe the cores.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(
    grid_file,
    reg,
    lmbda,
    eta,
    hidden,
    out,
    backend,
    jobs,
    scheduler,
    blas_threads,
    quiet,
    **train_options,
) -> None:
    """Train a grid of regularizer × λ × η × hidden units, one run folder per cell.

    Cells already finished with the same settings are skipped when the sweep runs again;
    interrupted ones resume from their checkpoints, cells asked for more epochs continue
    from theirs; cells holding results of other settings make the sweep refuse to run.
    Writes results.csv and accuracy, sparsity and norm figures against λ, and prints the
    best cell by validation accuracy with its test accuracy. Ctrl-C (or SIGTERM) stops the
    running cells after their current step with a checkpoint; run the same command again
    to finish. Exit status 1 when a cell failed (each says why; the others are kept and a
    rerun trains only the failed ones), 0 when every cell finished or diverged.
    """
    from nnreg.plots import write_sweep_figures
    from nnreg.session import TrainSettings
    from nnreg.sweep import make_grid, read_grid_file, run_sweep

    stop = StopFlag()
    try:
        if out is not None and not out.strip():
            raise ValueError("--out: give the sweep folder a name (an empty one was given)")
        axes, train_settings = read_grid_file(grid_file) if grid_file else ({}, {})
        given = {k: v for k, v in train_options.items() if v is not None}
        base = TrainSettings(**{**train_settings, **given})
        chosen = {"reg": reg, "lmbda": lmbda, "eta": eta, "hidden": hidden}
        axes.update({k: v for k, v in chosen.items() if v is not None})
        grid = make_grid(**{"reg": ["l2"], "lmbda": [0.0, 0.1, 1.0, 5.0], **axes}, base=base)
        out = Path(out) if out is not None else Path("sweeps") / time.strftime("%Y%m%d-%H%M%S")
        with cells_bar(quiet) as progress, stop_on_signals(stop), warnings_shown():
            task = progress.add_task("cells", total=len(grid.cells()))
            result = run_sweep(
                grid,
                out,
                backend,
                jobs,
                scheduler,
                blas_threads,
                on_cell_done=lambda name: progress.advance(task),
                stop=stop,
            )
        if result.interrupted:
            stopped_sweep(out, stop.reason)
        finished = any(row["status"] == "finished" for row in result.rows)
        figures = write_sweep_figures(result.rows, out) if finished else {}
    except StoppedAtOnce as error:
        stopped_sweep(out, error.signum, at_once=True)
    except (ValueError, OSError, download_error()) as error:
        errors.print(f"[bold red]Error:[/] {escape(error_message(error))}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    print_sweep(result, figures)
    if result.failed:
        errors.print(
            f"[bold red]{counted(len(result.failed), 'cell')} failed[/] (see above): run the same "
            "command again to train {it} once the cause is fixed; the other cells are kept".format(
                it="it" if len(result.failed) == 1 else "them"
            ),
            soft_wrap=True,
        )
        sys.exit(EXIT_SWEEP_CELLS_FAILED)


def cells_trained(result) -> str:
    """How many cells the sweep trained (and continued from checkpoints), and how many were
    done before."""
    done, continued = len(result.skipped), len(result.resumed) + len(result.extended)
    before = (
        f"{counted(done, 'cell')} {'was' if done == 1 else 'were'} already done"
        if done
        else ("none was finished before" if continued else "none was done before")
    )
    also = f" ({continued} continued from checkpoints)" if continued else ""
    return f"trained {counted(len(result.trained), 'cell')}{also}; {before}"


def cells_bar(quiet: bool) -> Progress:
    """The sweep's progress bar over its cells (none with --quiet, nor in a log)."""
    return Progress(
        TextColumn("[bold]cells"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
    )


def stopped_sweep(out: Path, reason: str | int, at_once: bool = False) -> None:
    """Say how an interrupted sweep resumes, and exit 128 + the signal's number."""
    signum = int(getattr(signal, reason, signal.SIGINT)) if isinstance(reason, str) else reason
    how = (
        "at once (a second signal): its workers were ended; each cell keeps its last "
        "checkpoint (one per epoch)"
        if at_once
        else "the running cells stopped after their current step and wrote checkpoints"
    )
    errors.print(
        f"[bold yellow]Sweep interrupted[/] by {signal.Signals(signum).name}, {how}; finished "
        "cells are kept, and results.csv is written once every cell is done. Resume by "
        f"running the same nnreg sweep command again with --out {escape(str(out))}: "
        "interrupted cells continue from their checkpoints.",
        soft_wrap=True,
    )
    sys.exit(128 + signum)


def print_sweep(result, figures) -> None:
    from nnreg.sweep.results import tied_with_best

    table = Table(title=f"nnreg sweep: {len(result.rows)} cells", title_justify="left")
    for column in (
        "regularizer",
        "λ",
        "η",
        "hidden",
        "validation",
        "C₀",
        "penalty",
        "layer 1 zeros",
        "training time",
    ):
        table.add_column(column, justify="left" if column == "regularizer" else "right")
    for row in result.rows:
        cell = [row["reg"], f"{row['lmbda']:g}", f"{row['eta']:g}", str(row["hidden"])]
        if row["status"] != "finished":
            table.add_row(*cell, row["status"], "", "", "", "")
            continue
        table.add_row(
            *cell,
            f"{row['validation_accuracy']:.2%}",
            table_number(row["validation_data_cost"], ".4f"),
            table_number(row["penalty"], ".4f"),
            table_number(row["layer1_fraction_zero"], ".1%"),
            "reused" if row.get("same_run_as") else _seconds(row.get("epochs_seconds")),
        )
    console.print(table)
    console.print(cells_trained(result))
    if result.shared:
        console.print(
            f"{counted(len(result.shared), 'cell')} not trained: with every λ = 0 (or no "
            "regularizer) the regularizer does nothing, so the run is the same as another "
            "cell's and is reported under each name ("
            + ", ".join(f"{name} = {source}" for name, source in result.shared.items())
            + ")",
            soft_wrap=True,
        )
    if result.resumed:
        one = len(result.resumed) == 1
        console.print(
            f"{counted(len(result.resumed), 'interrupted cell')} resumed from "
            f"{'its checkpoint' if one else 'their checkpoints'}: " + ", ".join(result.resumed),
            soft_wrap=True,
        )
    if result.extended:
        one = len(result.extended) == 1
        console.print(
            f"{counted(len(result.extended), 'cell')} continued from "
            f"{'its checkpoint' if one else 'their checkpoints'} to more epochs: "
            + ", ".join(result.extended),
            soft_wrap=True,
        )
    for name, reason in result.failed.items():
        console.print(f"[bold red]failed[/] {escape(name)}: {escape(reason)}", soft_wrap=True)
    best = result.best
    if best is not None:
        test = (
            ""
            if best["test_accuracy"] is None
            else f"; its test accuracy {best['test_accuracy']:.2%}"
        )
        ties = tied_with_best(result.rows, best)
        tie = (
            f" (tied on validation accuracy with {counted(ties, 'other cell')}: the lowest "
            "validation data cost C₀ decides, then the order of the grid)"
            if ties
            else ""
        )
        console.print(
            f"best cell: {best['reg']} λ={best['lmbda']:g} η={best['eta']:g} "
            f"hidden={best['hidden']} — validation {best['validation_accuracy']:.2%}{test}{tie}",
            soft_wrap=True,
        )
    console.print(
        f"results: {result.folder / 'results.csv'}; figures: "
        + (", ".join(str(p) for p in figures.values()) or "none (no cell finished)")
    )


def download_error() -> type:
    """The exception a failed download raises (its module loads only when one happens)."""
    from nnreg.datasets.download import DownloadError

    return DownloadError


def counted(count: int, noun: str) -> str:
    """``1 cell``, ``2 cells``, ``0 cells``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def table_number(value, spec: str) -> str:
    """A number from a results row; a missing one (NaN is stored as null) as a dash."""
    if value is None:
        return "—"
    return readable(value) if spec == ".4f" else format(value, spec)


def _seconds(value) -> str:
    """A cell's training time for the sweep table: its epochs (steps, monitors and
    checkpoints), not the start of its process (loading data, compiling); "—" when not
    known."""
    return "—" if value is None else f"{value:.1f} s"


def run() -> None:
    """The ``nnreg`` command: user mistakes exit 2 with a message (handled in each
    command); an interrupt that could not stop cleanly exits 128 + its signal number with
    a message; anything else is a bug in nnreg and shows its traceback with a request to
    report it."""
    try:
        sys.exit(_run_main())
    finally:  # the process is ending: a late Ctrl-C must not change its status
        _ignore_stop_signals()


def _run_main() -> int:
    try:
        status = main(standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (click.Abort, KeyboardInterrupt, StoppedAtOnce) as error:
        signum = error.signum if isinstance(error, StoppedAtOnce) else signal.SIGINT
        errors.print(
            "\nStopped at once: files already written are intact (each is renamed into "
            "place only when complete); a training run resumes from its last checkpoint "
            "with: nnreg train --resume RUN_FOLDER, a sweep by running the same nnreg sweep "
            "command again",
            soft_wrap=True,
        )
        return 128 + signum
    except MemoryError as error:  # a network, batch or data set larger than this machine
        errors.print(
            f"[bold red]Error:[/] out of memory ({escape(str(error) or 'MemoryError')}): "
            "choose fewer units (--sizes, --hidden), a smaller --batch-size or a smaller data "
            "set. Files already written are intact; a run resumes from its last checkpoint "
            "with: nnreg train --resume RUN_FOLDER",
            soft_wrap=True,
        )
        return EXIT_USAGE
    except Exception:  # noqa: BLE001 - the last resort: a bug, reported as one
        traceback.print_exc()
        errors.print(
            "[bold red]This is a bug in nnreg[/], not a mistake of yours: please report it "
            "with the command you ran and the traceback above.",
            soft_wrap=True,
        )
        return 1
    return status if isinstance(status, int) else 0


def _ignore_stop_signals() -> None:
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)


if __name__ == "__main__":  # pragma: no cover
    run()
