"""What nnreg board reads stays under its folder and never makes it wait: links at every
level of a run's path (the run folder, a sweep's folder, snapshots/, a file, a link holding
``..``, one that stays inside the root) are refused, and a FIFO, socket or device where a
run's file should be is a damaged row, on a real server; then the module that opens the
files (:mod:`nnreg.board.safe_files`) on its own."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import time
import urllib.parse

import pytest

pytest.importorskip("starlette", reason="the board extra is not installed")
pytest.importorskip("uvicorn", reason="the board extra is not installed")
pytest.importorskip("sse_starlette", reason="the board extra is not installed")

from board_server import board, first_event, get_json, get_status, make_run  # noqa: E402

from nnreg.board.folders import RunIndex, UnknownRun  # noqa: E402
from nnreg.board.safe_files import UnsafePath, open_file, open_folder  # noqa: E402

OUTSIDE = {"hidden": 7, "epochs": 3, "seed": 4242}
"""The run outside the board's folder: 7 hidden units, 3 epochs, seed 4242 — none of which
any run inside has, so any of them in an answer is outside content."""
TIMEOUT = 15.0


def outside_content(value) -> list:
    """What in a JSON answer can only come from the run outside the root."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if (key, item) in (("units", 7), ("epoch", 3), ("seed", 4242), ("hidden", 7)):
                found.append((key, item))
            found += outside_content(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += outside_content(item)
    return found


def link(path, target) -> None:
    """Replace ``path`` (a file or a folder) by a link to ``target``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


LINKED = {
    # run name: (the link, under the root; where it leads)
    "linked-run": ("linked-run", "{outside}/run"),
    "sweep/cells/secret": ("sweep/cells", "{outside}/cells"),
    "linked-snapshots": ("linked-snapshots/snapshots", "{outside}/run/snapshots"),
    "dotdot-snapshots": ("dotdot-snapshots/snapshots", "../../outside/run/snapshots"),
    "inside-link": ("inside-link/snapshots", "../good/snapshots"),
    "linked-parameters": ("linked-parameters/parameters.npz", "{outside}/run/parameters.npz"),
    "linked-initial": (
        "linked-initial/initial_parameters.npz",
        "{outside}/run/initial_parameters.npz",
    ),
    "linked-config": ("linked-config/config.json", "{outside}/run/config.json"),
    "linked-metrics": ("linked-metrics/metrics.jsonl", "{outside}/run/metrics.jsonl"),
    "dev-zero": ("dev-zero/metrics.jsonl", "/dev/zero"),
    "dev-zero-parameters": ("dev-zero-parameters/parameters.npz", "/dev/zero"),
}
"""Runs with a link in their path, at each level: above the run folder, the run folder
itself, snapshots/, a file; leading out, holding '..', staying inside, to a device."""


@pytest.fixture(scope="module")
def linked_root(tmp_path_factory):
    """A root of runs each with one link (see ``LINKED``) and a good run, beside a folder
    ``outside`` holding a run with other settings; the server over it."""
    base = tmp_path_factory.mktemp("links")
    root, outside = base / "runs", base / "outside"
    make_run(outside / "run", snapshots=True, **OUTSIDE)
    shutil.copytree(outside / "run", outside / "cells" / "secret")
    make_run(root / "good", snapshots=True)
    (root / "sweep").mkdir()
    (root / "sweep" / "grid.json").write_text("{}")
    for name, (linked, target) in LINKED.items():
        if not name.startswith(linked):  # else the run's folder (or one above it) is the link
            shutil.copytree(root / "good", root / name)
        link(root / linked, target.format(outside=outside))
    with board(root) as (url, _):
        yield root, url


@pytest.mark.parametrize("name", list(LINKED))
def test_a_link_anywhere_in_a_runs_path_never_shows_what_is_outside(linked_root, name):
    root, url = linked_root
    run = urllib.parse.quote(name, safe="")
    runs = {row["name"]: row for row in get_json(url + "api/runs", TIMEOUT)}
    answers = [runs.get(name)]
    for query in ("api/run?run={}", "api/weights?run={}", "api/weights?run={}&epoch=1"):
        answers.append(get_status(url + query.format(run), TIMEOUT))
    for epoch in (0, 2, 3):
        answers.append(get_status(url + f"api/weights?run={run}&epoch={epoch}", TIMEOUT))
    assert outside_content(answers) == []
    linked, _ = LINKED[name]
    if name.startswith(linked):  # the folder is behind a link: no run of that name
        assert name not in runs
        assert all(status == 404 for status, _ in answers[1:])
    else:  # a damaged row that names the link, never its target's numbers
        assert runs[name]["status"] == "failed"
        assert f"{linked} is a link" in runs[name]["error"]
        if linked.endswith("/snapshots"):  # epoch 1's snapshot is never read through it
            assert get_status(url + f"api/weights?run={run}&epoch=1", TIMEOUT)[0] == 404
    assert get_json(url + "api/run?run=good", TIMEOUT)["status"] == "finished"


def test_a_folder_swapped_for_a_link_after_the_board_looked_is_not_followed(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "outside"
    make_run(outside / "cells" / "l2", snapshots=True, **OUTSIDE)
    make_run(root / "sweep" / "cells" / "l2", snapshots=True)
    make_run(root / "other", snapshots=True)
    index = RunIndex(root, refresh=3600)  # the names found now are kept for an hour
    assert set(index.names()) == {"other", "sweep/cells/l2"}
    link(root / "sweep" / "cells", outside / "cells")
    link(root / "other" / "snapshots", "../sweep/cells/l2/snapshots")
    for name in ("sweep/cells/l2", "other"):
        row = index.run(name)
        assert row["status"] == "failed" and "link" in row["error"]
    with pytest.raises(UnknownRun):
        index.weights("sweep/cells/l2", 1)
    with pytest.raises(UnknownRun):
        index.records("sweep/cells/l2")
    assert index.config("sweep/cells/l2") is None
    with pytest.raises(KeyError):  # kept: 0 and the last epoch; not the snapshots behind it
        index.weights("other", 1)
    assert outside_content(index.weights("other")) == []


FIFOS = (
    "board.log",
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "parameters.npz",
    "initial_parameters.npz",
    "checkpoint.npz",
    ".lock",
    "snapshots/epoch-0001.npz",
)


@pytest.fixture(scope="module")
def fifo_root(tmp_path_factory):
    """A root with a good run and, for each of a run's files, a run where that file is a
    FIFO nobody writes to (and one where config.json is a socket); the server over it."""
    root = tmp_path_factory.mktemp("fifos")
    make_run(root / "good", snapshots=True)
    for file in FIFOS:
        folder = root / f"fifo-{file.replace('/', '-')}"
        shutil.copytree(root / "good", folder)
        (folder / file).unlink(missing_ok=True)
        os.mkfifo(folder / file)
    shutil.copytree(root / "good", root / "socket")
    (root / "socket" / "config.json").unlink()
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(root / "socket" / "config.json"))
    with board(root) as (url, _):
        yield root, url
    listening.close()


@pytest.mark.parametrize("file", FIFOS)
def test_a_fifo_named_like_a_run_file_is_a_damaged_row_and_nothing_waits(fifo_root, file):
    root, url = fifo_root
    name = f"fifo-{file.replace('/', '-')}"
    started = time.monotonic()
    runs = {row["name"]: row for row in get_json(url + "api/runs", TIMEOUT)}
    assert runs["good"]["status"] == "finished" and len(runs) == len(FIFOS) + 2
    assert get_json(url + f"api/run?run={name}", TIMEOUT)["name"] == name
    status, weights = get_status(url + f"api/weights?run={name}", TIMEOUT)
    assert status in (200, 404)
    assert first_event(url + f"api/run/events?run={name}", TIMEOUT)[0] in ("metrics", "run")
    assert time.monotonic() - started < TIMEOUT
    if file.startswith("snapshots/"):  # that snapshot is left out; the others are shown
        assert runs[name]["status"] == "finished"
        assert status == 200 and 1 not in weights["epochs"] and 2 in weights["epochs"]
        assert get_status(url + f"api/weights?run={name}&epoch=1", TIMEOUT)[0] == 404
    else:
        assert runs[name]["status"] == "failed"
        assert f"{name}/{file} is a FIFO" in runs[name]["error"]


def test_a_socket_named_like_a_run_file_is_a_damaged_row(fifo_root):
    _, url = fifo_root
    row = get_json(url + "api/run?run=socket", TIMEOUT)
    assert row["status"] == "failed" and "socket/config.json is a socket" in row["error"]


def test_a_device_named_like_a_run_file_is_never_opened(tmp_path):
    make_run(tmp_path / "device")
    (tmp_path / "device" / "metrics.jsonl").unlink()
    try:  # /dev/zero's numbers: reading it would never end
        os.mknod(tmp_path / "device" / "metrics.jsonl", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    except OSError:
        pytest.skip("creating a device file needs privileges this test does not have")
    with board(tmp_path) as (url, _):
        row = get_json(url + "api/run?run=device", TIMEOUT)
    assert row["status"] == "failed" and "metrics.jsonl is a device" in row["error"]


# --- the module on its own -----------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """root/a/b/file.txt, a FIFO, and links at each level, with outside/secret.txt beside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file.txt").write_text("inside")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "a" / "to-outside").symlink_to(outside)
    (root / "a" / "up").symlink_to("..")
    (root / "a" / "b" / "secret.txt").symlink_to(outside / "secret.txt")
    (root / "a" / "b" / "same.txt").symlink_to("file.txt")
    os.mkfifo(root / "a" / "b" / "fifo")
    return root


def test_a_plain_file_under_the_root_is_read(tree):
    with open_file(tree, "a/b/file.txt") as handle:
        assert handle.read() == b"inside"
    with open_file(tree, tree / "a" / "b" / "file.txt") as handle:
        assert handle.read() == b"inside"
    with open_folder(tree, "a") as folder:
        assert sorted(folder.names()) == ["b", "to-outside", "up"]
        assert folder.is_file("b/file.txt") and not folder.is_file("b/secret.txt")


@pytest.mark.parametrize(
    "path, what",
    [
        ("a/to-outside/secret.txt", "a/to-outside is a link"),
        ("a/up/a/b/file.txt", "a/up is a link"),  # a link holding '..'
        ("a/b/secret.txt", "a/b/secret.txt is a link"),
        ("a/b/same.txt", "a/b/same.txt is a link"),  # even one that stays inside
        ("a/b/fifo", "a/b/fifo is a FIFO"),
        ("a/b", "a/b is a folder"),
        ("a/b/file.txt/x", "a/b/file.txt is a plain file, not a folder"),
        ("../outside/secret.txt", "'..'"),
        ("a/../../outside/secret.txt", "'..'"),
        ("/etc/passwd", "not under the board's folder"),
    ],
)
def test_links_fifos_and_climbing_paths_are_refused_without_waiting(tree, path, what):
    with pytest.raises(UnsafePath, match=re.escape(what)):
        open_file(tree, path)


def test_a_missing_file_is_file_not_found_not_refused(tree):
    with pytest.raises(FileNotFoundError):
        open_file(tree, "a/b/none.txt")
    with pytest.raises(FileNotFoundError):
        open_file(tree, "none/file.txt")


def test_appending_refuses_links_and_fifos_and_writes_nothing_outside(tree):
    outside = tree.parent / "outside" / "secret.txt"
    with open_folder(tree, "a/b") as folder:
        with folder.append("log") as handle:
            handle.write(b"line\n")
        for name in ("secret.txt", "fifo", "same.txt"):
            with pytest.raises(UnsafePath):
                folder.append(name)
        with pytest.raises(FileExistsError):
            folder.make_folder("secret.txt")
    assert (tree / "a" / "b" / "log").read_bytes() == b"line\n"
    assert outside.read_text() == "secret"


def test_refusals_leave_no_file_open(tree):
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to count open files")
    before = open_descriptors()
    for _ in range(50):
        for path in ("a/to-outside/secret.txt", "a/b/fifo", "a/b", "a/../x", "a/b/none"):
            with pytest.raises(OSError):
                open_file(tree, path)
        with open_folder(tree, "a") as folder:
            folder.info("b/file.txt"), folder.is_file("up/a"), folder.names()
            for name in ("up", "../b", "b/file.txt"):
                with pytest.raises(UnsafePath):
                    folder.folder(name)
    assert open_descriptors() == before


def test_a_parameter_file_that_would_unpack_too_large_is_not_read(tmp_path, monkeypatch):
    from nnreg.board import weights

    make_run(tmp_path / "run")
    index = RunIndex(tmp_path)
    assert index.weights("run")["epoch"] == 2
    monkeypatch.setattr(weights, "MAX_PARAMETER_BYTES", 1000)  # as a file of many GiB
    with pytest.raises(ValueError, match="parameters.npz is not a readable"):
        index.weights("run", 2)
