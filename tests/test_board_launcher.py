"""Runs started from nnreg board (:mod:`nnreg.board.launcher`), on a real server: a form
``nnreg train`` would refuse is refused with its message and leaves nothing behind, absurd
numbers never make a 500 or hold a run slot, and the board's data folder reaches the runs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette", reason="the board extra is not installed")
pytest.importorskip("uvicorn", reason="the board extra is not installed")
pytest.importorskip("sse_starlette", reason="the board extra is not installed")

from board_server import board, get_json, post_json, served, wait_for  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from nnreg.board.app import create_app  # noqa: E402
from nnreg.board.launcher import MAX_FIELD  # noqa: E402
from nnreg.cli import main as cli_main  # noqa: E402


def nnreg_train_error(*arguments: str) -> str:
    """What ``nnreg train`` prints for these options, without its "Error: ", on one line."""
    result = CliRunner().invoke(cli_main, ["train", *arguments])
    assert result.exit_code == 2, result.output
    printed = " ".join(result.output.split())
    assert printed.startswith("Error: "), printed
    return printed.removeprefix("Error: ")


@pytest.mark.parametrize(
    "form, arguments",
    [
        ({"sizes": "10,30,10"}, ["--sizes", "10,30,10", "--epochs", "1"]),
        ({"sizes": "64,30,3"}, ["--sizes", "64,30,3", "--epochs", "1"]),
        ({"epochs": str(10**30)}, ["--epochs", str(10**30)]),
        ({"epochs": 10**30}, ["--epochs", str(10**30)]),
        ({"epochs": "100001"}, ["--epochs", "100001"]),
    ],
)
def test_settings_nnreg_train_refuses_are_refused_with_its_message(tmp_path, form, arguments):
    expected = nnreg_train_error(*arguments, "--out", str(tmp_path / "cli"))
    root = tmp_path / "runs"
    root.mkdir()
    with board(root) as (url, _):
        status, body = post_json(url + "api/runs", {**form, "name": "refused"})
        assert (status, " ".join(body["error"].split())) == (400, expected)
        assert get_json(url + "api/options")["running"] == []
    assert list(root.iterdir()) == []


ABSURD = ["1e30", 1e30, "-1e30", "1" * 400, 10**400, "1e309", "9" * (MAX_FIELD + 1)]
"""Numbers no setting can take (as text, and as JSON numbers); λ and η may be any finite
number >= 0 (nnreg train takes them), so for them 1e30 is left to the next test."""


def test_absurd_numbers_in_any_field_are_a_400_never_a_500(tmp_path):
    with board(tmp_path) as (url, _):
        for field in ("epochs", "batch_size", "seed", "sizes", "lmbda", "eta"):
            for value in ABSURD:
                if field in ("lmbda", "eta") and value in ("1e30", 1e30):
                    continue
                if field == "sizes" and isinstance(value, str):
                    value = f"64,{value},10"
                status, body = post_json(url + "api/runs", {"epochs": "3", field: value})
                assert status == 400, (field, value, status, body)
                assert body["error"].startswith(("Invalid value", "--")), body["error"]
        assert get_json(url + "api/options")["running"] == []
    assert list(tmp_path.iterdir()) == []


def test_a_finite_but_huge_rate_starts_a_run_that_diverges_and_frees_its_slot(tmp_path):
    with board(tmp_path) as (url, _):
        for field in ("lmbda", "eta"):
            status, _ = post_json(url + "api/runs", {field: 1e30, "epochs": "5", "name": field})
            assert status == 201
        for field in ("lmbda", "eta"):
            run = wait_for(
                lambda field=field: (
                    (run := get_json(url + f"api/run?run={field}"))["status"] == "diverged" and run
                ),
                what="the run to diverge",
            )
            assert "diverged" in run["error"]
        wait_for(lambda: get_json(url + "api/options")["running"] == [], what="a free slot")


def test_runs_started_from_a_board_with_a_data_folder_read_their_data_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "runs").mkdir()
    app = create_app(tmp_path / "runs", data_dir="data")  # relative: made absolute
    with served(app) as url:
        status, _ = post_json(url + "api/runs", {"sizes": "64,5,10", "epochs": "1", "name": "d"})
        assert status == 201
        command = app.state.launcher.children["d"].args
        assert command[command.index("--data-dir") + 1] == str((tmp_path / "data").resolve())
        wait_for(lambda: get_json(url + "api/run?run=d")["status"] == "finished", what="a run")
    config = json.loads((tmp_path / "runs" / "d" / "config.json").read_text())
    assert config["settings"]["data_dir"] == str((tmp_path / "data").resolve())


def test_without_a_data_folder_runs_get_nnreg_trains_default(tmp_path):
    app = create_app(tmp_path)
    with served(app) as url:
        assert post_json(url + "api/runs", {"epochs": "1", "name": "plain"})[0] == 201
        assert "--data-dir" not in app.state.launcher.children["plain"].args
        wait_for(lambda: get_json(url + "api/run?run=plain")["status"] == "finished")
