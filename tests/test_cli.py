"""The ``nnreg`` command line: run folders, exit codes, messages, help.

Exit status: 0 on success, 2 for a usage mistake (a message, no traceback, no run folder),
3 when training diverged (metrics kept). Each test runs in its own empty working folder, so
"no run folder left behind" means the folder is still empty afterwards.
"""

import json
import math
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.regularizers import FORMULAS

SPLITS = ("training", "validation", "test")
COST_KEYS = {"data_cost", "penalty", "total_cost", "accuracy"}
REGULARIZER_NAMES = ("none", "l2", "l1", "l1-proximal", "l1-cumulative", "elastic-net", "decoupled")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current folder: relative ``--out`` paths (and ``runs/``) land here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def nnreg_train(*args: str):
    """``nnreg train ARGS`` in-process; output holds stdout and stderr together."""
    return CliRunner().invoke(main, ["train", *args])


def flat(text: str) -> str:
    """The text with rich's line wrapping undone (every whitespace run becomes one space)."""
    return " ".join(text.split())


def assert_clean_exit(result, code: int) -> None:
    """Exit ``code`` by ``sys.exit``, not by an exception escaping, and no traceback shown."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def read_metrics(folder) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def test_two_epoch_run_writes_the_run_folder_and_prints_the_summary(workdir):
    result = nnreg_train("--epochs", "2", "--out", "run", "--quiet")
    assert_clean_exit(result, 0)
    folder = workdir / "run"
    for name in ("config.json", "metrics.jsonl", "parameters.npz", "summary.json"):
        assert (folder / name).is_file(), name
    metrics = read_metrics(folder)
    assert [record["epoch"] for record in metrics] == [1, 2]
    for record in metrics:
        for split in SPLITS:
            assert set(record[split]) == COST_KEYS
            assert all(math.isfinite(value) for value in record[split].values())
    config = json.loads((folder / "config.json").read_text())
    assert config["settings"]["epochs"] == 2
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test"] == metrics[-1]["test"]
    test_accuracy = f"{summary['test']['accuracy']:.2%}"
    assert any("test" in line and test_accuracy in line for line in result.output.splitlines())
    assert "run folder: run" in flat(result.output)


@pytest.mark.parametrize("quiet", [False, True])
def test_one_line_per_epoch_unless_quiet(workdir, quiet):
    result = nnreg_train("--epochs", "2", "--out", "run", *(["--quiet"] if quiet else []))
    assert_clean_exit(result, 0)
    epoch_lines = re.findall(r"epoch +\d+/2 +cost", result.output)
    assert len(epoch_lines) == (0 if quiet else 2)


BAD_INPUT = [
    pytest.param(
        ["--lmbda", "-1"],
        ["lmbda must be >= 0", "use 0 for no regularization"],
        id="negative-lambda",
    ),
    pytest.param(["--eta", "0"], ["eta must be > 0", "learning rate"], id="zero-eta"),
    pytest.param(["--eta", "-1"], ["eta must be > 0", "learning rate"], id="negative-eta"),
    pytest.param(
        ["--batch-size", "0"], ["batch_size must be >= 1", "mini-batch size"], id="zero-batch-size"
    ),
    pytest.param(
        ["--batch-size", "100000"],
        ["batch_size must be <= 1197", "between 1 and the 1197 training examples"],
        id="batch-size-above-n",
    ),
    pytest.param(["--epochs", "0"], ["epochs must be >= 1"], id="zero-epochs"),
    pytest.param(
        ["--reg", "nonsense"],
        ["'--reg'", "'nonsense' is not one of", "l1-proximal"],
        id="unknown-regularizer",
    ),
    pytest.param(
        ["--sizes", "64,30,7"],
        ["the output layer has 7 units", "make sizes[-1] = 10"],
        id="too-few-outputs",
    ),
    pytest.param(
        ["--sizes", "10,30,10"], ["64 input features", "make sizes[0] = 64"], id="wrong-input-width"
    ),
    pytest.param(["--sizes", "64"], ["sizes must list at least two whole numbers"], id="one-layer"),
    pytest.param(["--sizes", "64,0,10"], ["every layer needs at least one unit"], id="zero-units"),
    pytest.param(
        ["--momentum", "1.5"], ["momentum must be < 1", "typically 0.9"], id="momentum-above-1"
    ),
    pytest.param(
        ["--l2-lmbda", "3"], ["only applies to the elastic-net", "--reg elastic-net"], id="l2-lmbda"
    ),
    pytest.param(["--reg", "none", "--lmbda", "-1"], ["lmbda must be >= 0"], id="none-negative"),
    pytest.param(["--momentum", "-0.5"], ["momentum must be >= 0"], id="negative-momentum"),
    pytest.param(
        ["--lmbda", "1,2,3"],
        ["lmbda has 3 values but the network has 2 weight layers"],
        id="lambda-list-too-long",
    ),
    pytest.param(
        ["--lmbda", "abc"],
        ["'abc' is not a comma-separated list of numbers"],
        id="lambda-not-a-number",
    ),
    pytest.param(["--lmbda", "nan"], ["lmbda must be finite"], id="nan-lambda"),
    pytest.param(
        ["--activation", "softplus"], ["'softplus' is not one of"], id="unknown-activation"
    ),
]


@pytest.mark.parametrize("args, phrases", BAD_INPUT)
def test_bad_input_exits_2_with_a_message_and_no_traceback_or_run_folder(workdir, args, phrases):
    # One epoch keeps a wrongly accepted case fast; a later option wins, so args come last.
    result = nnreg_train("--epochs", "1", "--out", "run", "--quiet", *args)
    assert_clean_exit(result, 2)
    for phrase in phrases:
        assert phrase in flat(result.output)
    assert list(workdir.iterdir()) == []


def test_bad_input_without_out_creates_no_runs_folder(workdir):
    result = nnreg_train("--lmbda", "-1", "--quiet")
    assert_clean_exit(result, 2)
    assert list(workdir.iterdir()) == []


def test_existing_run_folder_is_refused_and_kept(workdir):
    assert_clean_exit(nnreg_train("--epochs", "1", "--out", "run", "--quiet"), 0)
    before = {path.name: path.read_bytes() for path in (workdir / "run").iterdir()}
    result = nnreg_train("--epochs", "1", "--out", "run", "--quiet")
    assert_clean_exit(result, 2)
    assert "already holds a run" in flat(result.output)
    assert {path.name: path.read_bytes() for path in (workdir / "run").iterdir()} == before


@pytest.mark.parametrize("lambdas, expected", [("0.3", 0.3), ("5,1", [5.0, 1.0])])
def test_lambda_is_an_alias_of_lmbda(workdir, lambdas, expected):
    configs = []
    for option in ("--lmbda", "--lambda"):
        out = option.strip("-")
        assert_clean_exit(nnreg_train(option, lambdas, "--epochs", "1", "--out", out, "--quiet"), 0)
        configs.append(json.loads((workdir / out / "config.json").read_text()))
    assert configs[0]["regularizer"]["lmbda"] == configs[1]["regularizer"]["lmbda"] == expected
    assert configs[0]["settings"]["lmbda"] == configs[1]["settings"]["lmbda"]


def test_help_shows_every_regularizer_formula():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert_clean_exit(result, 0)
    assert set(FORMULAS) == set(REGULARIZER_NAMES)
    lines = [line.strip() for line in result.output.splitlines()]
    for name in REGULARIZER_NAMES:
        assert any(
            line.startswith(name + " ") and line[len(name) :].strip() == FORMULAS[name]
            for line in lines
        ), name
    assert "ηλ/n" in result.output
    assert "n = training-set size" in result.output


# NaN/inf appear on purpose; numpy says so with RuntimeWarnings, which are not the point here.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_run_exits_3_suggests_a_smaller_eta_and_keeps_metrics(workdir):
    result = nnreg_train(
        "--eta",
        "1e6",
        "--cost",
        "quadratic",
        "--activation",
        "relu",
        "--epochs",
        "3",
        "--out",
        "run",
        "--quiet",
    )
    assert_clean_exit(result, 3)
    message = flat(result.output)
    assert "Training diverged" in message
    # ηλ/n = 1e6·0.1/1197: the weight decay alone flips and grows the weights
    assert "1 − ηλ/n = 1 − 1e+06·0.1/" in message and "η under 12000" in message
    metrics = read_metrics(workdir / "run")
    assert metrics and metrics[-1]["diverged"] is True
    assert "within" not in message and "after step" in message  # caught inside the epoch
    # the metrics file is strict JSON: no NaN or Infinity tokens
    for line in (workdir / "run" / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}"))
    assert (workdir / "run" / "config.json").is_file()
    assert not (workdir / "run" / "summary.json").exists()


def test_default_run_reaches_93_percent_test_accuracy(workdir):
    assert_clean_exit(nnreg_train("--quiet", "--out", "run"), 0)
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert summary["epochs"] == 30
    assert summary["test"]["accuracy"] >= 0.93


def python_m_nnreg(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnreg.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_python_m_nnreg_cli_trains_and_writes_a_run_folder(tmp_path):
    completed = python_m_nnreg("train", "--epochs", "1", "--quiet", "--out", "run", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    assert "run folder: run" in flat(completed.stdout)
    assert len(read_metrics(tmp_path / "run")) == 1
    assert (tmp_path / "run" / "summary.json").is_file()


def test_python_m_nnreg_cli_reports_bad_input_on_stderr_with_exit_2(tmp_path):
    completed = python_m_nnreg("train", "--lmbda", "-1", "--quiet", "--out", "run", cwd=tmp_path)
    assert completed.returncode == 2
    assert "lmbda must be >= 0" in flat(completed.stderr)
    assert "Traceback" not in completed.stdout + completed.stderr
    assert list(tmp_path.iterdir()) == []


def test_unwritable_run_folder_exits_2_and_says_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["train", "--epochs", "1", "--quiet", "--out", str(blocker / "run")]
    )
    assert result.exit_code == 2
    assert "cannot create the run folder" in result.output and "--out" in result.output
    assert "Traceback" not in result.output


def test_errors_about_a_setting_name_its_option(tmp_path):
    result = CliRunner().invoke(main, ["train", "--batch-size", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "--batch-size: batch_size must be >= 1" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "command",
    [["train"], ["train", "--resume", "runs/x"], ["sweep"], ["experiment", "overfitting"]],
    ids=["train", "resume", "sweep", "experiment"],
)
def test_an_empty_data_dir_is_refused_by_every_command(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, "--data-dir", " "])
    assert result.exit_code == 2
    assert "'--data-dir': is empty: give a folder name" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--sizes", "64," + "9" * 400 + ",10", "a 400-digit number of units"),
        ("--hidden", "9" * 400, "hidden must be <= 1000000000000, got a 400-digit number"),
        ("--batch-size", "9" * 40, "batch_size must be <= 1000000000000"),
        ("--epochs", "9" * 40, "epochs must be <= 100000"),
    ],
    ids=["sizes", "hidden", "batch-size", "epochs"],
)
def test_numbers_of_many_digits_are_refused_in_a_few_words(option, value, message, tmp_path):
    result = CliRunner().invoke(main, ["train", option, value, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert len(result.output) < 400 and not (tmp_path / "r").exists()


def test_running_out_of_memory_is_a_message_not_a_bug_report(monkeypatch, capsys):
    import nnreg.cli

    def too_big(*arguments, **keywords):
        raise MemoryError("Unable to allocate 26.8 GiB for an array")

    monkeypatch.setattr(nnreg.cli, "main", too_big)
    assert nnreg.cli._run_main() == 2
    printed = " ".join(capsys.readouterr().err.split())
    assert "out of memory (Unable to allocate 26.8 GiB" in printed
    assert "bug" not in printed and "Traceback" not in printed
