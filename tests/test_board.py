"""nnreg board's server, without a browser: what it reads from run folders (checked against
the files themselves), what it refuses, and the live parts (server-sent events, runs started
from the API, a run from another terminal), on a real server where it matters."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the board extra is not installed")
pytest.importorskip("uvicorn", reason="the board extra is not installed")
pytest.importorskip("sse_starlette", reason="the board extra is not installed")
httpx = pytest.importorskip("httpx2", reason="httpx2 (test extra) is not installed")

from board_server import board, get_json, make_run, post_json, wait_for  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from nnreg.board.app import create_app  # noqa: E402
from nnreg.board.folders import LOG  # noqa: E402
from nnreg.checkpoints import has_checkpoint, load_parameters  # noqa: E402
from nnreg.cli import main as cli_main  # noqa: E402
from nnreg.runs import lock_run_folder, read_run, snapshot_path  # noqa: E402
from nnreg.session import TrainSettings, resume_training, run_training  # noqa: E402
from nnreg.training import Callback, StopFlag, TrainingDiverged, TrainingInterrupted  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    run_training(TrainSettings(hidden=10, epochs=3, reg="l2", lmbda=1.0), root / "l2")
    run_training(
        TrainSettings(hidden=10, epochs=3, reg="l1-proximal", lmbda=3.0),
        root / "sparse" / "l1",
        snapshots=True,
    )
    return root


@pytest.fixture
def client(two_runs):
    with TestClient(create_app(two_runs)) as client:
        yield client


def test_the_runs_list_holds_every_run_with_its_last_epochs_numbers(client, two_runs):
    runs = {run["name"]: run for run in client.get("/api/runs").json()}
    assert set(runs) == {"l2", "sparse/l1"}
    for name, run in runs.items():
        written = read_run(two_runs / name)
        last = written["metrics"][-1]
        assert run["status"] == "finished" and run["epoch"] == run["epochs"] == 3
        assert run["validation_accuracy"] == last["validation"]["accuracy"]
        assert run["test_accuracy"] == last["test"]["accuracy"]
        assert run["fraction_zero"] == last["weights"]["fraction_zero"]
        assert run["settings"]["reg"] == written["config"]["settings"]["reg"]
    assert runs["sparse/l1"]["fraction_zero"] > 0  # proximal L1 makes exact zeros
    assert runs["sparse/l1"]["snapshots"] and not runs["l2"]["snapshots"]


def test_one_run_is_its_config_and_every_metrics_record(client, two_runs):
    run = client.get("/api/run", params={"run": "sparse/l1"}).json()
    written = read_run(two_runs / "sparse/l1")
    assert run["records"] == written["metrics"]
    assert run["config"] == written["config"]


@pytest.mark.parametrize("epoch", [0, 1, 3])
def test_weights_at_an_epoch_are_the_kept_parameters(client, two_runs, epoch):
    folder = two_runs / "sparse/l1"
    path = folder / "initial_parameters.npz" if epoch == 0 else snapshot_path(folder, epoch)
    weights, _ = load_parameters(path)
    shown = client.get("/api/weights", params={"run": "sparse/l1", "epoch": epoch}).json()
    assert shown["epochs"] == [0, 1, 2, 3]
    first = shown["first_layer"]
    assert (first["units"], first["inputs"], first["image"]) == (10, 64, [8, 8])
    values = np.frombuffer(base64.b64decode(first["values"]), "<f4").reshape(10, 64)
    np.testing.assert_array_equal(values, weights[0].astype(np.float32))
    np.testing.assert_array_equal(values == 0, weights[0] == 0)  # zeros exactly where they are
    for layer, w in zip(shown["layers"], weights):
        assert layer["zeros"] == int(np.sum(w == 0))
        assert sum(layer["counts"]) + layer["zeros"] == w.size
        largest = np.max(np.abs(w))
        assert layer["edges"][0] == -largest and layer["edges"][-1] == largest
        expected, _ = np.histogram(w[w != 0], len(layer["counts"]), (-largest, largest))
        assert layer["counts"] == expected.tolist()
    if epoch == 3:  # the last snapshot is the run's final parameters
        final, _ = load_parameters(folder / "parameters.npz")
        np.testing.assert_array_equal(final[0], weights[0])


def test_a_run_without_snapshots_shows_its_first_and_last_weights(client):
    shown = client.get("/api/weights", params={"run": "l2"}).json()
    assert shown["epochs"] == [0, 3] and shown["epoch"] == 3


def test_tiny_weights_stay_non_zero_in_the_pictures():
    from nnreg.board.weights import float32_base64 as _float32_base64

    values = np.array([[0.0, 1e-300, -1e-300, 0.5]])
    sent = np.frombuffer(base64.b64decode(_float32_base64(values)), "<f4")
    assert list(sent == 0) == [True, False, False, False]
    assert np.sign(sent).tolist() == [0, 1, -1, 1]


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/run?run=../etc", 404),
        ("/api/run?run=/etc/passwd", 404),
        ("/api/run?run=" + urllib.parse.quote("../../etc/passwd", safe=""), 404),
        ("/api/run?run=sparse", 404),  # a folder, not a run
        ("/api/run?run=", 404),
        ("/api/run", 404),
        ("/api/weights?run=nothing", 404),
        ("/api/weights?run=l2&epoch=2", 404),  # not kept
        ("/api/weights?run=l2&epoch=-1", 400),
        ("/api/weights?run=l2&epoch=one", 400),
        ("/api/run/events?run=l2&from=x", 400),
        ("/etc/passwd", 404),
        ("/static/../../../etc/passwd", 404),
        ("/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/static/..%2f..%2f..%2fetc%2fpasswd", 404),
        ("/static/board.js", 200),
    ],
)
def test_only_what_is_under_the_folder_is_served(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert "root:" not in response.text


def test_raw_paths_that_climb_out_get_404_from_the_real_server(two_runs):
    with board(two_runs) as (url, _):
        host, port = urllib.parse.urlsplit(url).netloc.split(":")
        for path in (
            "/../../etc/passwd",
            "/static/../../etc/passwd",
            "/static/../../../../../../etc/passwd",
            "/static/%2e%2e/%2e%2e/etc/passwd",
            "/api/run?run=../../../etc",
        ):
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.putrequest("GET", path, skip_host=False)
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
            connection.close()
            assert response.status in (404, 400), (path, response.status)
            assert b"root:" not in body


def cli_error(*arguments: str) -> str:
    """What ``nnreg train`` prints for these options (its first line of the error)."""
    result = CliRunner().invoke(cli_main, ["train", "--epochs", "1", *arguments])
    assert result.exit_code == 2, result.output
    return result.output


@pytest.mark.parametrize(
    "form, option",
    [
        ({"eta": "fast"}, "--eta"),
        ({"reg": "l3"}, "--reg"),
        ({"sizes": "64,x,10"}, "--sizes"),
        ({"epochs": "0"}, "--epochs"),
        ({"batch_size": "-3"}, "--batch-size"),
        ({"lmbda": "-1"}, "--lmbda"),
        ({"seed": "-1"}, "--seed"),
        ({"eta": "nan"}, "--eta"),
    ],
)
def test_form_inputs_are_checked_as_nnreg_train_checks_its_options(tmp_path, form, option):
    with TestClient(create_app(tmp_path)) as client:
        response = client.post("/api/runs", json=form)
    assert list(tmp_path.iterdir()) == []
    assert response.status_code == 400
    message = response.json()["error"]
    assert option in message
    arguments = [
        part
        for key, value in form.items()
        for part in ({"batch_size": "--batch-size"}.get(key, f"--{key}"), value)
    ]
    printed = " ".join(cli_error(*arguments).split())
    words = [word for word in message.replace("'", " ").split() if word.isalpha()][:6]
    assert all(word in printed for word in words), (message, printed)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"data": "/etc"}, "--data"),
        ({"data": "../../secret"}, "--data"),
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"name": "../escape"}, "'name'"),
        ({"name": "/tmp/x"}, "'name'"),
        ({"name": "l2"}, "exists already"),
        ({"eta": ["0.5"]}, "--eta"),
        ({"epochs": True}, "--epochs"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_forms_are_refused_with_a_message_and_nothing_is_written(
    client, two_runs, body, fragment
):
    before = sorted(path for path in two_runs.rglob("*"))
    response = client.post("/api/runs", json=body)
    assert response.status_code == 400 and fragment in response.json()["error"]
    assert sorted(path for path in two_runs.rglob("*")) == before


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/api/runs", content=b"{not json", headers={"Content-Type": "x"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


@pytest.mark.parametrize("action", ["stop", "resume"])
def test_stop_and_resume_refuse_what_they_cannot_do(client, action):
    assert client.post(f"/api/{action}", json={"run": "nothing"}).status_code == 404
    assert client.post(f"/api/{action}", json={"run": "../l2"}).status_code == 404
    response = client.post(f"/api/{action}", json={"run": "l2"})
    assert response.status_code == 409 and "finished" in response.json()["error"]


def test_statuses_come_from_the_folders(tmp_path):
    make_run(tmp_path / "done")
    stop = StopFlag()
    stop.requested, stop.reason = True, "SIGINT"
    with pytest.raises(TrainingInterrupted):
        run_training(TrainSettings(hidden=10, epochs=5), tmp_path / "stopped", stop=stop)
    with pytest.raises(TrainingDiverged), pytest.warns(UserWarning, match="unstable"):
        run_training(TrainSettings(hidden=10, epochs=5, eta=1e6), tmp_path / "diverged")
    make_run(tmp_path / "held")
    (tmp_path / "held" / "summary.json").unlink()  # as a run still training has none
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / LOG).write_text("Error: --sizes: the first size (5) must be 64\n")
    with TestClient(create_app(tmp_path)) as client:
        lock = lock_run_folder(tmp_path / "held", create=False)
        try:
            statuses = {run["name"]: run for run in client.get("/api/runs").json()}
        finally:
            lock.close()
        assert client.get("/api/run", params={"run": "held"}).json()["status"] == "interrupted"
    assert {name: run["status"] for name, run in statuses.items()} == {
        "done": "finished",
        "stopped": "interrupted",
        "diverged": "diverged",
        "held": "running",
        "failed": "failed",
    }
    assert statuses["failed"]["error"] == "Error: --sizes: the first size (5) must be 64"
    assert statuses["stopped"]["checkpoint"] is has_checkpoint(tmp_path / "stopped")


def test_looking_at_a_lock_does_not_stop_a_run_from_taking_it(tmp_path):
    from nnreg.runs import is_training

    folder = tmp_path / "run"
    lock = lock_run_folder(folder, create=True)
    assert is_training(folder)
    lock.close()
    assert not is_training(folder)
    looking = threading.Event()

    def look():
        while not looking.is_set():
            is_training(folder)

    reader = threading.Thread(target=look)
    reader.start()
    try:
        for _ in range(50):  # the trainer waits out a reader's instant instead of failing
            lock_run_folder(folder, create=False).close()
    finally:
        looking.set()
        reader.join()


def test_snapshots_of_a_resumed_run_equal_an_uninterrupted_runs(tmp_path):
    settings = TrainSettings(hidden=10, epochs=4, reg="l1", lmbda=2.0)
    run_training(settings, tmp_path / "whole", snapshots=True)
    stop = StopFlag()

    class StopAfterTwo(Callback):
        def on_epoch_end(self, record, network):
            if record["epoch"] == 2:
                stop.requested, stop.reason = True, "SIGINT"

    with pytest.raises(TrainingInterrupted):
        run_training(settings, tmp_path / "parts", [StopAfterTwo()], stop=stop, snapshots=True)
    resume_training(tmp_path / "parts")
    for epoch in range(1, 5):
        whole, _ = load_parameters(snapshot_path(tmp_path / "whole", epoch))
        parts, _ = load_parameters(snapshot_path(tmp_path / "parts", epoch))
        for a, b in zip(whole, parts):
            np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "whole" / "snapshots" / "epoch-0005.npz").exists()


def sse_events(url: str, count: int, timeout: float = 120.0, stop=None) -> list[tuple]:
    """Read server-sent events from ``url`` until ``stop(events)`` or ``count`` events."""
    events, event, data = [], None, []
    with httpx.stream("GET", url, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif not line and event:
                events.append((event, json.loads("\n".join(data))))
                event, data = None, []
                if len(events) >= count or (stop and stop(events)):
                    break
    return events


def test_a_run_from_another_terminal_shows_up_and_is_pushed_live(tmp_path):
    with board(tmp_path) as (url, _):
        first = sse_events(url + "api/events", 1)
        assert first == [("runs", [])]
        training = subprocess.Popen(
            [sys.executable, "-m", "nnreg", "train", "--quiet", "--hidden", "10"]
            + ["--epochs", "6", "--out", str(tmp_path / "terminal")],
        )
        try:
            listing = sse_events(
                url + "api/events",
                100,
                stop=lambda events: any(e[1] and e[1][0]["status"] == "finished" for e in events),
            )
            seen = [e[1][0]["status"] for e in listing if e[1]]
            assert "finished" in seen and seen[-1] == "finished"
            events = sse_events(
                url + "api/run/events?run=terminal",
                100,
                stop=lambda events: any(
                    e[0] == "run" and e[1]["status"] == "finished" for e in events
                ),
            )
        finally:
            assert training.wait(120) == 0
    records = [record for kind, data in events if kind == "metrics" for record in data["records"]]
    assert [record["epoch"] for record in records] == [1, 2, 3, 4, 5, 6]
    assert records == read_run(tmp_path / "terminal")["metrics"]


@pytest.mark.slow
def test_runs_started_from_the_api_equal_nnreg_train_runs_and_stop_and_resume(tmp_path):
    form = {"data": "digits", "sizes": "64,10,10", "reg": "l1-cumulative", "lmbda": "2"}
    with board(tmp_path) as (url, _):
        status, body = post_json(url + "api/runs", {**form, "epochs": "3", "name": "quick"})
        assert status == 201 and body == {"run": "quick"}
        wait_for(
            lambda: get_json(url + "api/run?run=quick")["status"] == "finished",
            what="the run to finish",
        )
        status, body = post_json(url + "api/runs", {**form, "epochs": "400", "name": "long"})
        assert status == 201
        wait_for(lambda: get_json(url + "api/run?run=long")["epoch"] >= 2, what="2 epochs")
        assert post_json(url + "api/stop", {"run": "long"})[0] == 202
        stopped = wait_for(
            lambda: (run := get_json(url + "api/run?run=long"))["status"] == "interrupted" and run,
            what="the run to stop",
        )
        assert stopped["checkpoint"] and 2 <= stopped["epoch"] < 400
        assert "Interrupted by SIGTERM" in (tmp_path / "long" / LOG).read_text()
        assert post_json(url + "api/resume", {"run": "long"})[0] == 202
        wait_for(lambda: get_json(url + "api/run?run=long")["epoch"] > stopped["epoch"])
        assert post_json(url + "api/stop", {"run": "long"})[0] == 202
        wait_for(lambda: get_json(url + "api/run?run=long")["status"] == "interrupted")
    by_hand = subprocess.run(
        [sys.executable, "-m", "nnreg", "train", "--quiet", "--out", str(tmp_path / "cli")]
        + ["--sizes", "64,10,10", "--reg", "l1-cumulative", "--lmbda", "2", "--epochs", "3"],
        check=True,
    )
    assert by_hand.returncode == 0
    board_run, cli_run = read_run(tmp_path / "quick"), read_run(tmp_path / "cli")
    assert board_run["config"] == cli_run["config"]
    strip = [{k: v for k, v in r.items() if k != "time"} for r in board_run["metrics"]]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in cli_run["metrics"]]
    for a, b in zip(board_run["parameters"][0], cli_run["parameters"][0]):
        np.testing.assert_array_equal(a, b)
    assert len(list((tmp_path / "quick" / "snapshots").glob("*.npz"))) == 3


def test_a_run_that_fails_shows_its_error(tmp_path, monkeypatch):
    # no MNIST in the data folder and no mirror that works: seen only once the run starts
    monkeypatch.setenv("NNREG_MNIST_MIRRORS", (tmp_path / "no-mirror").as_uri())
    with board(tmp_path / "runs", "--data-dir", str(tmp_path / "data")) as (url, _):
        form = {"data": "mnist", "epochs": "2", "name": "bad"}
        status, _ = post_json(url + "api/runs", form)
        assert status == 201
        run = wait_for(
            lambda: (run := get_json(url + "api/run?run=bad"))["status"] == "failed" and run,
            what="the run to fail",
        )
    assert run["error"].startswith("Error:") and "could not download" in run["error"]


def test_many_clients_at_once_get_consistent_answers(two_runs):
    with board(two_runs) as (url, _):
        expected = get_json(url + "api/run?run=sparse/l1")
        results, problems = [], []

        def client(number):
            try:
                for _ in range(5):
                    results.append(get_json(url + "api/run?run=sparse/l1") == expected)
                    results.append(len(get_json(url + "api/runs")) == 2)
                    weights = get_json(url + f"api/weights?run=sparse/l1&epoch={number % 4}")
                    results.append(weights["epoch"] == number % 4)
                if number % 4 == 0:
                    results.append(sse_events(url + "api/run/events?run=l2", 2)[0][0] == "metrics")
            except Exception as error:  # noqa: BLE001 - reported below
                problems.append(repr(error))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert problems == [] and len(results) == 12 * 15 + 3 and all(results)


@pytest.mark.slow  # the same as the test of a second Ctrl-C below, with one signal
def test_ctrl_c_stops_the_board_and_its_runs_cleanly_with_a_client_listening(tmp_path):
    with board(tmp_path) as (url, process):
        post_json(url + "api/runs", {"epochs": "1000", "name": "going"})
        wait_for(lambda: get_json(url + "api/run?run=going")["epoch"] >= 1, what="an epoch")
        with httpx.stream("GET", url + "api/events", timeout=30) as response:
            next(response.iter_lines())
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0
    run = read_run(tmp_path / "going")
    assert run["summary"] is None and has_checkpoint(tmp_path / "going")
    assert "Interrupted by SIGTERM" in (tmp_path / "going" / LOG).read_text()


def test_board_command_mistakes_exit_2_with_a_message(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    runner = CliRunner()
    result = runner.invoke(cli_main, ["board", str(file)])
    assert result.exit_code == 2 and "file" in result.output
    result = runner.invoke(cli_main, ["board", str(tmp_path), "--port", "70000"])
    assert result.exit_code == 2 and "--port" in result.output
    result = runner.invoke(cli_main, ["board", str(tmp_path), "--host", "no.such.host.invalid"])
    assert result.exit_code == 2 and "--host" in result.output
    with board(tmp_path) as (url, _):
        port = urllib.parse.urlsplit(url).port
        result = runner.invoke(cli_main, ["board", str(tmp_path), "--port", str(port)])
        assert (
            result.exit_code == 2
            and "--port" in result.output
            and "Traceback" not in (result.output)
        )


def test_another_host_than_loopback_is_served_with_a_warning(tmp_path):
    with board(tmp_path, "--host", "0.0.0.0") as (url, process):
        assert get_json(url.replace("0.0.0.0", "127.0.0.1") + "api/runs") == []
    assert "anyone who can reach this machine" in process.stderr_text


def test_damaged_files_are_reported_not_served_as_numbers(tmp_path):
    for name in ("config", "metrics", "parameters", "new"):
        make_run(tmp_path / name)
    (tmp_path / "config" / "config.json").write_text("{not json")
    (tmp_path / "metrics" / "metrics.jsonl").write_text('{"epoch": 1}\ngarbage\n{"epo')
    (tmp_path / "parameters" / "parameters.npz").write_bytes(b"PK\x03\x04 damaged")
    (tmp_path / "new" / "initial_parameters.npz").unlink()
    (tmp_path / "new" / "parameters.npz").unlink()
    with TestClient(create_app(tmp_path)) as client:
        runs = {run["name"]: run for run in client.get("/api/runs").json()}
        assert runs["config"]["status"] == "failed" and "damaged" in runs["config"]["error"]
        assert runs["metrics"]["epoch"] == 1  # the last line that is a record, as /api/run
        records = client.get("/api/run", params={"run": "metrics"}).json()["records"]
        assert records == [{"epoch": 1}]
        response = client.get("/api/weights", params={"run": "parameters", "epoch": 2})
        assert response.status_code == 404 and "parameters.npz" in response.json()["error"]
        nothing = client.get("/api/weights", params={"run": "new"}).json()
        assert nothing == {"epoch": None, "epochs": []}


def test_the_metrics_follower_reads_only_what_was_appended(tmp_path):
    from nnreg.board.folders import MetricsFollower
    from nnreg.checkpoints import atomic_write_bytes

    path = tmp_path / "metrics.jsonl"
    follower = MetricsFollower(path, have=1)
    assert follower.new_records() == (0, [])  # no file yet
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    assert follower.new_records() == (1, [{"epoch": 2}])  # the reader had epoch 1
    assert follower.new_records() == (2, [])
    with open(path, "a") as handle:
        handle.write('ch": 3}\nnot json\n{"epoch": 4}\n')
    assert follower.new_records() == (2, [{"epoch": 3}, {"epoch": 4}])
    # a resumed run rewrites the file (a new file renamed over it): read again from the start
    atomic_write_bytes(path, lambda handle: handle.write(b'{"epoch": 1}\n{"epoch": 2}\n'))
    assert follower.new_records() == (0, [{"epoch": 1}, {"epoch": 2}])
    stale = MetricsFollower(path, have=5)  # a client holding more than the file: all again
    assert stale.new_records() == (0, [{"epoch": 1}, {"epoch": 2}])


def test_starting_stopping_and_resuming_at_the_wrong_moment_is_refused(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    long = {"epochs": "100000", "sizes": "64,10,10"}
    with TestClient(create_app(tmp_path, max_running=2)) as client:
        with ThreadPoolExecutor(4) as pool:  # four clients ask for the same name at once
            answers = list(
                pool.map(
                    lambda _: client.post("/api/runs", json={**long, "name": "same"}), range(4)
                )
            )
        assert sorted(a.status_code for a in answers) == [201, 400, 400, 400]
        assert client.post("/api/runs", json={**long, "name": "second"}).status_code == 201
        third = client.post("/api/runs", json={**long, "name": "third"})
        assert third.status_code == 409 and "2 runs are going" in third.json()["error"]
        assert not (tmp_path / "third").exists()
        wait_for(lambda: client.get("/api/run", params={"run": "same"}).json()["epoch"] >= 1)
        resumed = client.post("/api/resume", json={"run": "same"})
        assert resumed.status_code == 409 and "running" in resumed.json()["error"]
        for _ in range(2):  # a second Stop does not send a second signal (which stops at once)
            assert client.post("/api/stop", json={"run": "same"}).status_code == 202
        wait_for(
            lambda: (
                client.get("/api/run", params={"run": "same"}).json()["status"] == "interrupted"
            ),
            what="a clean stop",
        )
        assert has_checkpoint(tmp_path / "same")
        assert "Stopped at once" not in (tmp_path / "same" / LOG).read_text()
        wait_for(lambda: client.get("/api/run", params={"run": "second"}).json()["epoch"] >= 1)
    # leaving the board stopped the other run cleanly, with its checkpoint
    assert has_checkpoint(tmp_path / "second")
    assert "Interrupted by SIGTERM" in (tmp_path / "second" / LOG).read_text()


def test_without_the_board_extra_the_command_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "nnreg.board.app", raising=False)
    for module in list(sys.modules):  # importing any of them now fails
        if module.split(".")[0] in ("starlette", "sse_starlette", "uvicorn"):
            monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "starlette", None)
    result = CliRunner().invoke(cli_main, ["board", str(tmp_path)])
    assert result.exit_code == 2 and 'pip install "nnreg[board]"' in result.output
    assert "Traceback" not in result.output


def test_form_values_become_the_options_nnreg_train_reads():
    from nnreg.board.launcher import train_arguments

    arguments = train_arguments(
        {"data": " MNIST ", "reg": "L1-Proximal", "lmbda": 5, "eta": 0.5, "sizes": "", "name": "x"}
    )
    assert arguments == ["--data", "mnist", "--reg", "L1-Proximal", "--lmbda", "5", "--eta", "0.5"]
    assert train_arguments({}) == ["--data", "digits"]


def test_links_inside_a_run_folder_that_lead_out_are_neither_read_nor_written(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "outside"
    make_run(outside / "secret")
    make_run(root / "linked")
    victim = outside / "victim.txt"
    victim.write_text("keep me\n")
    for name in ("config.json", "metrics.jsonl", "initial_parameters.npz", "parameters.npz"):
        (root / "linked" / name).unlink()
        (root / "linked" / name).symlink_to(outside / "secret" / name)
    make_run(root / "stopped", epochs=5)
    (root / "stopped" / "summary.json").unlink()  # an interrupted run, resumable
    (root / "stopped" / LOG).symlink_to(victim)
    with TestClient(create_app(root)) as client:
        linked = client.get("/api/run", params={"run": "linked"}).json()
        assert linked["status"] == "failed" and "config.json" in linked["error"]
        assert linked["records"] == [] and linked["config"] is None
        assert client.get("/api/weights", params={"run": "linked"}).json()["epochs"] == []
        response = client.post("/api/resume", json={"run": "stopped"})
        assert response.status_code == 409 and "board.log" in response.json()["error"]
    assert victim.read_text() == "keep me\n"


def test_a_damaged_run_is_one_failed_row_and_the_others_are_listed(tmp_path):
    for name in ("good", "list-config", "odd-metrics", "bad-summary", "flat", "odd-snapshots"):
        make_run(tmp_path / name)
    (tmp_path / "list-config" / "config.json").write_text("[1, 2]")
    with open(tmp_path / "odd-metrics" / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": "x", "validation": 5, "weights": 3, "diverged": []}\n')
    (tmp_path / "bad-summary" / "summary.json").write_text("[1, 2, 3]")
    np.savez(tmp_path / "flat" / "parameters.npz", weights_0=np.ones(5), biases_0=np.ones(5))
    snapshots = tmp_path / "odd-snapshots" / "snapshots"
    snapshots.mkdir()
    (snapshots / "epoch-0001.npz").write_bytes((tmp_path / "good" / "parameters.npz").read_bytes())
    (snapshots / "epoch-0007.npz").mkdir()
    (snapshots / "epoch-0009.npz").write_bytes(b"")
    (snapshots / "epoch-0011.npz").symlink_to(tmp_path / "nowhere")
    with TestClient(create_app(tmp_path)) as client:
        response = client.get("/api/runs")
        assert response.status_code == 200
        runs = {run["name"]: run for run in response.json()}
        assert runs["good"]["status"] == "finished"
        assert runs["list-config"]["status"] == "failed"
        assert (
            runs["bad-summary"]["status"] == "failed"
            and "summary.json" in (runs["bad-summary"]["error"])
        )
        odd = runs["odd-metrics"]
        assert odd["epoch"] == 0 and odd["validation_accuracy"] is None
        flat = client.get("/api/weights", params={"run": "flat", "epoch": 2})
        assert flat.status_code == 404 and str(tmp_path) not in flat.json()["error"]
        # the newest snapshot that can be read is shown
        shown = client.get("/api/weights", params={"run": "odd-snapshots"}).json()
        assert shown["epoch"] == 1 and 11 not in shown["epochs"] and 7 not in shown["epochs"]


@pytest.mark.parametrize(
    "request_args, status",
    [
        (("GET", "/api/run/events?run=l2&from=%C2%B2"), 400),
        (("GET", "/api/run/events?run=l2&from=" + "9" * 5000), 400),
        (("GET", "/api/weights?run=l2&epoch=%C2%B2"), 400),
        (("GET", "/api/weights?run=l2&epoch=" + "1" * 5000), 400),
        (("POST", "/api/stop"), 404),
        (("GET", "/api/run"), 404),
    ],
)
def test_odd_queries_are_refused_with_a_plain_message(client, request_args, status):
    response = client.request(*request_args)
    assert response.status_code == status
    message = response.json()["error"]
    assert "int(" not in message and "None" not in message and "sys." not in message


def test_bodies_too_deep_or_too_large_are_refused(client):
    assert client.post("/api/runs", content=b"[" * 60_000).status_code == 400
    assert client.post("/api/stop", content=b"[" * 60_000).status_code == 400
    response = client.post("/api/runs", content=b" " * (1 << 20))
    assert response.status_code == 413


def test_ctrl_c_twice_still_stops_the_runs_with_a_checkpoint_and_no_traceback(tmp_path):
    with board(tmp_path) as (url, process):
        post_json(url + "api/runs", {"epochs": "100000", "name": "going"})
        wait_for(lambda: get_json(url + "api/run?run=going")["epoch"] >= 1, what="an epoch")
        streams = [httpx.stream("GET", url + "api/events", timeout=30) for _ in range(5)]
        for stream in streams:
            next(stream.__enter__().iter_lines())
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        for stream in streams:
            stream.__exit__(None, None, None)
    assert "Traceback" not in process.stderr_text and "ERROR" not in process.stderr_text
    assert has_checkpoint(tmp_path / "going")
    assert "Interrupted by SIGTERM" in (tmp_path / "going" / LOG).read_text()


def test_a_finished_runs_row_is_kept_until_one_of_its_files_changes(tmp_path):
    from nnreg.board.folders import RunIndex

    make_run(tmp_path / "done")
    index = RunIndex(tmp_path)
    assert index.run("done")["epoch"] == 2
    records = read_run(tmp_path / "done")["metrics"]
    with open(tmp_path / "done" / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({**records[-1], "epoch": 3}) + "\n")
    assert index.run("done")["epoch"] == 3
    (tmp_path / "done" / "summary.json").write_text("[]")
    assert index.run("done")["status"] == "failed"


def test_a_client_leaving_in_the_middle_of_its_body_leaves_no_traceback(tmp_path):
    make_run(tmp_path / "done")
    with board(tmp_path) as (url, process):
        host, port = urllib.parse.urlsplit(url).netloc.split(":")
        for path in ("/api/runs", "/api/stop", "/api/resume"):
            with socket.create_connection((host, int(port)), timeout=30) as connection:
                connection.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                    "\r\nContent-Length: 1000\r\n\r\n".encode()
                    + b'{"epochs": "1", "na'
                )
                time.sleep(0.3)  # the server is reading the body when the client goes
        time.sleep(0.5)
        assert [run["name"] for run in get_json(url + "api/runs")] == ["done"]
        assert process.poll() is None
    assert "Traceback" not in process.stderr_text, process.stderr_text
    assert "ClientDisconnect" not in process.stderr_text
    assert list(tmp_path.iterdir()) == [tmp_path / "done"]
