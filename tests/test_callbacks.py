"""The public callbacks from Python: early stopping, η halving, a progress bar, LivePlot
outside a notebook, and RunFolder, whose run folder the command line resumes, draws and
skips in a sweep exactly like one of its own."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import nnreg
from nnreg.cli import main
from nnreg.session import TrainSettings, run_training
from nnreg.sweep import make_grid, run_sweep
from nnreg.training import StopFlag, TrainingInterrupted


def cli_like(settings: TrainSettings, callbacks=(), stop=None, epochs=None):
    """nnreg.train exactly as nnreg train runs these settings (one generator, seeded)."""
    data = nnreg.load_digits()
    rng = np.random.default_rng(settings.seed)
    network = nnreg.Network(
        [64, settings.hidden, 10], settings.activation, settings.cost, "default", rng
    )
    optimizer = nnreg.SGD(settings.eta)
    state = nnreg.TrainingState(optimizer.init_state(network.weights + network.biases), {}, rng)
    regularizer = nnreg.make_regularizer(settings.reg, settings.lmbda)
    state.regularizer_state = regularizer.init_state(network.weights, network.biases)
    history = nnreg.train(
        network,
        data["training"],
        epochs=epochs or settings.epochs,
        batch_size=settings.batch_size,
        optimizer=optimizer,
        regularizer=regularizer,
        evaluation_data={"validation": data["validation"], "test": data["test"]},
        state=state,
        callbacks=callbacks,
        stop=stop,
    )
    return network, history


def comparable(lines):
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


def test_a_python_run_folder_is_the_command_lines_run_bit_for_bit(tmp_path):
    settings = TrainSettings(epochs=3, reg="l1-proximal", lmbda=2.0)
    cli = run_training(settings, tmp_path / "cli", snapshots=True)
    cli_like(settings, [nnreg.RunFolder(tmp_path / "python", seed=0, snapshots=True)])
    written = json.loads((tmp_path / "python" / "config.json").read_text())
    assert written["settings"] == json.loads((cli.folder / "config.json").read_text())["settings"]
    assert comparable((tmp_path / "python" / "metrics.jsonl").read_text().splitlines()) == (
        comparable((cli.folder / "metrics.jsonl").read_text().splitlines())
    )
    snapshots = [f"snapshots/epoch-{epoch:04d}.npz" for epoch in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "python" / "snapshots").iterdir()) == [
        name.split("/")[1] for name in snapshots
    ]
    for name in ("parameters.npz", "initial_parameters.npz", *snapshots):
        a, b = np.load(tmp_path / "python" / name), np.load(cli.folder / name)
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert (tmp_path / "python" / "summary.json").is_file()


def test_a_run_folder_keeps_no_snapshots_unless_asked(tmp_path):
    cli_like(TrainSettings(epochs=1), [nnreg.RunFolder(tmp_path / "r")])
    assert (tmp_path / "r" / "parameters.npz").is_file()
    assert not (tmp_path / "r" / "snapshots").exists()
    with pytest.raises(ValueError, match="snapshots"):
        nnreg.RunFolder(tmp_path / "s", snapshots="yes")


def test_an_interrupted_python_run_is_resumed_by_nnreg_train_and_drawn_by_nnreg_plot(tmp_path):
    settings = TrainSettings(epochs=3, reg="l2", lmbda=1.0)
    stop = StopFlag()

    class StopAfterTheFirstEpoch(nnreg.Callback):
        def on_epoch_end(self, record, network):
            stop.requested = True

    with pytest.raises(TrainingInterrupted):
        cli_like(
            settings,
            [nnreg.RunFolder(tmp_path / "run", data="digits"), StopAfterTheFirstEpoch()],
            stop,
        )
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    reference = run_training(settings, tmp_path / "reference")
    assert comparable((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == (
        comparable((reference.folder / "metrics.jsonl").read_text().splitlines())
    )
    drawn = CliRunner().invoke(main, ["plot", str(tmp_path / "run")])
    assert drawn.exit_code == 0 and (tmp_path / "run" / "figures" / "cost.png").is_file()


def test_a_sweep_finds_a_python_run_done_like_one_of_its_cells(tmp_path):
    grid = make_grid(["l2"], [1.0], base=TrainSettings(epochs=2))
    cell = grid.cells()[0]
    settings = TrainSettings(epochs=2, reg="l2", lmbda=1.0)
    cli_like(settings, [nnreg.RunFolder(tmp_path / "sweep" / "cells" / cell.name)])
    result = run_sweep(grid, tmp_path / "sweep")
    assert result.trained == [] and result.skipped == [cell.name]


def test_a_run_nnreg_train_cannot_repeat_is_refused_before_anything_is_written(tmp_path):
    data = nnreg.load_digits()
    network = nnreg.Network([64, 10, 10], rng=0)
    combined = nnreg.Combined([nnreg.L2(1.0), nnreg.Dropout(0.2, seed=0)])
    with pytest.raises(ValueError, match="no regularizer like"):
        nnreg.train(network, data["training"], epochs=1, batch_size=10,
                    optimizer=nnreg.SGD(0.5), regularizer=combined,
                    callbacks=[nnreg.RunFolder(tmp_path / "r")])  # fmt: skip
    folder = nnreg.RunFolder(tmp_path / "r")
    with pytest.raises(ValueError, match="not the 'digits' data set's training split"):
        nnreg.train(network, data["training"].head(100), epochs=1, batch_size=10,
                    optimizer=nnreg.SGD(0.5), callbacks=[folder])  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_early_stopping_and_eta_halving_as_callbacks(digits):
    network = nnreg.Network([64, 20, 10], rng=0)
    optimizer = nnreg.SGD(0.5)
    stopping, halving = nnreg.EarlyStopping(3), nnreg.HalveLearningRate(optimizer, 2)
    history = nnreg.train(
        network, digits["training"], epochs=60, batch_size=10, optimizer=optimizer,
        regularizer=nnreg.L2(1.0), evaluation_data={"validation": digits["validation"]}, rng=0,
        callbacks=[stopping, halving],
    )  # fmt: skip
    accuracies = history.series("validation", "accuracy")
    assert len(accuracies) < 60 and stopping.stop_training
    assert len(accuracies) - stopping.best_epoch == 3
    assert max(accuracies) == accuracies[stopping.best_epoch - 1] == stopping.best_accuracy
    assert optimizer.learning_rate < 0.5  # halved at least once
    # the best parameters are back in the network
    x = digits["validation"].float_inputs()
    best = np.mean(network.predict(x) == digits["validation"].labels)
    assert best == pytest.approx(stopping.best_accuracy)


def test_progress_and_liveplot_outside_a_notebook(tmp_path):
    """In a script: the progress bar goes to the terminal, LivePlot draws nothing and does
    not load IPython or matplotlib."""
    code = (
        "import sys, nnreg; d = nnreg.load_digits(); live = nnreg.LivePlot(); "
        "nnreg.train(nnreg.Network([64, 10, 10], rng=0), d['training'], epochs=2, "
        "batch_size=10, optimizer=nnreg.SGD(0.5), rng=0, callbacks=[live], progress='epochs'); "
        "print(live.figure is None, 'IPython' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["True", "False", "False"]
    assert "epoch   2/2" in result.stdout


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def live_plot_drawing_epochs(monkeypatch, epochs, epoch_seconds, drawing_seconds, **options):
    """Which epochs a LivePlot in a (pretend) notebook draws, when an epoch takes
    ``epoch_seconds`` and a drawing ``drawing_seconds`` of a fake clock."""
    from nnreg import callbacks, notebook

    clock = FakeClock()
    drawn = []

    def draw(records, network):
        drawn.append(records[-1]["epoch"])
        clock.now += drawing_seconds
        return type("Figure", (), {"savefig": lambda self, *a, **k: None})()

    monkeypatch.setattr(callbacks, "time", clock)
    monkeypatch.setattr(callbacks, "live_figure", draw)
    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(notebook, "Display", lambda: type("D", (), {"show": lambda s, c: 0})())
    live = nnreg.LivePlot(**options)
    live.on_train_begin(epochs, 1)
    for epoch in range(1, epochs + 1):
        clock.now += epoch_seconds
        live.on_epoch_end({"epoch": epoch}, None)
    live.on_train_end(None, None)
    return drawn


def test_liveplot_draws_less_often_when_epochs_are_shorter_than_a_drawing(monkeypatch):
    pytest.importorskip("IPython")
    # slow epochs: every epoch drawn
    assert live_plot_drawing_epochs(monkeypatch, 5, 10.0, 1.0) == [1, 2, 3, 4, 5]
    # an epoch of 0.1 s, a drawing of 1 s: after each drawing, 3 s of epochs (a quarter of the
    # time is spent drawing), then the next epoch; the last epoch always drawn
    drawn = live_plot_drawing_epochs(monkeypatch, 70, 0.1, 1.0)
    assert drawn == [1, 31, 61, 70]
    # a drawing share of a half: as long training as drawing
    assert live_plot_drawing_epochs(monkeypatch, 25, 0.1, 1.0, drawing_share=0.5) == [
        1, 11, 21, 25
    ]  # fmt: skip
    # every epoch when asked to, whatever it costs; `every` still counts epochs
    assert live_plot_drawing_epochs(monkeypatch, 4, 0.1, 1.0, drawing_share=1) == [1, 2, 3, 4]
    assert live_plot_drawing_epochs(monkeypatch, 7, 10.0, 1.0, every=3) == [3, 6, 7]


@pytest.mark.parametrize(
    "options, named",
    [
        ({"every": 0}, "every"),
        ({"every": 1.5}, "every"),
        ({"every": True}, "every"),
        ({"dpi": "high"}, "dpi"),
        ({"dpi": 0}, "dpi"),
        ({"drawing_share": 0}, "drawing_share"),
        ({"drawing_share": 1.5}, "drawing_share"),
        ({"drawing_share": float("nan")}, "drawing_share"),
    ],
)
def test_liveplot_refuses_bad_options_by_name(options, named):
    with pytest.raises(ValueError, match=named):
        nnreg.LivePlot(**options)


def plateau_callbacks(optimizer_of, early_stopping, halve_eta_after):
    """The Python callbacks for nnreg train's --early-stopping and --halve-eta-after."""
    return [
        *([nnreg.EarlyStopping(early_stopping)] if early_stopping else []),
        *([nnreg.HalveLearningRate(optimizer_of, halve_eta_after)] if halve_eta_after else []),
    ]


def cli_like_watched(settings, folder, stop=None, extra=()):
    """cli_like, with EarlyStopping / HalveLearningRate made from ``settings`` before the
    RunFolder (they need the run's optimizer, made inside: built the same way here)."""
    data = nnreg.load_digits()
    rng = np.random.default_rng(settings.seed)
    network = nnreg.Network([64, settings.hidden, 10], rng=rng)
    optimizer = nnreg.SGD(settings.eta)
    state = nnreg.TrainingState(optimizer.init_state(network.weights + network.biases), {}, rng)
    regularizer = nnreg.make_regularizer(settings.reg, settings.lmbda)
    state.regularizer_state = regularizer.init_state(network.weights, network.biases)
    watchers = plateau_callbacks(optimizer, settings.early_stopping, settings.halve_eta_after)
    return nnreg.train(
        network, data["training"], epochs=settings.epochs, batch_size=settings.batch_size,
        optimizer=optimizer, regularizer=regularizer,
        evaluation_data={"validation": data["validation"], "test": data["test"]}, state=state,
        callbacks=[*watchers, nnreg.RunFolder(folder), *extra], stop=stop,
    )  # fmt: skip


def same_files(a, b, names):
    for name in names:
        x, y = np.load(a / name), np.load(b / name)
        assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files), name


@pytest.mark.parametrize("early_stopping, halve_eta_after", [(2, 1), (3, None), (None, 1)])
def test_early_stopping_and_halving_are_recorded_as_nnreg_train_records_them(
    tmp_path, early_stopping, halve_eta_after
):
    settings = TrainSettings(
        epochs=20, lmbda=1.0, early_stopping=early_stopping, halve_eta_after=halve_eta_after
    )
    cli = run_training(settings, tmp_path / "cli")
    assert cli.summary["stopped"]  # the watchers did act before the last epoch
    history = cli_like_watched(settings, tmp_path / "python")
    assert len(history.records) == len(cli.history.records) < 20
    python, reference = tmp_path / "python", cli.folder
    config = json.loads((python / "config.json").read_text())
    assert config["settings"] == json.loads((reference / "config.json").read_text())["settings"]
    assert comparable((python / "metrics.jsonl").read_text().splitlines()) == comparable(
        (reference / "metrics.jsonl").read_text().splitlines()
    )
    same_files(
        python, reference, ["parameters.npz"] + (["best_parameters.npz"] * bool(early_stopping))
    )
    checkpoints = [np.load(folder / "checkpoint.npz") for folder in (python, reference)]
    arrays = [[k for k in c.files if k != "meta"] for c in checkpoints]
    assert arrays[0] == arrays[1]
    assert all(np.array_equal(checkpoints[0][k], checkpoints[1][k]) for k in arrays[0])
    metas = [json.loads(str(c["meta"])) for c in checkpoints]
    for meta in metas:  # what differs is how long things took
        meta["records"] = comparable(json.dumps(r) for r in meta["records"])
    assert metas[0] == metas[1] and metas[0]["extra"]["initial_learning_rate"] == 0.5
    assert (python / "best_parameters.npz").exists() == bool(early_stopping)
    summary = json.loads((python / "summary.json").read_text())
    assert summary["best"] == cli.summary["best"] and summary["stopped"] == cli.summary["stopped"]


def test_a_watched_python_run_interrupted_is_resumed_by_nnreg_train_bit_for_bit(tmp_path):
    settings = TrainSettings(epochs=20, lmbda=1.0, early_stopping=3, halve_eta_after=2)
    reference = run_training(settings, tmp_path / "reference")
    stop = StopFlag()

    class StopAfterEpoch(nnreg.Callback):
        def on_epoch_end(self, record, network):
            stop.requested = record["epoch"] == 9  # after the first halving (epoch 7)

    with pytest.raises(TrainingInterrupted):
        cli_like_watched(settings, tmp_path / "run", stop, [StopAfterEpoch()])
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert comparable((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == (
        comparable((reference.folder / "metrics.jsonl").read_text().splitlines())
    )
    same_files(tmp_path / "run", reference.folder, ["parameters.npz", "best_parameters.npz"])


def test_watchers_nnreg_train_cannot_repeat_are_refused_before_anything_is_written(tmp_path):
    data = nnreg.load_digits()

    def attempt(callbacks, evaluation=True):
        optimizer = nnreg.SGD(0.5)
        made = callbacks(optimizer)
        nnreg.train(nnreg.Network([64, 10, 10], rng=0), data["training"], epochs=1,
                    batch_size=10, optimizer=optimizer, regularizer=nnreg.L2(1.0),
                    evaluation_data={"validation": data["validation"]} if evaluation else {},
                    callbacks=made)  # fmt: skip

    folder = tmp_path / "r"
    cases = [
        (lambda o: [nnreg.EarlyStopping(2), nnreg.EarlyStopping(3), nnreg.RunFolder(folder)],
         "one EarlyStopping"),
        (lambda o: [nnreg.EarlyStopping(2, "test"), nnreg.RunFolder(folder)], "'test'"),
        (lambda o: [nnreg.HalveLearningRate(nnreg.SGD(0.5), 2), nnreg.RunFolder(folder)],
         "another optimizer"),
        (lambda o: [nnreg.RunFolder(folder), nnreg.HalveLearningRate(o, 2)], "after"),
    ]  # fmt: skip
    for callbacks, message in cases:
        with pytest.raises(ValueError, match=message):
            attempt(callbacks)
        assert not folder.exists()


def test_a_keyboard_interrupt_inside_a_step_frees_the_run_folder_for_a_resume(tmp_path):
    """A notebook's interrupt (KeyboardInterrupt, anywhere, here inside the second epoch):
    nothing half-done is saved, the folder's lock is let go at once (the kernel lives on),
    and nnreg train --resume continues from the last epoch's checkpoint, bit for bit."""
    settings = TrainSettings(epochs=3, reg="l1-proximal", lmbda=1.0)
    reference = run_training(settings, tmp_path / "reference")

    class InterruptInTheSecondEpoch(nnreg.Callback):
        steps = 0

        def on_steps(self, steps):
            self.steps += steps
            if self.steps > 150:  # an epoch of digits is 120 steps
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cli_like(settings, [nnreg.RunFolder(tmp_path / "run"), InterruptInTheSecondEpoch()])
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output  # no "another nnreg process is training"
    assert comparable((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == (
        comparable((reference.folder / "metrics.jsonl").read_text().splitlines())
    )
    same_files(tmp_path / "run", reference.folder, ["parameters.npz"])


def test_a_keyboard_interrupt_stops_the_terminal_progress_bar():
    bar = nnreg.ProgressBar()
    bar.on_train_begin(2, 10)
    assert bar.progress.live.is_started
    bar.on_abort()
    assert not bar.progress.live.is_started
