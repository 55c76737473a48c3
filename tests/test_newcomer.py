"""What a new user trips over: file permissions, logs, number formats, Ctrl-C at start-up,
messages, names in any case, divergence advice, one-epoch figures, λ ticks, help texts and
sweep summaries."""

import csv
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.checkpoints import temporary_file_beside
from nnreg.cli import counted, main, readable
from nnreg.experiments import EXPERIMENTS
from nnreg.plots import FIGURES, load_runs, sweep_figures
from nnreg.session import TrainSettings, resume_training, run_training
from nnreg.training import Callback, StopFlag, TrainingInterrupted


def nnreg_command(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "nnreg", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
        **kwargs,
    )


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}


# -- files and output --------------------------------------------------------------------


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_every_file_of_a_run_follows_the_umask_also_after_resume(tmp_path, umask, expected):
    stop = StopFlag()

    class StopAfterTheFirstEpoch(Callback):
        def on_epoch_end(self, record, network):
            stop.requested = True

    previous = os.umask(umask)
    try:
        with pytest.raises(TrainingInterrupted):
            run_training(
                TrainSettings(epochs=3), tmp_path / "run", [StopAfterTheFirstEpoch()], stop=stop
            )
        resume_training(tmp_path / "run")  # rewrites metrics.jsonl, writes the rest anew
    finally:
        os.umask(previous)
    found = modes(tmp_path / "run")
    assert {"metrics.jsonl", "checkpoint.npz", "parameters.npz", "summary.json"} <= set(found)
    for name, mode in found.items():
        if name != ".lock":
            assert mode == expected, f"{name}: {oct(mode)}"


def test_a_temporary_file_gets_the_umasks_permissions_and_a_fresh_name(tmp_path):
    previous = os.umask(0o022)
    try:
        names = set()
        for _ in range(3):
            fd, name = temporary_file_beside(tmp_path / "x.npz")
            os.close(fd)
            names.add(name)
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o644
    finally:
        os.umask(previous)
    assert len(names) == 3 and all(Path(n).parent == tmp_path for n in names)


def test_output_to_a_pipe_keeps_whole_lines(tmp_path):
    result = nnreg_command("train", "--epochs", "2", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and all("zeros" in line for line in epochs)
    assert any(re.search(r"weights exactly zero: \d", line) for line in lines)
    assert not any(line.strip() == "" for line in lines[:2])  # no progress-bar residue


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.3889, "0.3889"),
        (0.0, "0.0000"),
        (42610812738083044.0, "4.261e+16"),
        (1e244, "1e+244"),
        (3.2e-7, "3.2e-07"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (12345.678, "12345.6780"),
    ],
)
def test_numbers_of_any_magnitude_print_readably(value, shown):
    assert readable(value) == shown


def test_a_huge_cost_prints_in_a_few_characters(tmp_path):
    result = nnreg_command(
        "train", "--eta", "3", "--lmbda", "1000", "--epochs", "1", "--out", str(tmp_path / "r")
    )
    assert "e+" in result.stdout
    assert not re.search(r"\d{12}", result.stdout), result.stdout


@pytest.mark.parametrize(
    "delay",
    [pytest.param(0.1, marks=pytest.mark.slow), 0.3, pytest.param(1.0, marks=pytest.mark.slow)],
)
def test_ctrl_c_at_any_moment_of_start_up_stops_without_a_traceback(tmp_path, delay):
    """The delay counts from the moment nnreg's own code runs. Before that the interpreter is
    still starting (its ``site`` module, the ``.pth`` files of the installed packages, which may
    import anything): a Ctrl-C there is CPython's to handle, and it prints its own fatal error
    whatever the package is. ``-X importtime`` reports each module as its import finishes, so
    the line naming ``nnreg.command`` marks the moment the command's guard is in place."""
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "nnreg", "train", "--data", "digits"]
        + ["--out", str(tmp_path / "r")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.rstrip().endswith("| nnreg.command"):
            break
    else:
        pytest.fail("nnreg.command was never imported:\n" + "".join(seen))
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    err = "".join(seen) + rest
    assert "Traceback" not in err, err
    assert process.returncode in (0, 130, -signal.SIGINT), (process.returncode, err)


@pytest.mark.parametrize(
    "data, message",
    [
        ("/no/such/folder", "the folder /no/such/folder does not exist"),
        ("./nowhere", "the folder ./nowhere does not exist"),
        ("mnst", "unknown data set 'mnst'"),
    ],
)
def test_a_wrong_data_argument_says_what_is_wrong(data, message, tmp_path):
    result = CliRunner().invoke(main, ["train", "--data", data, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_file_given_as_data_folder_is_named_as_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    result = CliRunner().invoke(main, ["train", "--data", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output


def test_names_are_accepted_in_any_case(tmp_path):
    result = CliRunner().invoke(
        main,
        ["train", "--reg", "L2", "--activation", "Sigmoid", "--epochs", "1", "--quiet"]
        + ["--out", str(tmp_path / "r")],
    )
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "r" / "config.json").read_text())["settings"]
    assert settings["reg"] == "l2" and settings["activation"] == "sigmoid"
    result = CliRunner().invoke(
        main,
        ["sweep", "--reg", "L2,L1-Proximal", "--lmbda", "1", "--epochs", "1", "--quiet"]
        + ["--out", str(tmp_path / "s")],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "s" / "results.csv")))
    assert [row["reg"] for row in rows] == ["l2", "l1-proximal"]


def test_divergence_from_the_weight_decay_is_explained_with_its_numbers(tmp_path):
    result = nnreg_command(
        "train", "--eta", "3", "--lmbda", "5000", "--epochs", "3", "--out", str(tmp_path / "r")
    )
    assert result.returncode == 3
    assert "1 − ηλ/n = 1 − 3·5000/" in result.stderr
    assert "≤ 0" in result.stderr and "flips the sign" in result.stderr
    # said at the start too, before any epoch
    assert result.stderr.index("Warning:") < result.stderr.index("Training diverged")
    assert "Traceback" not in result.stderr


def test_the_advice_names_the_weight_decay_only_when_it_is_unstable():
    from nnreg.optimizers import SGD
    from nnreg.regularizers import make_regularizer
    from nnreg.training import divergence_advice, unstable_decay

    stable = make_regularizer("l2", 5.0)  # ηλ/n = 0.5·5/1000 = 0.0025
    assert unstable_decay(SGD(0.5), stable, 2, 1000) is None
    assert divergence_advice(SGD(0.5), stable, 2, 1000) == (
        "Try a smaller learning rate η (now 0.5) or a larger mini-batch"
    )
    problem = unstable_decay(SGD(0.5), make_regularizer("l2", 3000.0), 2, 1000)
    assert "1 − ηλ/n = 1 − 0.5·3000/1000 = -0.5 ≤ 0" in problem
    assert "makes them larger" not in problem  # |1 − ηλ/n| < 1: flips, but shrinks
    assert "λ under 2000 at this η" in problem and "η under 0.333 at this λ" in problem
    # only the weight layers the regularizer acts on count; L1 has no coupled decay
    assert unstable_decay(SGD(0.5), make_regularizer("l1", 1e6), 2, 1000) is None


# -- figures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    return run_training(TrainSettings(epochs=1), out=tmp_path_factory.mktemp("one") / "r").folder


def test_a_one_epoch_run_draws_marked_points_from_epoch_0(one_epoch):
    runs = load_runs([one_epoch])
    for stem in ("cost", "accuracy", "weights", "sparsity"):
        figure = FIGURES[stem](runs)
        for axes in figure.axes:
            left, right = axes.get_xlim()
            assert right - left >= 1.0, f"{stem}: an axis around one point"
            drawn = [line for line in axes.get_lines() if len(line.get_xdata()) == 1]
            assert all(line.get_marker() not in (None, "None", "") for line in drawn)
            assert axes.get_legend() is None or axes.get_legend().get_bbox_to_anchor() is not None
    weights = FIGURES["weights"](runs)
    initial = np.load(one_epoch / "initial_parameters.npz")["weights_0"]
    starts = [line for line in weights.axes[0].get_lines() if list(line.get_xdata())[:1] == [0]]
    assert starts and starts[0].get_ydata()[0] == pytest.approx(np.sqrt(np.mean(initial**2)))


def test_legends_sit_outside_the_data(one_epoch):
    for stem, draw in FIGURES.items():
        for axes in draw(load_runs([one_epoch])).axes:
            legend = axes.get_legend()
            if legend is not None:  # anchored below the axes (y < 0 in axes coordinates)
                anchor = legend.get_bbox_to_anchor().transformed(axes.transAxes.inverted())
                assert anchor.y1 <= 0, stem


def test_sweep_figures_label_every_lambda():
    rows = [
        {
            "reg": reg,
            "lmbda": lmbda,
            "eta": 0.5,
            "hidden": 30,
            "status": "finished",
            "diverged": False,
            "validation_accuracy": 0.9,
            "layer1_fraction_zero": 0.1,
            "layer1_l2_norm": 3.0,
        }
        for reg in ("l2", "l1")
        for lmbda in (0.0, 0.01, 0.1, 1.0, 5.0, 20.0)
    ]
    for figure in sweep_figures(rows).values():
        for axes in figure.axes:
            labels = [tick.get_text() for tick in axes.get_xticklabels()]
            assert labels == ["0", "0.01", "0.1", "1", "5", "20"]


# -- help ------------------------------------------------------------------------------------


def test_help_names_list_options_as_lists_and_lists_the_experiments():
    runner = CliRunner()
    commands = runner.invoke(main, ["--help"]).output.split("Commands:")[1]
    assert "..." not in commands and "…" not in commands  # no description cut short
    train = runner.invoke(main, ["train", "--help"]).output
    sweep = runner.invoke(main, ["sweep", "--help"]).output
    assert "WHOLE NUMBER" not in train + sweep
    assert "--sizes N,N,…" in train and "--reg-layers N,N,…" in train
    assert "--hidden N,N,…" in sweep and "--reg NAME,NAME,…" in sweep
    experiment = runner.invoke(main, ["experiment", "--help"]).output
    assert all(name in experiment for name in EXPERIMENTS)


# -- sweeps ----------------------------------------------------------------------------------


def test_counts_are_written_in_good_grammar():
    assert counted(1, "cell") == "1 cell" and counted(0, "cell") == "0 cells"
    assert counted(2, "other cell") == "2 other cells"


def test_cells_without_regularization_share_one_run_and_ties_are_explained(tmp_path):
    result = CliRunner().invoke(
        main,
        ["sweep", "--reg", "l2,l1-proximal,none", "--lmbda", "0,1", "--epochs", "1"]
        + ["--out", str(tmp_path / "s"), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    cells = sorted(p.name for p in (tmp_path / "s" / "cells").iterdir())
    assert cells == [
        "l1-proximal_lmbda=1_eta=0.5_hidden=30",
        "l2_lmbda=0_eta=0.5_hidden=30",
        "l2_lmbda=1_eta=0.5_hidden=30",
    ]
    rows = {
        (row["reg"], row["lmbda"]): row
        for row in csv.DictReader(open(tmp_path / "s" / "results.csv"))
    }
    source = rows[("l2", "0.0")]
    for twin in (("l1-proximal", "0.0"), ("none", "0.0"), ("none", "1.0")):
        assert rows[twin]["same_run_as"] == "l2_lmbda=0_eta=0.5_hidden=30"
        assert rows[twin]["validation_accuracy"] == source["validation_accuracy"]
    assert "3 cells not trained" in result.output
    assert "trained 3 cells; none was done before" in result.output
    assert "tied on validation accuracy with 3 other cells" in result.output
    # the rerun trains nothing
    again = CliRunner().invoke(
        main,
        ["sweep", "--reg", "l2,l1-proximal,none", "--lmbda", "0,1", "--epochs", "1"]
        + ["--out", str(tmp_path / "s"), "--quiet"],
    )
    assert "trained 0 cells; 3 cells were already done" in again.output


def test_a_shared_run_is_the_same_run_bit_for_bit(tmp_path):
    """Regularization off, the regularizers train the same network: what makes sharing right."""
    finals = []
    for reg in ("l2", "l1", "l1-proximal", "l1-cumulative", "elastic-net", "decoupled"):
        result = run_training(TrainSettings(epochs=2, reg=reg, lmbda=0.0), out=tmp_path / reg)
        finals.append(np.load(result.folder / "parameters.npz"))
    for other in finals[1:]:
        for key in finals[0].files:
            assert np.array_equal(finals[0][key], other[key])


def test_the_doctors_choices_in_the_command_line_are_the_doctors():
    from nnreg import cli, doctor

    assert cli.DOCTOR_REGULARIZERS == doctor.REGULARIZERS
