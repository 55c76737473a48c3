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
    cli = run_training(settings, tmp_path / "cli")
    cli_like(settings, [nnreg.RunFolder(tmp_path / "python", data="digits", seed=0)])
    written = json.loads((tmp_path / "python" / "config.json").read_text())
    assert written["settings"] == json.loads((cli.folder / "config.json").read_text())["settings"]
    assert comparable((tmp_path / "python" / "metrics.jsonl").read_text().splitlines()) == (
        comparable((cli.folder / "metrics.jsonl").read_text().splitlines())
    )
    for name in ("parameters.npz", "initial_parameters.npz"):
        a, b = np.load(tmp_path / "python" / name), np.load(cli.folder / name)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert (tmp_path / "python" / "summary.json").is_file()


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
