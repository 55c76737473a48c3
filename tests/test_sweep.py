"""λ sweeps: same results on every backend, finished cells skipped, interrupted sweeps
finish only what is missing, clear errors for bad grids and unreachable schedulers."""

import csv
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from stopping import StopAfterSteps

from nnreg.cli import main
from nnreg.session import TrainSettings, run_training
from nnreg.sweep import cell_settings, make_grid, read_grid_file, run_sweep
from nnreg.training import StopFlag, TrainingInterrupted, UnstableDecayWarning

SMALL = dict(reg=["l2", "l1-proximal"], lmbda=[0.0, 0.5, 5.0])


def small_grid(epochs=2):
    return make_grid(**SMALL, base=TrainSettings(epochs=epochs))


def comparable(rows):
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in rows]


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    return run_sweep(small_grid(), tmp_path_factory.mktemp("joblib"), "joblib", jobs=2)


def test_sweep_trains_every_cell_and_picks_the_best_by_validation_accuracy(joblib_sweep):
    rows = joblib_sweep.rows
    # l1-proximal at λ = 0 is l2 at λ = 0: one run, reported for both
    assert len(rows) == 6 and len(joblib_sweep.trained) == 5
    assert joblib_sweep.shared == {
        "l1-proximal_lmbda=0_eta=0.5_hidden=30": "l2_lmbda=0_eta=0.5_hidden=30"
    }
    top = max(row["validation_accuracy"] for row in rows)
    tied = [row for row in rows if row["validation_accuracy"] == top]
    # ties go to the lower validation data cost, then to the first in the grid
    assert joblib_sweep.best == min(tied, key=lambda row: row["validation_data_cost"])
    with open(joblib_sweep.folder / "results.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["validation_accuracy"]) for r in table] == [
        r["validation_accuracy"] for r in rows
    ]
    assert "test_accuracy" not in table[0]  # reported for the chosen cell only
    # proximal L1 at the largest λ zeroes weights; L2 never does
    by_cell = {(r["reg"], r["lmbda"]): r for r in rows}
    assert by_cell[("l1-proximal", 5.0)]["layer1_fraction_zero"] > 0.1
    assert by_cell[("l2", 5.0)]["layer1_fraction_zero"] == 0.0


def test_rerunning_a_finished_sweep_trains_nothing(joblib_sweep):
    stamps = {p: p.stat().st_mtime_ns for p in joblib_sweep.folder.rglob("parameters.npz")}
    again = run_sweep(small_grid(), joblib_sweep.folder, "joblib", jobs=2)
    assert again.trained == [] and len(again.skipped) == 5 and len(again.shared) == 1
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert comparable(again.rows) == comparable(joblib_sweep.rows)


def test_dask_local_cluster_gives_the_same_results_as_joblib(joblib_sweep, tmp_path):
    pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    environment = dict(os.environ)
    result = run_sweep(small_grid(), tmp_path, "dask", jobs=2)
    assert comparable(result.rows) == comparable(joblib_sweep.rows)
    # Dask sets OMP_NUM_THREADS=1 and more for its workers; processes started later from
    # here must not inherit them (their BLAS would give other numbers)
    assert dict(os.environ) == environment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_sweep_on_a_dask_scheduler_and_worker_started_as_separate_processes(tmp_path):
    pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    dask = Path(sys.executable).with_name("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = CliRunner().invoke(
            main,
            [
                "sweep",
                "--backend",
                "dask",
                "--scheduler",
                address,
                "--reg",
                "l2,l1",
                "--lmbda",
                "0,1",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "sweep"),
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "trained 3 cells" in result.output  # l1 at λ = 0 is l2 at λ = 0
        assert len(list((tmp_path / "sweep" / "cells").glob("*/summary.json"))) == 3
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_a_sweep_killed_midway_trains_only_the_unfinished_cells_when_rerun(tmp_path):
    out = tmp_path / "sweep"
    arguments = [
        "--reg",
        "l2,l1-proximal",
        "--lmbda",
        "0,0.5,5",
        "--epochs",
        "12",
        "-j",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "nnreg", "sweep", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(list(out.glob("cells/*/summary.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGSTOP)  # frozen: what is done is looked at, then killed
    finished = {p.parent.name for p in out.glob("cells/*/summary.json")}
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 2 <= len(finished) < 5, "the sweep must be killed midway"
    result = CliRunner().invoke(main, ["sweep", *arguments])
    assert result.exit_code == 0, result.output
    # six cells, five runs: l1-proximal at λ = 0 is l2 at λ = 0
    assert re.search(
        rf"trained {5 - len(finished)} cells( \(\d continued from checkpoints\))?; "
        rf"{len(finished)} cells were already done",
        result.output,
    ), result.output
    assert len(list(out.glob("cells/*/summary.json"))) == 5


def test_a_diverging_cell_is_recorded_and_the_sweep_goes_on(tmp_path):
    grid = make_grid(["l2"], [1.0], eta=[0.5, 1e300], base=TrainSettings(epochs=2))
    with pytest.warns(UnstableDecayWarning, match=r"^cell l2_lmbda=1_eta=1e\+300_hidden=30: "):
        result = run_sweep(grid, tmp_path, "joblib", jobs=1)
    assert [row["diverged"] for row in result.rows] == [False, True]
    assert result.best["eta"] == 0.5


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_cells_warning_is_shown_as_nnreg_train_shows_it(tmp_path, jobs):
    result = subprocess.run(
        [sys.executable, "-m", "nnreg", "sweep", "--lmbda", "1", "--eta", "0.5,1e300"]
        + ["--epochs", "1", "-j", jobs, "--quiet", "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("Warning: cell l2_lmbda=1_eta=1e+300") for line in lines)
    assert "1 − ηλ/n" in result.stderr and len(lines) == 1
    assert "UnstableDecayWarning" not in result.stderr and "history = train(" not in result.stderr


def test_grid_from_a_toml_file(tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text('[grid]\nreg = ["l2", "l1"]\nlmbda = [0, 1]\n[train]\nepochs = 1\n')
    result = CliRunner().invoke(
        main,
        ["sweep", "--grid", str(grid_file), "--out", str(tmp_path / "s"), "--quiet", "-j", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "trained 3 cells" in result.output and "1 cell not trained" in result.output
    axes, train = read_grid_file(grid_file)
    assert axes == {"reg": ["l2", "l1"], "lmbda": [0, 1]} and train == {"epochs": 1}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--lmbda", ","], "give at least one number"),
        (["--lmbda", "0,-1"], "λ must be >= 0, got -1"),
        (["--reg", "l3"], "unknown regularizer 'l3'"),
        (["--eta", "0"], "η must be > 0"),
        (["--grid", "missing.toml"], "cannot read the grid file"),
        (["--grid", "{bad}"], "is not valid TOML"),
        (["--grid", "{unknown}"], "unknown keys"),
        (["--grid", "{empty}"], "the grid is empty along lmbda"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler only applies to --backend dask"),
    ],
)
def test_bad_sweep_input_is_a_clear_error_with_exit_2(arguments, message, tmp_path):
    (tmp_path / "bad.toml").write_text("[grid\nreg = l2")
    (tmp_path / "unknown.toml").write_text("[grid]\nlambda = [1]\n")
    (tmp_path / "empty.toml").write_text("[grid]\nlmbda = []\n")
    files = {"{bad}": "bad.toml", "{unknown}": "unknown.toml", "{empty}": "empty.toml"}
    arguments = [str(tmp_path / files[a]) if a in files else a for a in arguments]
    result = CliRunner().invoke(
        main, ["sweep", *arguments, "--out", str(tmp_path / "s"), "--quiet"]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_fast_with_exit_2(tmp_path):
    pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            "--backend",
            "dask",
            "--scheduler",
            f"tcp://127.0.0.1:{free_port()}",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "s"),
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler" in result.output
    assert time.monotonic() - started < 30


def test_dask_backend_without_dask_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if absent
    result = CliRunner().invoke(
        main, ["sweep", "--backend", "dask", "--epochs", "1", "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 2
    assert "pip install 'nnreg[dask]'" in result.output


def interrupt_cell(grid, out, cell, steps, settings=None):
    """Train ``cell`` into its folder under ``out`` and stop it after ``steps`` steps."""
    stop = StopFlag()
    settings = settings or cell_settings(dataclasses.asdict(grid.base), cell)
    with pytest.raises(TrainingInterrupted):
        run_training(
            settings,
            out=out / "cells" / cell.name,
            callbacks=[StopAfterSteps(stop, steps)],
            stop=stop,
        )


def test_an_interrupted_cell_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    grid = make_grid(["l2", "l1-cumulative"], [2.0], base=TrainSettings(epochs=4))
    fresh = run_sweep(grid, tmp_path / "fresh", "joblib", jobs=1)
    out = tmp_path / "resumed"
    cell = grid.cells()[1]
    interrupt_cell(grid, out, cell, steps=2 * 135 + 40)  # part-way through epoch 3
    metrics = out / "cells" / cell.name / "metrics.jsonl"
    before = metrics.read_text().splitlines()
    assert len(before) == 2
    result = run_sweep(grid, out, "joblib", jobs=1)
    after = metrics.read_text().splitlines()
    assert after[:2] == before and len(after) == 4  # the two epochs, times included, were kept
    assert result.resumed == [cell.name] and sorted(result.trained) == sorted(
        c.name for c in grid.cells()
    )
    assert comparable(result.rows) == comparable(fresh.rows)
    ours = np.load(out / "cells" / cell.name / "parameters.npz")
    theirs = np.load(tmp_path / "fresh" / "cells" / cell.name / "parameters.npz")
    for key in theirs.files:
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_an_interrupted_cell_with_other_settings_or_a_damaged_checkpoint_starts_again(tmp_path):
    grid = make_grid(["l2"], [2.0, 5.0], base=TrainSettings(epochs=3))
    fresh = run_sweep(grid, tmp_path / "fresh", "joblib", jobs=1)
    out = tmp_path / "again"
    other, damaged = grid.cells()
    base = dataclasses.asdict(grid.base)
    interrupt_cell(grid, out, other, 200, dataclasses.replace(cell_settings(base, other), epochs=5))
    interrupt_cell(grid, out, damaged, 200)
    for name in ("checkpoint.npz", "checkpoint.previous.npz"):
        path = out / "cells" / damaged.name / name
        if path.exists():
            path.write_bytes(path.read_bytes()[:100])
    result = run_sweep(grid, out, "joblib", jobs=1)
    assert result.resumed == [damaged.name]  # looked resumable; its damage shows on loading
    assert comparable(result.rows) == comparable(fresh.rows)
    lines = (out / "cells" / other.name / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3


@pytest.fixture(scope="module")
def two_epoch_sweep(tmp_path_factory):
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=2))
    return run_sweep(grid, tmp_path_factory.mktemp("two") / "sweep", "joblib", jobs=1)


def files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def test_a_rerun_asking_for_more_epochs_continues_each_cell_bit_for_bit(tmp_path):
    out = tmp_path / "extended"
    run_sweep(make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=2)), out, jobs=1)
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=4))
    extended = run_sweep(grid, out, jobs=1)
    fresh = run_sweep(grid, tmp_path / "fresh", jobs=1)
    assert sorted(extended.extended) == sorted(c.name for c in grid.cells())
    assert extended.skipped == [] and comparable(extended.rows) == comparable(fresh.rows)
    for cell in grid.cells():
        ours = np.load(out / "cells" / cell.name / "parameters.npz")
        theirs = np.load(tmp_path / "fresh" / "cells" / cell.name / "parameters.npz")
        for key in theirs.files:
            np.testing.assert_array_equal(ours[key], theirs[key])
        lines = (out / "cells" / cell.name / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 4
    again = run_sweep(grid, out, jobs=1)  # now done with 4 epochs
    assert again.trained == [] and len(again.skipped) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"epochs": 1},
        {"seed": 1},
        {"batch_size": 20},
        {"momentum": 0.5},
        {"activation": "tanh"},
        {"cost": "log-likelihood"},
        {"initializer": "large"},
        {"dtype": "float32"},
        {"regularize_biases": True},
        {"dropout": 0.2},
        {"training_set_size": 500},
        {"data_dir": "elsewhere"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_finished_cell_with_any_other_setting_refuses_the_sweep_and_nothing_changes(
    change, two_epoch_sweep
):
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(**{"epochs": 2, **change}))
    before = files(two_epoch_sweep.folder)
    with pytest.raises(ValueError, match=f"other settings: .*{next(iter(change))} "):
        run_sweep(grid, two_epoch_sweep.folder, jobs=1)
    assert files(two_epoch_sweep.folder) == before


def test_only_settings_that_do_not_change_a_result_may_differ(two_epoch_sweep):
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=2, mirrors=["file:///m/"]))
    result = run_sweep(grid, two_epoch_sweep.folder, jobs=1)
    assert result.trained == [] and len(result.skipped) == 2


@pytest.mark.parametrize(
    "axes, message",
    [
        ({"lmbda": [1.0, 1.0]}, "lmbda lists 1.0 more than once"),
        ({"lmbda": [0, -0.0]}, "lmbda lists -0.0 more than once"),
        ({"reg": ["l2", "l2"]}, "reg lists 'l2' more than once"),
        ({"lmbda": [True]}, "lmbda values must be numbers, got True"),
        ({"hidden": [30.0]}, "hidden values must be whole numbers, got 30.0"),
        ({"eta": ["0.5"]}, "eta values must be numbers, got '0.5'"),
        ({"lmbda": [1e-7, 1.00000001e-7]}, "would share the folder"),
        ({"hidden": [10**11]}, "hidden units 100000000000 are too many"),
    ],
)
def test_make_grid_refuses_repeated_values_values_of_other_types_and_shared_folders(axes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_grid(**axes)


def test_a_grid_file_with_a_train_table_of_every_kind_of_value_is_read(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        '[grid]\nreg = ["elastic-net"]\nlmbda = [0, 1]\n[train]\nepochs = 2\nmomentum = 0.5\n'
        'l2_lmbda = 0.3\nmirrors = ["file:///m/"]\nregularize_biases = true\ndropout = 0.1\n'
    )
    axes, train = read_grid_file(path)
    grid = make_grid(**axes, base=TrainSettings(**train))
    assert [c.reg for c in grid.cells()] == ["elastic-net"] * 2 and grid.base.l2_lmbda == 0.3


def test_an_error_inside_one_cell_marks_it_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import nnreg.sweep

    real = nnreg.sweep.cells.run_training

    def failing(settings, out, **options):
        if settings.lmbda == 1.0:
            raise RuntimeError("something inside broke")
        return real(settings, out=out, **options)

    monkeypatch.setattr(nnreg.sweep.cells, "run_training", failing)
    grid = make_grid(["l2"], [0.0, 1.0], base=TrainSettings(epochs=1))
    result = run_sweep(grid, tmp_path, jobs=1)
    assert [row["status"] for row in result.rows] == ["finished", "failed"]
    assert result.failed == {grid.cells()[1].name: "RuntimeError: something inside broke"}
    assert result.best["lmbda"] == 0.0 and (tmp_path / "results.csv").is_file()
    monkeypatch.setattr(nnreg.sweep.cells, "run_training", real)
    again = run_sweep(grid, tmp_path, jobs=1)  # a failed cell is trained again
    assert again.trained == [grid.cells()[1].name] and again.failed == {}


def test_a_usage_error_writes_nothing_and_an_unreachable_backend_neither(tmp_path):
    grid = make_grid(["l2"], [0.0], base=TrainSettings(epochs=1))
    for arguments in ({"blas_threads": 0}, {"jobs": 0}, {"scheduler": "tcp://127.0.0.1:9"}):
        with pytest.raises(ValueError):
            run_sweep(grid, tmp_path / "s", **arguments)
    assert not (tmp_path / "s").exists()


def test_every_blas_library_a_cell_uses_is_limited_to_its_threads():
    """The limit reaches only the BLAS libraries loaded when it is set: SciPy's, which the
    engine loads when it first trains, must be among them, or a cell trained in the sweep's
    own process (-j 1) would use every core and round differently from one in a worker."""
    script = (
        "import nnreg.sweep.cells as cells\n"
        "from threadpoolctl import threadpool_info\n"
        "from nnreg.sweep.grid import Cell\n"
        "seen = []\n"
        "def train(settings, folder, action, stop):\n"
        "    import scipy.linalg.blas\n"
        "    seen.extend(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas')\n"
        "cells._train_cell = train\n"
        "cells.run_cell({}, Cell('l2', 0.0, 0.5, 30), 'unused', blas_threads=1)\n"
        "print(len(seen) >= 2 and set(seen) == {1}, seen)\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True"), result.stdout


def test_the_table_shows_each_cells_training_time_and_reused_for_a_reused_run(tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        main,
        ["sweep", "--reg", "l2,l1", "--lmbda", "0,1", "--epochs", "1", "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 9 and cells[0] in ("l1", "l2"):
            rows[(cells[0], cells[1])] = cells[-1]
    assert rows[("l1", "0")] == "reused"  # l1 at λ = 0 is l2 at λ = 0: not trained
    for reg, lmbda in (("l2", "0"), ("l2", "1"), ("l1", "1")):
        summary = json.loads(
            (out / "cells" / f"{reg}_lmbda={lmbda}_eta=0.5_hidden=30" / "summary.json").read_text()
        )
        # the epochs' time, not the run's (which counts loading the data and compiling)
        assert rows[(reg, lmbda)] == f"{summary['time']['epochs']:.1f} s"
        assert summary["time"]["epochs"] < summary["time"]["run"]
    assert "training time" in result.output and "wall time" not in result.output
