"""Helpers for the board's tests: small finished runs, and ``nnreg board`` started as a user
starts it (its own process, any free port), stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from nnreg.session import TrainSettings, run_training

SMALL = {"hidden": 10, "epochs": 2}


def make_run(folder: Path, snapshots: bool = False, **settings) -> Path:
    """A finished digits run in ``folder`` (small: 10 hidden units, 2 epochs by default),
    keeping every epoch's parameters with ``snapshots``."""
    run_training(TrainSettings(**{**SMALL, **settings}), out=folder, snapshots=snapshots)
    return folder


@contextlib.contextmanager
def board(root: Path, *arguments: str, timeout: float = 60.0):
    """``nnreg board ROOT --port 0``; yields (url, process), stopped with SIGINT on leaving;
    then ``process.stderr_text`` holds what it printed on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nnreg", "board", str(root), "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
    reader.start()
    try:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the board printed no URL in {timeout} s") from None
        url = line[line.index("http://") :].split()[0]
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        reader.join(10)
        process.stderr_text = "".join(errors)


def get_json(url: str, timeout: float = 30.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body, timeout: float = 30.0) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_status(url: str, timeout: float = 30.0) -> tuple[int, object]:
    """(status, JSON body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def first_event(url: str, timeout: float = 30.0) -> tuple[str, object]:
    """The first server-sent event of a stream: (event, data parsed)."""
    event, data = None, []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif not line and event:
                return event, json.loads("\n".join(data))
    raise AssertionError(f"{url} ended before its first event")


@contextlib.contextmanager
def served(app, timeout: float = 60.0):
    """``app`` served by uvicorn in a thread of this process (any free loopback port), so a
    test can look at the application's state; yields the URL. Stopped on leaving (the
    application's shutdown stops the runs it started)."""
    import uvicorn

    from nnreg.board import bind, url_of

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout, what="the server")
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def wait_for(condition, timeout: float = 60.0, every: float = 0.1, what: str = "a condition"):
    """Call ``condition()`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
