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
        "found no network and no update",
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
        "update_mini_batch\\(mini_batch, eta\\) takes no λ",
    ),
    # -- faults while training ---------------------------------------------------------------
    # -- list options with an empty item (never a silently dropped layer or λ) ---------------
    *[
        (
            f"train-{option}-empty-item",
            lambda t, g: t,
            (lambda o, v: lambda t: ["train", o, v, "--out", str(t / "r")])(option, value),
            2,
            f"{option}.*empty item",
        )
        for option, value in [
            ("--sizes", "64,,10"),
            ("--lmbda", "5,,1"),
            ("--reg-layers", "1,,2"),
            ("--dropout", "0.1,,0.2"),
            ("--sizes", "64,30,"),
        ]
    ],
    # -- more options -------------------------------------------------------------------------
    *[
        (
            f"train{name}",
            lambda t, g: t,
            (lambda o: lambda t: ["train", *o, "--out", str(t / "r")])(args),
            2,
            message,
        )
        for name, args, message in [
            ("--seed-negative", ["--seed", "-1"], "--seed: seed must be >= 0"),
            ("--expand-negative", ["--expand", "-1"], "--expand: expand must be >= 0"),
            (
                "--sizes-too-big-for-memory",
                ["--sizes", "64,100000000000,10"],
                "--sizes: .* more than this machine's",
            ),
            (
                "--hidden-too-big-for-memory",
                ["--hidden", "100000000000"],
                "--hidden: hidden 100000000000 .* more than this machine's",
            ),
            ("--hidden-beside-sizes", ["--sizes", "64,20,10", "--hidden", "5"], "drop --hidden"),
            (
                "--reg-layers-drops-a-lambda",
                ["--reg-layers", "1", "--lmbda", "1,2"],
                "--reg-layers: .*λ=2 of layer 2 would be ignored",
            ),
            ("--data-zero-images", ["--data", "{zero}"], "holds no examples"),
            ("--data-stray-label", ["--data", "{stray}"], "labels 10–199 never occur"),
        ]
        if "{" not in args[-1]
    ],
    ("train--out-empty", lambda t, g: t, lambda t: ["train", "--out", ""], 2, "--out.*empty"),
    ("train--resume-empty", lambda t, g: t, lambda t: ["train", "--resume", ""], 2, "empty"),
    (
        "idx-folder-with-no-images",
        lambda t, g: _idx_folder(t, images=0),
        lambda f: ["train", "--data", str(f), "--out", str(f.parent / "r")],
        2,
        "train-images-idx3-ubyte holds no examples",
    ),
    (
        "idx-label-200-among-0-to-9",
        lambda t, g: _idx_folder(t, stray_label=200),
        lambda f: ["train", "--data", str(f), "--out", str(f.parent / "r")],
        2,
        "train-labels-idx1-ubyte: the largest label is 200 but labels 10–199 never occur",
    ),
    (
        "idx-test-label-unseen-in-training",
        lambda t, g: _idx_folder(t, stray_test_label=12),
        lambda f: ["train", "--data", str(f), "--out", str(f.parent / "r")],
        2,
        "t10k-labels-idx1-ubyte: label 12 never occurs in the training labels",
    ),
    (
        "network2-fractional-sizes",
        lambda t, g: t,
        lambda t: network2.Network([4.9, 3.2, 2.7]),
        ValueError,
        "whole numbers",
    ),
    (
        "network2-load-fractional-sizes",
        lambda t, g: idx_file(
            t,
            json.dumps(
                {
                    "sizes": [2.5, 1],
                    "weights": [[[0.0, 0.0]]],
                    "biases": [[[0.0]]],
                    "cost": "CrossEntropyCost",
                }
            ).encode(),
            "net.json",
        ),
        lambda p: network2.load(str(p)),
        ValueError,
        "net.json is not a saved network2 file: sizes must list",
    ),
    (
        "network2-too-big-for-memory",
        lambda t, g: t,
        lambda t: network2.Network([784, 10**11, 10]),
        ValueError,
        "more than this machine's",
    ),
    # -- divergence with the per-epoch lines on (the default) ---------------------------------
    (
        "diverges-inside-an-epoch-not-quiet",
        lambda t, g: t,
        lambda t: [
            "train",
            *("--epochs", "3", "--activation", "tanh", "--eta", "1e30"),
            *("--out", str(t / "r")),
        ],
        3,
        "epoch 1/3 diverged Training diverged",
    ),
    # -- a run killed before its first checkpoint ---------------------------------------------
    (
        "resume-a-run-killed-in-its-first-epoch",
        lambda t, g: _killed_in_first_epoch(copy_run(g, t)),
        lambda f: ["train", "--resume", str(f), "--quiet"],
        0,
        "no checkpoint had been written yet",
        lambda f: _assert_like_unbroken(f, 2),
    ),
    (
        "new-run-into-a-run-killed-in-its-first-epoch",
        lambda t, g: _killed_in_first_epoch(copy_run(g, t)),
        lambda f: ["train", "--epochs", "1", "--out", str(f)],
        2,
        "already holds a run: continue it with nnreg train --resume",
    ),
    # -- damaged checkpoint contents: the newest is unusable, the previous one is used ---------
    *[
        (
            f"newest-checkpoint-{name}",
            (lambda d: lambda t, g: _damage_newest(copy_run(g, t), d))(damage),
            lambda f: ["train", "--resume", str(f), "--quiet"],
            0,
            "checkpoint.npz is damaged.*resumed from checkpoint.previous.npz",
            lambda f: _assert_like_unbroken(f, 3),
        )
        for name, damage in [
            ("meta-without-rng", lambda meta, arrays: meta.pop("rng")),
            ("records-7", lambda meta, arrays: meta.update(records=7)),
            ("records-of-other-epochs", lambda meta, arrays: meta["records"].reverse()),
            ("record-without-weights", lambda meta, arrays: meta["records"][0].pop("weights")),
            (
                "learning-rate-a-string",
                lambda meta, arrays: meta["extra"].update(learning_rate="x"),
            ),
            ("learning-rate-nan", lambda meta, arrays: meta["extra"].update(learning_rate=None)),
            ("extra-a-list", lambda meta, arrays: meta.update(extra=[1])),
            ("epoch-1000000", lambda meta, arrays: meta.update(epoch=1000000)),
            ("epoch-minus-5", lambda meta, arrays: meta.update(epoch=-5)),
            ("epoch-true", lambda meta, arrays: meta.update(epoch=True)),
            (
                "rng-of-another-generator",
                lambda meta, arrays: meta["rng"].update(bit_generator="MT"),
            ),
            ("position-a-string", lambda meta, arrays: meta.update(position="0")),
            ("nan-weights", lambda meta, arrays: arrays["weights_0"].__setitem__((0, 0), np.nan)),
            ("inf-state", lambda meta, arrays: _first_state(arrays).fill(np.inf)),
            (
                "int8-weights",
                lambda meta, arrays: arrays.update(weights_1=arrays["weights_1"].astype(np.int8)),
            ),
            (
                "float32-weights",
                lambda meta, arrays: arrays.update(
                    weights_0=arrays["weights_0"].astype(np.float32)
                ),
            ),
            ("order-not-a-permutation", lambda meta, arrays: _bad_order(meta, arrays)),
        ]
    ],
    (
        "newest-checkpoint-meta-a-list",
        lambda t, g: _damage_newest(copy_run(g, t), "list"),
        lambda f: ["train", "--resume", str(f), "--quiet"],
        0,
        "its metadata is a list.*resumed from checkpoint.previous.npz",
        lambda f: _assert_like_unbroken(f, 3),
    ),
    (
        "both-checkpoints-with-a-list-for-metadata",
        lambda t, g: _damage_newest(
            _damage_newest(copy_run(g, t), "list", "checkpoint.previous.npz"), "list"
        ),
        lambda f: resume_training(f),
        CheckpointError,
        "no usable checkpoint in .*run: .*checkpoint.npz is damaged: its metadata is a list",
    ),
    # -- damaged files resume does not need ----------------------------------------------------
    (
        "resume-with-damaged-parameters",
        lambda t, g: _extended(_torn(copy_run(g, t), "parameters.npz")),
        lambda f: ["train", "--resume", str(f), "--quiet"],
        0,
        "run folder",
        lambda f: _assert_like_unbroken(f, 3),
    ),
    (
        "resume-with-damaged-initial-parameters",
        lambda t, g: _extended(_torn(copy_run(g, t), "initial_parameters.npz")),
        lambda f: ["train", "--resume", str(f), "--quiet"],
        0,
        "run folder",
        lambda f: _assert_like_unbroken(f, 3, initial=True),
    ),
    (
        "resume-with-a-torn-last-metrics-line",
        lambda t, g: _extended(_torn_metrics(copy_run(g, t))),
        lambda f: ["train", "--resume", str(f), "--quiet"],
        0,
        "run folder",
        lambda f: _assert_like_unbroken(f, 3),
    ),
    (
        "plot-with-damaged-parameters",
        lambda t, g: _torn(copy_run(g, t), "parameters.npz"),
        lambda f: ["plot", str(f), "--out", str(f.parent / "figures")],
        0,
        "Warning: .*parameters.npz is not a readable nnreg parameter file.*drawn without it",
    ),
    (
        "plot-with-a-torn-last-metrics-line",
        lambda t, g: _torn_metrics(copy_run(g, t)),
        lambda f: ["plot", str(f), "--out", str(f.parent / "figures")],
        0,
        "Warning: .*metrics.jsonl: the last line is incomplete",
    ),
    (
        "load-parameters-of-another-kind",
        lambda t, g: _npz(t, weights_0=np.zeros((2, 2), np.int8), biases_0=np.zeros(2)),
        lambda p: load_parameters(p),
        ValueError,
        "no float arrays",
    ),
    (
        "concurrent-run-in-the-same-folder",
        lambda t, g: _held(copy_run(g, t)),
        lambda f: ["train", "--resume", str(f[0])],
        2,
        "another nnreg process is training",
    ),
]


# -- helpers of the rows above ---------------------------------------------------------------
def _npz(tmp_path, **arrays):
    path = tmp_path / "parameters.npz"
    np.savez(path, **arrays)
    return path


def _idx(tmp_path, name, array: np.ndarray):
    dims = struct.pack(f">{array.ndim}i", *array.shape)
    (tmp_path / name).write_bytes(b"\x00\x00\x08" + bytes([array.ndim]) + dims + array.tobytes())


def _idx_folder(tmp_path, images=60, stray_label=None, stray_test_label=None):
    """A folder of the four IDX files: ``images`` 4×4 training images of labels 0–9."""
    folder = tmp_path / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    labels = (np.arange(images) % 10).astype(np.uint8)
    test_labels = (np.arange(20) % 10).astype(np.uint8)
    if stray_label is not None:
        labels[-1] = stray_label
    if stray_test_label is not None:
        test_labels[0] = stray_test_label
    _idx(folder, "train-images-idx3-ubyte", rng.integers(0, 256, (images, 4, 4), np.uint8))
    _idx(folder, "train-labels-idx1-ubyte", labels)
    _idx(folder, "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 4, 4), np.uint8))
    _idx(folder, "t10k-labels-idx1-ubyte", test_labels)
    return folder


def _killed_in_first_epoch(folder):
    """What SIGKILL during the first epoch leaves: config and initial parameters only."""
    for name in ("checkpoint.npz", "checkpoint.previous.npz", "parameters.npz", "summary.json"):
        (folder / name).unlink()
    (folder / "metrics.jsonl").write_text("")
    return folder


def _extended(folder, epochs=3):
    _extend(folder, epochs)
    (folder / "summary.json").unlink()
    return folder


def _torn(folder, name):
    path = folder / name
    path.write_bytes(path.read_bytes()[:200])
    return folder


def _torn_metrics(folder):
    with open(folder / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "seconds": 0.1, "train')
    return folder


def _first_state(arrays):
    return arrays[next(key for key in arrays if key.startswith("regularizer."))]


def _bad_order(meta, arrays):
    """An interrupted epoch whose saved order repeats an example."""
    order = np.arange(1200)
    order[1] = 0
    arrays["epoch_order"] = order
    meta["position"] = 10


def _damage_newest(folder, damage, name="checkpoint.npz"):
    """Rewrite one checkpoint with ``damage(meta, arrays)`` applied (or metadata that is a
    list), as a hostile edit would; the run is extended to 3 epochs so resume has work."""
    path = folder / name
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    if damage == "list":
        meta = [meta]
    else:
        damage(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    if (folder / "summary.json").exists():
        _extended(folder)
    return folder


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """The good run's settings trained without a break, for 2 and 3 epochs."""
    runs = {}
    for epochs in (2, 3):
        folder = tmp_path_factory.mktemp("unbroken") / "run"
        run_training(TrainSettings(epochs=epochs, reg="l1-cumulative", lmbda=1.0), out=folder)
        runs[epochs] = folder
    return runs


def _assert_like_unbroken(folder, epochs, initial=False):
    """Checked by the table test with the unbroken runs: parameters, metrics, summary equal."""
    return ("like-unbroken", folder, epochs, initial)


def _check_like_unbroken(folder, reference, initial):
    names = ["parameters.npz", *(["initial_parameters.npz"] if initial else [])]
    for name in names:
        ours, theirs = load_parameters(folder / name), load_parameters(reference / name)
        for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
            np.testing.assert_array_equal(a, b)
    ours, theirs = (
        [
            _without_seconds(json.loads(line))
            for line in (f / "metrics.jsonl").read_text().splitlines()
        ]
        for f in (folder, reference)
    )
    assert ours == theirs
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test"] == json.loads((reference / "summary.json").read_text())["test"]


def _without_seconds(record):
    return {k: v for k, v in record.items() if k not in ("seconds", "time")}


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
    "setup, action, expected, message, check",
    [(*row[1:5], row[5] if len(row) > 5 else None) for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_bad_input_or_fault(setup, action, expected, message, check, tmp_path, good_run, unbroken):
    context = setup(tmp_path, good_run)
    before = fingerprint(tmp_path)
    if isinstance(expected, int):
        result = CliRunner().invoke(main, action(context))
        assert result.exit_code == expected, result.output
        assert "Traceback" not in result.output
        text = " ".join(result.output.split())
    else:
        with pytest.raises(expected) as raised:
            action(context)
        assert type(raised.value) is expected
        text = str(raised.value)
    assert re.search(message, text), text
    if check is None:  # a refusal: every file that was there is unchanged
        after = fingerprint(tmp_path)
        assert {k: v for k, v in after.items() if k in before} == before, "a good file changed"
    else:  # a recovery: the run ends exactly as an unbroken one
        _, folder, epochs, initial = check(context)
        _check_like_unbroken(folder, unbroken[epochs], initial)


def test_the_table_covers_at_least_eighty_faults():
    assert len(ROWS) >= 80  # besides the signal, SIGKILL, disk-full and download tests


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
    # frozen while the signal is sent, so it comes with 10 of the 12 epochs surely left
    process.send_signal(signal.SIGSTOP)
    assert len(metrics.read_text().splitlines()) < 12, "the run ended before the signal"
    process.send_signal(number)
    process.send_signal(signal.SIGCONT)
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


def test_a_failed_first_checkpoint_says_that_none_was_kept(tmp_path, monkeypatch):
    import nnreg.checkpoints

    replace = os.replace

    def full_disk_for_the_epoch_files(source, target):
        if Path(target).name in ("parameters.npz", "checkpoint.npz"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return replace(source, target)

    monkeypatch.setattr(nnreg.checkpoints.os, "replace", full_disk_for_the_epoch_files)
    folder = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--epochs", "2", "--out", str(folder), "--quiet"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "no checkpoint had been written yet, so nothing trained was kept" in message
    assert "intact" not in message and os.strerror(errno.ENOSPC) in message
    monkeypatch.undo()
    result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output


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
    import nnreg.session

    def broken(*args, **kwargs):
        raise RuntimeError("an internal inconsistency")

    monkeypatch.setattr(nnreg.session, "run_training", broken)
    monkeypatch.setattr(sys, "argv", ["nnreg", "train", "--epochs", "1", "--quiet"])
    with pytest.raises(SystemExit) as exited:
        nnreg.cli.run()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an internal inconsistency" in err
    assert "This is a bug in nnreg" in err and "please report it" in err


# -- SIGKILL at chosen and random moments, then resume: always bit for bit ---------------------
KILLABLE = Path(__file__).parent / "killable_train.py"


def _start(folder: Path, pause: str | None) -> subprocess.Popen:
    """``nnreg train`` into ``folder`` as a user would go on: a new run when the folder holds
    none yet, else --resume."""
    started = (folder / "config.json").is_file()
    args = (
        ["train", "--resume", str(folder), "--quiet"]
        if started
        else ["train", "--epochs", "12", "--out", str(folder), "--quiet", *OPTIONS]
    )
    environment = {**os.environ, "NNREG_TEST_PAUSE": pause or ""}
    return subprocess.Popen(
        [sys.executable, str(KILLABLE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _kill_at(process: subprocess.Popen, moment) -> None:
    """SIGKILL when the process reports PAUSED (a named moment) or after ``moment`` seconds."""
    if isinstance(moment, str):
        line = process.stdout.readline()
        if line.strip() != "PAUSED":  # finished before the moment came: nothing to kill
            process.wait(timeout=60)
            return
    else:
        try:
            process.wait(timeout=moment)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait(timeout=60)


def _kill_and_resume(folder: Path, moments: list, reference: Path) -> None:
    for moment in moments:
        process = _start(folder, moment if isinstance(moment, str) else None)
        _kill_at(process, moment)
        assert process.returncode in (0, -signal.SIGKILL), process.stderr.read()
    process = _start(folder, None)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    # what a killed write left behind was cleared by the next start
    assert not [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]
    ours, theirs = (
        load_parameters(folder / "parameters.npz"),
        load_parameters(reference / "parameters.npz"),
    )
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_array_equal(a, b)
    assert [_without_seconds(json.loads(line)) for line in _lines(folder)] == [
        _without_seconds(json.loads(line)) for line in _lines(reference)
    ]


def _lines(folder: Path) -> list[str]:
    return (folder / "metrics.jsonl").read_text().splitlines()


@pytest.mark.slow
def test_sigkill_at_the_worst_moments_then_resume_is_bit_identical(tmp_path, uninterrupted):
    moments = [
        "step:20",  # inside the first epoch: no checkpoint yet
        "checkpoint-temp:2",  # while a checkpoint's temporary file is written
        "checkpoint-rename:2",  # between the renames: only checkpoint.previous.npz in place
        "step:150",  # part-way through a later epoch
    ]
    _kill_and_resume(tmp_path / "run", moments, uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_sigkill_at_random_moments_then_resume_is_bit_identical(seed, tmp_path, uninterrupted):
    import random

    chance = random.Random(seed)
    named = ["step:5", "step:90", "checkpoint-temp:1", "checkpoint-rename:1", "checkpoint-temp:3"]
    moments = [
        chance.choice(named) if chance.random() < 0.4 else chance.uniform(0.2, 3.0)
        for _ in range(8)
    ]
    _kill_and_resume(tmp_path / "run", moments, uninterrupted)


@pytest.mark.parametrize(
    "gap",
    [0.01, 0.025, 0.04],
)
@pytest.mark.slow
def test_a_second_ctrl_c_soon_after_the_first_exits_130_and_the_run_resumes(
    gap, tmp_path, uninterrupted
):
    folder = tmp_path / "run"
    process = _start(folder, None)
    metrics = folder / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not metrics.is_file() or not _lines(folder)):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    time.sleep(gap)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    assert "nnreg train --resume" in " ".join(stderr.split())
    _kill_and_resume(folder, [], uninterrupted)
