"""What happens when things go wrong: one row per bad input or fault, each checked for the
exact error (class or exit status), a message that says what to do, and that no good file
that existed before was lost or changed."""

import errno
import gzip
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg import network2
from nnreg.checkpoints import CheckpointError, load_parameters
from nnreg.cli import main
from nnreg.datasets.idx import IdxError, read_idx
from nnreg.runs import lock_run_folder
from nnreg.session import TrainSettings, resume_training, run_training

GALLERY = Path(__file__).parent / "doctor_gallery"


def fingerprint(folder: Path) -> dict:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A finished two-epoch run, copied afresh into each row that needs one."""
    folder = tmp_path_factory.mktemp("good") / "run"
    run_training(TrainSettings(epochs=2, reg="l1-cumulative", lmbda=1.0), out=folder)
    return folder


def copy_run(good_run, tmp_path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(good_run, target)
    return target


def idx_file(tmp_path, content: bytes, name="data.idx") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


LABELS_HEADER = b"\x00\x00\x08\x01" + struct.pack(">i", 10)

# (id, setup(tmp_path, good_run) -> context, action(context) -> None or CLI args, expected,
#  message). expected: an exception class (library call) or an exit status (CLI).
ROWS = [
    # -- readers -----------------------------------------------------------------------------
    (
        "idx-truncated",
        lambda t, g: idx_file(t, LABELS_HEADER + b"\x01\x02"),
        lambda p: read_idx(p),
        IdxError,
        "truncated",
    ),
    (
        "idx-wrong-magic",
        lambda t, g: idx_file(t, b"\x01\x00\x08\x01" + b"\x00" * 8),
        lambda p: read_idx(p),
        IdxError,
        "not an IDX file",
    ),
    (
        "idx-lying-header",
        lambda t, g: idx_file(t, b"\x00\x00\x08\x03" + struct.pack(">3i", 60000, 28, 28)),
        lambda p: read_idx(p),
        IdxError,
        "cannot hold|truncated|declares",
    ),
    (
        "idx-unknown-type",
        lambda t, g: idx_file(t, b"\x00\x00\x42\x01" + struct.pack(">i", 1) + b"\x00"),
        lambda p: read_idx(p),
        IdxError,
        "type",
    ),
    (
        "idx-corrupt-gzip",
        lambda t, g: idx_file(t, gzip.compress(LABELS_HEADER + bytes(10))[:-12], "d.gz"),
        lambda p: read_idx(p),
        IdxError,
        "",
    ),
    (
        "network2-random-bytes",
        lambda t, g: idx_file(t, os.urandom(64), "net.json"),
        lambda p: network2.load(str(p)),
        ValueError,
        "not a saved network2 file",
    ),
    (
        "network2-cost-is-code",
        lambda t, g: idx_file(
            t,
            json.dumps(
                {
                    "sizes": [2, 1],
                    "weights": [[[0.0, 0.0]]],
                    "biases": [[[0.0]]],
                    "cost": "os.system",
                }
            ).encode(),
            "net.json",
        ),
        lambda p: network2.load(str(p)),
        ValueError,
        "unknown cost 'os.system'",
    ),
    (
        "network2-lying-sizes",
        lambda t, g: idx_file(
            t,
            json.dumps(
                {
                    "sizes": [10**7, 10**7],
                    "weights": [[[0.0]]],
                    "biases": [[[0.0]]],
                    "cost": "CrossEntropyCost",
                }
            ).encode(),
            "n.json",
        ),
        lambda p: network2.load(str(p)),
        ValueError,
        "do not match sizes",
    ),
    (
        "parameters-with-pickle",
        lambda t, g: _pickled_npz(t),
        lambda p: load_parameters(p),
        ValueError,
        "not a readable nnreg parameter file",
    ),
    (
        "checkpoints-both-damaged",
        lambda t, g: _damaged_checkpoints(copy_run(g, t)),
        lambda f: resume_training(f),
        CheckpointError,
        "no usable checkpoint",
    ),
    (
        "checkpoint-of-another-network",
        lambda t, g: _other_sizes(copy_run(g, t)),
        lambda f: resume_training(f),
        CheckpointError,
        "does not hold this run's state|shape",
    ),
    (
        "grid-invalid-toml",
        lambda t, g: idx_file(t, b"[grid\nreg = l2", "g.toml"),
        lambda p: ["sweep", "--grid", str(p), "--out", str(p.parent / "s")],
        2,
        "not valid TOML",
    ),
    (
        "grid-unknown-key",
        lambda t, g: idx_file(t, b"[grid]\nlambda = [1]\n", "g.toml"),
        lambda p: ["sweep", "--grid", str(p), "--out", str(p.parent / "s")],
        2,
        "unknown keys",
    ),
    (
        "grid-not-utf8",
        lambda t, g: idx_file(t, b"\xff\xfe\x00", "g.toml"),
        lambda p: ["sweep", "--grid", str(p), "--out", str(p.parent / "s")],
        2,
        "cannot read the grid file",
    ),
    # -- command-line options ----------------------------------------------------------------
    *[
        (
            f"train{option}",
            lambda t, g: t,
            (lambda o: lambda t: ["train", *o, "--out", str(t / "r")])(args),
            2,
            message,
        )
        for option, args, message in [
            ("--epochs-0", ["--epochs", "0"], "--epochs"),
            ("--batch-size-0", ["--batch-size", "0"], "--batch-size"),
            ("--eta-negative", ["--eta", "-1"], "--eta"),
            ("--lmbda-negative", ["--lmbda", "-1"], "--lmbda"),
            ("--sizes-zero", ["--sizes", "64,0,10"], "at least one unit"),
            ("--data-unknown", ["--data", "nowhere-at-all"], "unknown data set"),
            ("--dropout-1", ["--dropout", "1"], "--dropout"),
            ("--max-norm-0", ["--max-norm", "0"], "--max-norm"),
            ("--reg-layers-5", ["--reg-layers", "5"], "--reg-layers"),
            ("--expand-on-digits-9", ["--expand", "9"], "--expand"),
        ]
    ],
    (
        "train-into-an-existing-run",
        lambda t, g: copy_run(g, t),
        lambda f: ["train", "--epochs", "1", "--out", str(f)],
        2,
        "already holds a run",
    ),
    (
        "resume-a-foreign-folder",
        lambda t, g: t,
        lambda t: ["train", "--resume", str(t)],
        2,
        "not an nnreg run folder",
    ),
    (
        "plot-a-missing-folder",
        lambda t, g: t,
        lambda t: ["plot", str(t / "missing")],
        2,
        "is not a folder",
    ),
    ("experiment-unknown", lambda t, g: t, lambda t: ["experiment", "nope"], 2, "nope"),
    (
        "sweep-negative-lambda",
        lambda t, g: t,
        lambda t: ["sweep", "--lmbda", "0,-1", "--out", str(t / "s")],
        2,
        "λ must be >= 0",
    ),
    # -- the doctor's loader ------------------------------------------------------------------
    (
        "doctor-import-raises",
        lambda t, g: idx_file(t, b"x = 1 / 0\n", "learner.py"),
        lambda p: ["doctor", str(p)],
        2,
        "ZeroDivisionError",
    ),
    (
        "doctor-no-class",
        lambda t, g: idx_file(t, b"def f():\n    pass\n", "learner.py"),
        lambda p: ["doctor", str(p)],
        2,
        "found no class",
    ),
    (
        "doctor-short-signature",
        lambda t, g: idx_file(
            t,
            (GALLERY / "loop_l2_correct.py")
            .read_bytes()
            .replace(b"(self, mini_batch, eta, lmbda, n)", b"(self, mini_batch, eta)"),
            "learner.py",
        ),
        lambda p: ["doctor", str(p)],
        2,
        "needs \\(mini_batch, eta, lmbda, n\\)",
    ),
    # -- faults while training ---------------------------------------------------------------
    (
        "concurrent-run-in-the-same-folder",
        lambda t, g: _held(copy_run(g, t)),
        lambda f: ["train", "--resume", str(f[0])],
        2,
        "another nnreg process is training",
    ),
]


def _pickled_npz(tmp_path):
    path = tmp_path / "parameters.npz"
    np.savez(path, weights_0=np.array([object()], dtype=object), biases_0=np.zeros(1))
    return path


def _damaged_checkpoints(folder):
    for name in ("checkpoint.npz", "checkpoint.previous.npz"):
        path = folder / name
        path.write_bytes(path.read_bytes()[:100])
    _extend(folder, 4)
    return folder


def _other_sizes(folder):
    config = json.loads((folder / "config.json").read_text())
    config["settings"]["sizes"] = [64, 12, 10]
    config["settings"]["epochs"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _extend(folder, epochs):
    config = json.loads((folder / "config.json").read_text())
    config["settings"]["epochs"] = epochs
    (folder / "config.json").write_text(json.dumps(config))


def _held(folder):
    _extend(folder, 4)
    return folder, lock_run_folder(folder, create=False)


@pytest.mark.parametrize(
    "setup, action, expected, message", [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_bad_input_or_fault(setup, action, expected, message, tmp_path, good_run):
    context = setup(tmp_path, good_run)
    before = fingerprint(tmp_path)
    if isinstance(expected, int):
        result = CliRunner().invoke(main, action(context))
        assert result.exit_code == expected, result.output
        assert "Traceback" not in result.output
        text = result.output
    else:
        with pytest.raises(expected) as raised:
            action(context)
        assert type(raised.value) is expected
        text = str(raised.value)
    assert re.search(message, text), text
    after = fingerprint(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "a good file changed"


def test_the_table_covers_at_least_thirty_faults():
    assert len(ROWS) + len(SIGNALS) + 3 >= 30  # + the signal, disk-full and download tests


import re  # noqa: E402 - used by the table test above

SIGNALS = [("SIGINT", signal.SIGINT, 130), ("SIGTERM", signal.SIGTERM, 143)]
OPTIONS = [
    "--reg",
    "l1-cumulative",
    "--lmbda",
    "1",
    "--momentum",
    "0.5",
    "--seed",
    "5",
    "--dropout",
    "0.2",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole") / "run"
    result = CliRunner().invoke(
        main, ["train", "--epochs", "12", "--out", str(folder), "--quiet", *OPTIONS]
    )
    assert result.exit_code == 0, result.output
    return folder


@pytest.mark.parametrize("name, number, status", SIGNALS, ids=[s[0] for s in SIGNALS])
def test_signal_stops_after_the_step_and_resume_is_bit_identical(
    name, number, status, tmp_path, uninterrupted
):
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnreg",
            "train",
            "--epochs",
            "12",
            "--out",
            str(folder),
            "--quiet",
            *OPTIONS,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    metrics = folder / "metrics.jsonl"
    while time.monotonic() < deadline and (
        not metrics.is_file() or len(metrics.read_text().splitlines()) < 2
    ):
        time.sleep(0.01)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Interrupted" in stderr and f"nnreg train --resume {folder}" in " ".join(stderr.split())
    assert not (folder / "summary.json").exists()
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    ours, theirs = (
        load_parameters(folder / "parameters.npz"),
        load_parameters(uninterrupted / "parameters.npz"),
    )
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint_and_says_so(
    code, tmp_path, good_run, monkeypatch
):
    folder = copy_run(good_run, tmp_path)
    _extend(folder, 4)
    before = fingerprint(folder)
    import nnreg.checkpoints

    def failing_replace(source, target):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(nnreg.checkpoints.os, "replace", failing_replace)
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--quiet"])
    assert result.exit_code == 2
    assert "the previous checkpoint and parameters are intact" in " ".join(result.output.split())
    assert os.strerror(code) in result.output
    after = fingerprint(folder)
    for name in ("checkpoint.npz", "checkpoint.previous.npz", "parameters.npz", "config.json"):
        assert after[Path(name)] == before[Path(name)]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_first_downloads_leave_one_good_copy(tmp_path, mnist_folder):
    from nnreg.datasets.mnist import CONTENT_SHA256

    stem = "train-images-idx3-ubyte"
    script = (
        "import sys; from pathlib import Path; from nnreg.datasets.download import download; "
        f"download('{stem}.gz', Path(sys.argv[1]), [sys.argv[2]], '{CONTENT_SHA256[stem]}')"
    )
    target, mirror = tmp_path / "mnist", mnist_folder.as_uri() + "/"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(target), mirror]) for _ in range(3)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    assert sorted(p.name for p in target.iterdir()) == [f"{stem}.gz"]
    assert (target / f"{stem}.gz").read_bytes() == (mnist_folder / f"{stem}.gz").read_bytes()


def test_a_bug_shows_its_traceback_and_asks_to_report_it(monkeypatch, capsys):
    import nnreg.cli

    def broken(*args, **kwargs):
        raise RuntimeError("an internal inconsistency")

    monkeypatch.setattr(nnreg.cli, "run_training", broken)
    monkeypatch.setattr(sys, "argv", ["nnreg", "train", "--epochs", "1", "--quiet"])
    with pytest.raises(SystemExit) as exited:
        nnreg.cli.run()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an internal inconsistency" in err
    assert "This is a bug in nnreg" in err and "please report it" in err
