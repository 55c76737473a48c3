"""A run resumes from any current folder, and from data that moved: the run folder records
where its data really are (absolute) and their SHA-256, ``--data-dir`` / ``--data`` beside
``--resume`` say where they are now, and only the very same data are accepted."""

import gzip
import json
import os
import shutil
import struct
import time

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.checkpoints import load_parameters
from nnreg.cli import main
from nnreg.session import TrainSettings, resume_training, run_training
from nnreg.training import Callback, StopFlag, TrainingInterrupted

EPOCHS = 3


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def idx_files(folder, train=10_060, test=40, seed=0):
    """MNIST-style IDX files of ``train`` and ``test`` 28×28 images of 10 classes (10,060
    training images: MNIST's 10,000 held out for validation and 60 to train on)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for kind, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        images = labels[:, None, None] * 20 + rng.integers(0, 60, (count, 28, 28))
        write_idx(folder / f"{kind}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{kind}-labels-idx1-ubyte.gz", labels)
    return folder


class StopAfterEpoch(Callback):
    """Asks training to stop (as Ctrl-C does) in the middle of the epoch after ``epoch``."""

    def __init__(self, stop: StopFlag, epoch: int) -> None:
        self.stop, self.epoch = stop, epoch

    def on_epoch_end(self, record, network) -> None:
        if record["epoch"] == self.epoch:
            self.stop.requested, self.stop.reason = True, "SIGINT"


def interrupted_run(settings: TrainSettings, out) -> None:
    stop = StopFlag()
    with pytest.raises(TrainingInterrupted):
        run_training(settings, out, [StopAfterEpoch(stop, 1)], stop=stop)
    assert not (out / "summary.json").exists()


def assert_same_run(folder, reference):
    for ours, theirs in zip(*(load_parameters(f / "parameters.npz") for f in (folder, reference))):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)

    def records(f):
        lines = (f / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]

    assert records(folder) == records(reference)
    assert len(records(folder)) == EPOCHS


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A project folder holding data/mnist/, and another folder to resume from."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    idx_files(project / "data" / "mnist")
    elsewhere.mkdir()
    monkeypatch.delenv("NNREG_DATA", raising=False)
    return project, elsewhere


def settings(**changes):
    return TrainSettings(**{"data": "mnist", "hidden": 4, "epochs": EPOCHS, **changes})


def test_a_run_records_where_its_data_really_are_and_their_checksums(places, monkeypatch):
    project, _ = places
    monkeypatch.chdir(project)
    run_training(settings(data_dir="data", epochs=1), project / "runs" / "a")
    config = json.loads((project / "runs" / "a" / "config.json").read_text())
    assert config["settings"]["data_dir"] == str((project / "data").resolve())
    assert set(config["data_sha256"]) == {"training", "validation", "test"}
    assert all(len(digest) == 64 for digest in config["data_sha256"].values())


def test_resume_from_another_folder_with_a_relative_data_dir_is_bit_for_bit(places, monkeypatch):
    project, elsewhere = places
    monkeypatch.chdir(project)
    run_training(settings(data_dir="data"), project / "reference")
    interrupted_run(settings(data_dir="data"), project / "runs" / "a")
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["train", "--resume", "../project/runs/a", "--quiet"])
    assert result.exit_code == 0, result.output
    assert_same_run(project / "runs" / "a", project / "reference")


def test_data_that_moved_are_given_with_data_dir_and_the_resume_is_bit_for_bit(places, monkeypatch):
    project, elsewhere = places
    monkeypatch.chdir(project)
    run_training(settings(data_dir="data"), project / "reference")
    interrupted_run(settings(data_dir="data"), project / "runs" / "a")
    shutil.move(project / "data", elsewhere / "moved")
    monkeypatch.chdir(elsewhere)

    result = CliRunner().invoke(main, ["train", "--resume", "../project/runs/a", "--quiet"])
    assert result.exit_code == 2
    assert "resume with data_dir (--data-dir)" in " ".join(result.output.split())
    assert "Traceback" not in result.output

    result = CliRunner().invoke(
        main, ["train", "--resume", "../project/runs/a", "--data-dir", "moved", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert_same_run(project / "runs" / "a", project / "reference")
    config = json.loads((project / "runs" / "a" / "config.json").read_text())
    assert config["settings"]["data_dir"] == str((elsewhere / "moved").resolve())


def test_a_folder_of_idx_files_that_moved_is_given_with_data(places, monkeypatch):
    project, elsewhere = places
    monkeypatch.chdir(project)
    run_training(settings(data="data/mnist"), project / "reference")
    interrupted_run(settings(data="data/mnist"), project / "runs" / "a")
    shutil.move(project / "data" / "mnist", elsewhere / "idx")
    result = CliRunner().invoke(
        main, ["train", "--resume", "runs/a", "--data", str(elsewhere / "idx"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert_same_run(project / "runs" / "a", project / "reference")


def test_other_data_are_refused_and_the_run_folder_is_untouched(places, monkeypatch):
    project, elsewhere = places
    monkeypatch.chdir(project)
    interrupted_run(settings(data_dir="data"), project / "runs" / "a")
    idx_files(elsewhere / "other" / "mnist", seed=1)  # same sizes, other pixels
    folder = project / "runs" / "a"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    result = CliRunner().invoke(
        main, ["train", "--resume", str(folder), "--data-dir", str(elsewhere / "other")]
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "are not the data this run was trained on" in message
    assert "Traceback" not in result.output
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before


@pytest.mark.parametrize(
    "trained, option, expected",
    [
        ({"data": "digits"}, "--data-dir", "trained on digits, which is not read from the data"),
        ({"data_dir": "data"}, "--data", "not on a folder of IDX files"),
        ({"data": "data/mnist"}, "--data-dir", "give data (--data) instead"),
    ],
    ids=["data-dir-for-digits", "data-for-mnist", "data-dir-for-a-folder"],
)
def test_a_data_option_that_does_not_fit_the_run_is_refused(
    trained, option, expected, places, monkeypatch
):
    project, elsewhere = places
    monkeypatch.chdir(project)
    interrupted_run(settings(**trained), project / "runs" / "a")
    result = CliRunner().invoke(main, ["train", "--resume", "runs/a", option, str(elsewhere)])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())


def test_a_run_without_recorded_checksums_cannot_take_data_from_elsewhere(places, monkeypatch):
    project, _ = places
    monkeypatch.chdir(project)
    folder = project / "runs" / "a"
    interrupted_run(settings(data_dir="data"), folder)
    config = json.loads((folder / "config.json").read_text())
    del config["data_sha256"]  # as an older nnreg wrote it
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="records no checksums"):
        resume_training(folder, data_dir=project / "data")
    resume_training(folder)  # where the run had them, it resumes as before


def test_other_options_beside_resume_are_still_refused(places, monkeypatch):
    project, _ = places
    monkeypatch.chdir(project)
    interrupted_run(settings(data_dir="data"), project / "runs" / "a")
    result = CliRunner().invoke(
        main, ["train", "--resume", "runs/a", "--data-dir", "data", "--epochs", "5"]
    )
    assert result.exit_code == 2
    assert "so --epochs would be ignored" in " ".join(result.output.split())


def test_temporary_files_left_by_a_killed_process_are_removed_on_the_next_start(
    places, monkeypatch
):
    project, _ = places
    monkeypatch.chdir(project)
    folder = project / "runs" / "a"
    interrupted_run(settings(data_dir="data"), folder)
    (folder / "snapshots").mkdir()
    stale = [
        folder / ".checkpoint.npz.0123456789ab.tmp",
        folder / ".parameters.npz.a1b2c3d4e5f6.tmp",
        folder / "snapshots" / ".epoch-0001.npz.abcdefabcdef.tmp",
        folder / ".summary.json.00000000ffff.tmp",  # old: a process killed long ago
    ]
    kept = [
        folder / ".summary.json.ffff00000000.tmp",  # new: maybe being written right now
        folder / ".my-notes.tmp",  # not nnreg's
        folder / "notes.txt",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    os.utime(stale[-1], (time.time() - 3600, time.time() - 3600))
    resume_training(folder)
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
