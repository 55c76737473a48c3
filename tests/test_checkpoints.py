"""Checkpoints: a killed run resumes to the same numbers bit for bit; a damaged checkpoint
is detected and the previous good one is used; early stopping and η halving."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from stopping import StopAfterSteps

from nnreg.checkpoints import (
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    load_parameters,
)
from nnreg.cli import main
from nnreg.session import TrainSettings, resume_training, run_training
from nnreg.training import StopFlag, TrainingInterrupted

# Stateful pieces on purpose: momentum velocities and cumulative-L1 accumulators.
OPTIONS = ["--reg", "l1-cumulative", "--lmbda", "1", "--momentum", "0.5", "--seed", "3"]
SETTINGS = dict(reg="l1-cumulative", lmbda=1.0, momentum=0.5, seed=3)


def metrics_lines(folder):
    path = folder / "metrics.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


def without_times(records):
    return [{k: v for k, v in record.items() if k not in ("seconds", "time")} for record in records]


def assert_same_parameters(folder_a, folder_b):
    for a, b in zip(
        *(sum(load_parameters(f / "parameters.npz"), []) for f in (folder_a, folder_b))
    ):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted") / "run"
    run_training(TrainSettings(epochs=25, **SETTINGS), out=folder)
    return folder


def test_run_killed_mid_training_resumes_bit_identical(uninterrupted, tmp_path):
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnreg",
            "train",
            "--epochs",
            "25",
            "--out",
            str(folder),
            "--quiet",
            *OPTIONS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(metrics_lines(folder)) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(metrics_lines(folder))
    assert 4 <= done < 25, "the run must be killed mid-training"
    assert not (folder / "summary.json").exists()

    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    assert_same_parameters(folder, uninterrupted)
    resumed = [json.loads(line) for line in metrics_lines(folder)]
    expected = [json.loads(line) for line in metrics_lines(uninterrupted)]
    assert without_times(resumed) == without_times(expected)


def test_truncated_checkpoint_is_detected_and_the_previous_one_is_used(uninterrupted, tmp_path):
    folder = tmp_path / "run"
    run_training(TrainSettings(epochs=6, **SETTINGS), out=folder)
    # pretend the run was meant to last 25 epochs and its last checkpoint got damaged
    config = json.loads((folder / "config.json").read_text())
    config["settings"]["epochs"] = 25
    (folder / "config.json").write_text(json.dumps(config))
    checkpoint = folder / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])

    result = resume_training(folder)
    assert "checkpoint.npz is damaged" in result.summary["resume_warning"]
    assert "resumed from checkpoint.previous.npz" in result.summary["resume_warning"]
    assert_same_parameters(folder, uninterrupted)
    assert len(metrics_lines(folder)) == 25


def test_no_usable_checkpoint_is_a_clear_error_and_exit_2(tmp_path):
    folder = tmp_path / "run"
    run_training(TrainSettings(epochs=2, **SETTINGS), out=folder)
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        (folder / name).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="no usable checkpoint.*damaged"):
        load_checkpoint(folder, *_fresh(folder))
    result = CliRunner().invoke(main, ["train", "--resume", str(folder)])
    assert result.exit_code == 2
    assert "no usable checkpoint" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not an nnreg run folder" in result.output


def _fresh(folder):
    import nnreg
    from nnreg.training import TrainingState

    network = nnreg.Network([64, 30, 10], rng=0)
    regularizer = nnreg.make_regularizer("l1-cumulative", 1.0)
    optimizer = nnreg.make_optimizer(0.5, 0.5)
    state = TrainingState(
        optimizer.init_state(network.weights + network.biases),
        regularizer.init_state(network.weights, network.biases),
        np.random.default_rng(0),
    )
    return network, state


def test_resuming_a_finished_run_trains_nothing(tmp_path):
    folder = tmp_path / "run"
    first = run_training(TrainSettings(epochs=2, **SETTINGS), out=folder)
    before = (folder / "parameters.npz").stat().st_mtime_ns
    again = resume_training(folder)
    assert (folder / "parameters.npz").stat().st_mtime_ns == before
    assert without_times(again.history.records) == without_times(first.history.records)


def test_checkpoint_write_keeps_the_previous_file_until_the_new_one_is_complete(tmp_path):
    folder = tmp_path / "run"
    run_training(TrainSettings(epochs=3, **SETTINGS), out=folder)
    network, state = _fresh(folder)
    records, _, warning = load_checkpoint(folder, network, state)
    assert warning is None and state.epoch == 3 and len(records) == 3
    (folder / CHECKPOINT).unlink()  # killed between the two renames
    records, _, warning = load_checkpoint(folder, network, state)
    assert state.epoch == 2 and "missing" in warning
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_early_stopping_stops_on_a_plateau_and_restores_the_best_parameters(tmp_path):
    folder = tmp_path / "run"
    result = run_training(TrainSettings(epochs=60, early_stopping=3, seed=1), out=folder)
    records = result.history.records
    accuracies = [r["validation"]["accuracy"] for r in records]
    best_epoch = int(np.argmax(accuracies)) + 1
    assert len(records) == best_epoch + 3 < 60
    assert result.summary["best"] == {"epoch": best_epoch, "validation_accuracy": max(accuracies)}
    assert "no better validation accuracy for 3 epochs" in result.summary["stopped"]
    best = load_parameters(folder / "best_parameters.npz")
    final = load_parameters(folder / "parameters.npz")
    assert not all(np.array_equal(a, b) for a, b in zip(best[0], final[0]))


def test_eta_is_halved_after_a_plateau_and_training_stops_below_one_128th(tmp_path):
    result = run_training(
        TrainSettings(epochs=200, halve_eta_after=1, seed=2), out=tmp_path / "run"
    )
    rates = [r["learning_rate"] for r in result.history.records]
    assert rates[0] in (0.5, 0.25)
    changes = [b / a for a, b in zip(rates, rates[1:]) if b != a]
    assert changes and all(c == 0.5 for c in changes)
    assert rates[-1] < 0.5 / 128 and "η fell below" in result.summary["stopped"]


def test_watching_needs_a_validation_split_and_positive_patience(tmp_path):
    with pytest.raises(ValueError, match="early_stopping"):
        run_training(TrainSettings(epochs=2, early_stopping=0), out=tmp_path / "a")
    result = CliRunner().invoke(
        main, ["train", "--early-stopping", "-1", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 2 and "--early-stopping" in result.output
    assert not os.path.exists(tmp_path / "b")


@pytest.mark.parametrize(
    "options, named",
    [(["--epochs", "40"], "--epochs"), (["--seed", "2", "--lmbda", "3"], "--lmbda, --seed")],
)
def test_options_beside_resume_are_refused_not_ignored(tmp_path, options, named):
    folder = tmp_path / "run"
    run_training(TrainSettings(epochs=2, **SETTINGS), out=folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), *options])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"so {named} would be ignored" in message
    assert "without --resume" in message and "Traceback" not in result.output
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_run_stopped_part_way_through_an_epoch_resumes_with_the_same_metrics(
    uninterrupted, tmp_path
):
    folder = tmp_path / "run"
    stop = StopFlag()
    steps_per_epoch = -(-1_347 // 10)  # digits' training split, batch 10
    with pytest.raises(TrainingInterrupted):
        run_training(
            TrainSettings(epochs=25, **SETTINGS),
            out=folder,
            callbacks=[StopAfterSteps(stop, 3 * steps_per_epoch + 50)],
            stop=stop,
        )
    assert len(metrics_lines(folder)) == 3, "stopped in the fourth epoch"
    resume_training(folder)
    assert_same_parameters(folder, uninterrupted)
    resumed = without_times(json.loads(line) for line in metrics_lines(folder))
    expected = without_times(json.loads(line) for line in metrics_lines(uninterrupted))
    # sign_flips of the epoch stopped part-way counts from that epoch's start, as if unbroken
    assert resumed[3]["weights"]["sign_flips"] is not None
    assert resumed == expected
