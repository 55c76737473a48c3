"""What happens when things go wrong in a sweep: one row per bad input or fault (grid files,
options, cells trained with other settings, damaged cell files, failing cells), each checked
for the exit status, a message that says what to do, no traceback, that no good file that
existed before changed, and — for a usage error — that nothing at all was written. Then
signals: Ctrl-C, SIGTERM and SIGKILL of a sweep's process."""

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.session import TrainSettings
from nnreg.sweep import make_grid, run_sweep

REWRITTEN = {
    "results.csv",
    "accuracy-vs-lambda.png",
    "sparsity-vs-lambda.png",
    "norms-vs-lambda.png",
}
"""What a sweep writes afresh from all its cells each time it completes."""
CELL = "l2_lmbda=0_eta=0.5_hidden=30"
OTHER_CELL = "l2_lmbda=1_eta=0.5_hidden=30"


def fingerprint(folder: Path) -> dict:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock" and p.name not in REWRITTEN
    }


@pytest.fixture(scope="module")
def good_sweep(tmp_path_factory):
    """A finished two-cell sweep of two epochs, copied afresh into each row that needs one."""
    folder = tmp_path_factory.mktemp("good") / "sweep"
    run_sweep(make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=2)), folder, jobs=1)
    return folder


def copy_sweep(good_sweep, tmp_path) -> Path:
    target = tmp_path / "sweep"
    shutil.copytree(good_sweep, target)
    return target


def same_sweep(folder: Path, *extra: str) -> list[str]:
    """The command that made ``good_sweep``, with ``extra`` options."""
    return [
        "sweep",
        *("--reg", "l2", "--lmbda", "0,1", "--epochs", "2", "-j", "1", "--quiet"),
        *("--out", str(folder), *extra),
    ]


def damaged(name: str, content: str, cell: str = CELL):
    """A setup: the good sweep with one file of one cell replaced by ``content``."""

    def setup(tmp_path, good_sweep):
        folder = copy_sweep(good_sweep, tmp_path)
        (folder / "cells" / cell / name).write_text(content)
        return folder

    return setup


def grid_file(text: str):
    """A setup: a grid file holding ``text``; the action sweeps it into a new folder."""

    def setup(tmp_path, good_sweep):
        path = tmp_path / "g.toml"
        path.write_text(text)
        return path

    return setup


def sweep_grid(path: Path) -> list[str]:
    return ["sweep", "--grid", str(path), "-j", "1", "--quiet", "--out", str(path.parent / "s")]


def options(*arguments: str):
    """A row's setup and action: a new sweep with these options."""
    return (
        lambda t, g: t,
        lambda t: [
            "sweep",
            "--epochs",
            "1",
            "-j",
            "1",
            "--quiet",
            "--out",
            str(t / "s"),
            *arguments,
        ],
    )


def _summary_of_other_epochs(tmp_path, good_sweep):
    folder = copy_sweep(good_sweep, tmp_path)
    summary = folder / "cells" / CELL / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "epochs": 7}))
    return folder


def _last_metrics_line(change):
    def setup(tmp_path, good_sweep):
        folder = copy_sweep(good_sweep, tmp_path)
        metrics = folder / "cells" / CELL / "metrics.jsonl"
        lines = metrics.read_text().splitlines()
        last = json.loads(lines[-1])
        change(last)
        metrics.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
        return folder

    return setup


def _cell_is_a_file(tmp_path, good_sweep):
    folder = copy_sweep(good_sweep, tmp_path)
    shutil.rmtree(folder / "cells" / CELL)
    (folder / "cells" / CELL).write_text("not a folder")
    return folder


def _held(tmp_path, good_sweep):
    folder = copy_sweep(good_sweep, tmp_path)
    handle = os.open(folder, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return folder, handle  # the lock lasts as long as the handle: until the test ends


def _bad_data_folder(tmp_path, good_sweep):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-images-idx3-ubyte").write_bytes(b"not idx")
    return tmp_path


def _hidden_settings(tmp_path, good_sweep):
    return copy_sweep(good_sweep, tmp_path)


# (id, setup(tmp_path, good_sweep) -> context, action(context) -> CLI args, exit status,
#  message regex)
ROWS = [
    # -- grid files: every value's type and place is checked, naming the file and the key --
    ("grid-is-a-number", grid_file("grid = 5\n"), sweep_grid, 2, r"g\.toml: grid must be a table"),
    (
        "train-is-a-number",
        grid_file("train = 5\n"),
        sweep_grid,
        2,
        r"g\.toml: train must be a table",
    ),
    (
        "grid-key-outside-the-tables",
        grid_file("epochs = 5\n"),
        sweep_grid,
        2,
        r"g\.toml has keys outside \[grid\] and \[train\]: epochs",
    ),
    (
        "grid-sizes-in-train",
        grid_file("[train]\nsizes = [64, 5, 10]\n"),
        sweep_grid,
        2,
        r"g\.toml: sizes in \[train\] is not used.*hidden = \[",
    ),
    (
        "grid-axis-in-train",
        grid_file("[train]\nlmbda = [1, 2, 3]\n"),
        sweep_grid,
        2,
        r"g\.toml: lmbda in \[train\] is an axis of the grid: give it under \[grid\]",
    ),
    (
        "grid-lambda-a-string",
        grid_file('[grid]\nlmbda = ["a"]\n'),
        sweep_grid,
        2,
        r"g\.toml: \[grid\]: lmbda values must be numbers, got 'a'",
    ),
    (
        "grid-lambda-a-boolean",
        grid_file("[grid]\nlmbda = [true]\n"),
        sweep_grid,
        2,
        r"g\.toml: \[grid\]: lmbda values must be numbers, got True",
    ),
    (
        "grid-lambda-repeated",
        grid_file("[grid]\nlmbda = [1, 1.0]\n"),
        sweep_grid,
        2,
        r"g\.toml: \[grid\]: lmbda lists 1\.0 more than once",
    ),
    (
        "grid-hidden-a-fraction",
        grid_file("[grid]\nhidden = [30.5]\n"),
        sweep_grid,
        2,
        r"g\.toml: \[grid\]: hidden values must be whole numbers, got 30\.5",
    ),
    (
        "grid-lambda-nan",
        grid_file("[grid]\nlmbda = [nan]\n"),
        sweep_grid,
        2,
        r"g\.toml: \[grid\]: λ must be >= 0, got nan",
    ),
    (
        "grid-train-epochs-a-string",
        grid_file('[train]\nepochs = "5"\n'),
        sweep_grid,
        2,
        r"g\.toml: \[train\] epochs must be a whole number, got '5'",
    ),
    (
        "grid-train-epochs-0",
        grid_file("[train]\nepochs = 0\n"),
        sweep_grid,
        2,
        r"g\.toml: \[train\] epochs must be >= 1, got 0",
    ),
    (
        "grid-train-mirrors-not-a-list",
        grid_file('[train]\nmirrors = "https://example.org/"\n'),
        sweep_grid,
        2,
        r"g\.toml: \[train\] mirrors must be a list of strings",
    ),
    (
        "grid-train-reg-layers-beyond-the-network",
        grid_file("[train]\nreg_layers = [5]\n"),
        sweep_grid,
        2,
        r"g\.toml: \[train\] layers names weight layer 5, but the network has 2",
    ),
    (
        "grid-l2-lmbda-without-elastic-net",
        grid_file("[train]\nl2_lmbda = 0.5\n"),
        sweep_grid,
        2,
        r"l2_lmbda only applies to elastic-net cells, and the grid has none",
    ),
    (
        "grid-cells-share-a-folder",
        grid_file("[grid]\nlmbda = [0.1234567, 0.1234568]\n"),
        sweep_grid,
        2,
        r"would share the folder l2_lmbda=0\.123457",
    ),
    # -- options: checked before anything is written ----------------------------------------
    ("lambda-repeated", *options("--lmbda", "1,1"), 2, r"lmbda lists 1\.0 more than once"),
    (
        "blas-threads-0",
        *options("--blas-threads", "0"),
        2,
        r"--blas-threads.*0 is not in the range",
    ),
    ("jobs-0", *options("-j", "0"), 2, r"'-j' / '--jobs'.*0 is not in the range"),
    ("out-empty", *options("--out", ""), 2, r"--out: give the sweep folder a name"),
    ("epochs-0", *options("--epochs", "0"), 2, r"--epochs: epochs must be >= 1"),
    ("batch-size-0", *options("--batch-size", "0"), 2, r"batch_size must be >= 1"),
    ("seed-negative", *options("--seed", "-1"), 2, r"seed must be >= 0, got -1"),
    ("early-stopping-0", *options("--early-stopping", "0"), 2, r"early_stopping must be >= 1"),
    ("data-unknown", *options("--data", "nowhere-at-all"), 2, r"unknown data set 'nowhere-at-all'"),
    ("data-empty", *options("--data", ""), 2, r"unknown data set ''"),
    (
        "hidden-beyond-memory",
        *options("--hidden", "100000000000"),
        2,
        r"hidden units 100000000000 are too many: .* more than this machine's",
    ),
    ("scheduler-without-dask", *options("--scheduler", "tcp://127.0.0.1:9"), 2, r"--backend dask"),
    (
        "another-sweep-is-running-there",
        _held,
        lambda held: same_sweep(held[0]),
        2,
        r"another nnreg sweep is running in .*sweep right now",
    ),
    # -- a rerun asking for other settings: never old results under new settings ------------
    (
        "rerun-with-another-seed",
        lambda t, g: copy_sweep(g, t),
        lambda f: same_sweep(f, "--seed", "1"),
        2,
        rf"holds cells trained with other settings: {re.escape(CELL)} \(seed 0 → 1\)",
    ),
    (
        "rerun-with-fewer-epochs",
        lambda t, g: copy_sweep(g, t),
        lambda f: same_sweep(f, "--epochs", "1"),
        2,
        r"\(epochs 2 → 1\).*delete those cell folders to train them again",
    ),
    (
        "rerun-with-another-batch-size",
        lambda t, g: copy_sweep(g, t),
        lambda f: same_sweep(f, "--batch-size", "20"),
        2,
        r"\(batch_size 10 → 20\)",
    ),
    (
        "rerun-with-an-invalid-option",
        lambda t, g: copy_sweep(g, t),
        lambda f: same_sweep(f, "--eta", "0"),
        2,
        r"η must be > 0",
    ),
    # -- damaged cell files: that cell is failed, the others are reported, exit 1 -----------
    (
        "cell-summary-empty",
        damaged("summary.json", "{}"),
        same_sweep,
        1,
        rf"failed {re.escape(CELL)}: .*summary\.json does not hold a run's result",
    ),
    (
        "cell-summary-a-list",
        damaged("summary.json", "[1, 2]"),
        same_sweep,
        1,
        r"summary\.json does not hold a run's result; delete .* to train this cell again",
    ),
    (
        "cell-summary-torn",
        damaged("summary.json", '{"epo'),
        same_sweep,
        1,
        r"summary\.json cannot be read",
    ),
    (
        "cell-summary-of-other-epochs",
        _summary_of_other_epochs,
        same_sweep,
        1,
        r"summary\.json holds 7 epochs, but .*config\.json asks for 2",
    ),
    (
        "cell-config-garbage",
        damaged("config.json", "garbage"),
        same_sweep,
        1,
        r"config\.json cannot be read",
    ),
    (
        "cell-config-settings-a-list",
        damaged("config.json", '{"settings": [1]}'),
        same_sweep,
        1,
        r"config\.json does not hold a cell's settings",
    ),
    (
        "cell-metrics-garbage",
        damaged("metrics.jsonl", "nonsense\n"),
        same_sweep,
        1,
        r"metrics\.jsonl does not hold a finished cell's metrics",
    ),
    (
        "cell-metrics-empty",
        damaged("metrics.jsonl", ""),
        same_sweep,
        1,
        r"metrics\.jsonl does not hold",
    ),
    (
        "cell-metrics-accuracy-a-string",
        _last_metrics_line(lambda r: r["validation"].update(accuracy="high")),
        same_sweep,
        1,
        r"metrics\.jsonl does not hold a finished cell's metrics .*'high' is not a number",
    ),
    (
        "cell-metrics-without-layers",
        _last_metrics_line(lambda r: r.pop("weights")),
        same_sweep,
        1,
        r"metrics\.jsonl does not hold a finished cell's metrics \(KeyError",
    ),
    ("cell-folder-is-a-file", _cell_is_a_file, same_sweep, 1, r"is not a folder: move it away"),
    # -- a cell whose training raises: failed with the message, the sweep goes on ----------
    (
        "cell-data-folder-damaged",
        _bad_data_folder,
        lambda t: [
            "sweep",
            *("--data", str(t / "data"), "--lmbda", "0,1", "--epochs", "1", "-j", "1"),
            *("--quiet", "--out", str(t / "s")),
        ],
        1,
        r"failed l2_lmbda=1_eta=0\.5_hidden=30: .*data lacks train-labels-idx1-ubyte",
    ),
]


@pytest.mark.parametrize(
    "setup, action, expected, message", [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_bad_sweep_input_or_fault(
    setup, action, expected, message, tmp_path, good_sweep, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # whatever is written by mistake lands where it is seen
    context = setup(tmp_path, good_sweep)
    before = fingerprint(tmp_path)
    paths = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, action(context))
    assert result.exit_code == expected, result.output
    assert "Traceback" not in result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    after = fingerprint(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "a good file changed"
    if expected == 1:  # a failed cell: said once more at the end, after the table
        assert re.match(r"\d+ cells? failed", result.output.rstrip().splitlines()[-1])
    if expected == 2:
        assert set(tmp_path.rglob("*")) == paths, "a usage error wrote something"


def test_a_damaged_cell_is_a_failed_row_and_the_other_cells_are_still_reported(
    tmp_path, good_sweep
):
    folder = copy_sweep(good_sweep, tmp_path)
    (folder / "cells" / CELL / "summary.json").write_text("{}")
    result = CliRunner().invoke(main, same_sweep(folder))
    assert result.exit_code == 1, result.output  # a failed cell: exit 1, the rest reported
    rows = (folder / "results.csv").read_text().splitlines()
    assert rows[1].startswith("l2,0.0,0.5,30,failed,") and "summary.json" in rows[1]
    assert rows[2].startswith("l2,1.0,0.5,30,finished,")
    assert re.search(r"best cell: l2 λ=1 ", result.output)


def test_the_table_covers_at_least_twenty_sweep_faults():
    assert len(ROWS) >= 20


# -- signals and processes ---------------------------------------------------------------------
EPOCHS = "40"


def sweep_process(out: Path, *extra: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "nnreg", "sweep", "--reg", "l2", "--lmbda", "0,1"]
    command += ["--epochs", EPOCHS, "-j", "2", "--quiet", "--out", str(out), *extra]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def when_training(process: subprocess.Popen, out: Path, epochs: int = 1) -> list[int]:
    """Wait until every cell has trained ``epochs`` epochs (or finished), then freeze the
    sweep's process and its workers (SIGSTOP): the moment is fixed, and what is left to do is
    looked at, not hoped for — a cell with ``epochs`` ≤ 10 of its 40 done is still training.
    Returns the workers (the processes below the sweep's); :func:`thaw` lets them go on."""
    deadline = time.monotonic() + 60
    cells = [out / "cells" / name for name in (CELL, OTHER_CELL)]
    while not all((c / "summary.json").exists() or epochs_done(c) >= epochs for c in cells):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    workers = descendants(process.pid)
    for pid in [process.pid, *workers]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    left = [c.name for c in cells if not (c / "summary.json").exists()]
    assert left, "every cell finished before the sweep was frozen: nothing to interrupt"
    return workers


def thaw(process: subprocess.Popen, workers: list[int]) -> None:
    """Let the frozen sweep and its workers go on (signals sent meanwhile arrive now)."""
    for pid in [process.pid, *workers]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def epochs_done(cell: Path) -> int:
    try:
        return (cell / "metrics.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def alive(pids: list[int]) -> list[int]:
    """Those still running (a zombie, ended but not yet reaped, does not count)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.append(pid)
    return running


def all_end(pids: list[int], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pids)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")
@pytest.mark.parametrize(
    "number, status, group",
    [(signal.SIGINT, 130, True), pytest.param(signal.SIGTERM, 143, False, marks=pytest.mark.slow)],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_stops_the_sweep_its_workers_and_says_how_to_resume(
    number, status, group, tmp_path
):
    out = tmp_path / "sweep"
    # Ctrl-C at a terminal reaches the whole process group; SIGTERM only the sweep's process
    process = sweep_process(out, start_new_session=group)
    workers = when_training(process, out)
    if group:
        os.killpg(process.pid, number)
    else:
        process.send_signal(number)
    thaw(process, workers)
    _, stderr = process.communicate(timeout=60)
    text = " ".join(stderr.split())
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert f"Sweep interrupted by {signal.Signals(number).name}" in text
    assert f"running the same nnreg sweep command again with --out {out}" in text
    assert all_end(workers), "worker processes outlived the sweep"
    assert not (out / "results.csv").exists()  # written only once every cell is done
    # a cell whose worker started first may have finished all its epochs before the second
    # cell wrote its first checkpoint (a busy machine starts workers seconds apart): it is
    # done, and every other cell must be resumed
    finished = len(list(out.glob("cells/*/summary.json")))
    assert finished < 2, "the signal came after the sweep ended: nothing was interrupted"
    again = CliRunner().invoke(
        main,
        ["sweep", "--reg", "l2", "--lmbda", "0,1", "--epochs", EPOCHS, "-j", "1"]
        + ["--quiet", "--out", str(out)],
    )
    assert again.exit_code == 0, again.output
    expected = (
        "2 interrupted cells resumed from their checkpoints"
        if finished == 0
        else "1 interrupted cell resumed from its checkpoint"
    )
    assert expected in again.output, again.output
    assert "none was done before" not in again.output  # they were, in part
    assert f"({2 - finished} continued from checkpoints)" in again.output


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unbroken") / "sweep"
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=int(EPOCHS)))
    run_sweep(grid, folder, jobs=1)
    return folder


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")
def test_sigkill_of_the_sweep_ends_its_workers_and_the_rerun_is_bit_for_bit(tmp_path, unbroken):
    out = tmp_path / "sweep"
    process = sweep_process(out)
    # some moment while training, with work left: each cell has done 1 to 10 of its 40 epochs
    workers = when_training(process, out, random.Random(os.getpid()).randint(1, 10))
    process.kill()
    thaw(process, workers)  # the workers hold the sweep's output open until they end
    process.communicate(timeout=30)
    assert all_end(workers), "worker processes outlived the killed sweep"
    assert not (out / "results.csv").exists()
    again = sweep_process(out)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    for cell in (CELL, OTHER_CELL):
        ours = np.load(out / "cells" / cell / "parameters.npz")
        theirs = np.load(unbroken / "cells" / cell / "parameters.npz")
        for key in theirs.files:
            np.testing.assert_array_equal(ours[key], theirs[key])
        assert metrics(out / "cells" / cell) == metrics(unbroken / "cells" / cell)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_local_dask_cluster_ends_with_its_sweep_and_the_rerun_is_bit_for_bit(
    number, tmp_path, unbroken
):
    pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    out = tmp_path / "sweep"
    process = sweep_process(out, "--backend", "dask")
    workers = when_training(process, out)
    process.send_signal(number)
    thaw(process, workers)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == (143 if number == signal.SIGTERM else -signal.SIGKILL), stderr
    assert all_end(workers, seconds=10), "worker processes outlived the sweep"
    again = sweep_process(out, "--backend", "dask")
    _, stderr = again.communicate(timeout=180)
    assert again.returncode == 0, stderr
    for cell in (CELL, OTHER_CELL):
        assert metrics(out / "cells" / cell) == metrics(unbroken / "cells" / cell)


def metrics(folder: Path) -> list[dict]:
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k not in ("seconds", "time")} for record in records]
