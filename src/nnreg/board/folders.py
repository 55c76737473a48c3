"""The run folders under the board's folder: finding them, their status and headline numbers,
their metrics as they grow, and their weights at an epoch.

Only folders found under the root are ever read: a run is named by its path relative to the
root (``l2`` or ``sweep/cells/l2-lmbda5``), and :meth:`RunIndex.folder` refuses any name it
did not find there (``..``, absolute paths). Every file is read through
:mod:`nnreg.board.safe_files`: never through a link (in any component of its path), never a
FIFO, socket or device, so no request can read a file elsewhere or make the board wait. A run
folder holding such a thing where one of its files should be is one failed row that names it.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnreg.board.safe_files import Folder, UnsafePath, lstat_or_none, open_file, open_folder
from nnreg.board.weights import network_weights, shown_weights, snapshot_files
from nnreg.checkpoints import CHECKPOINT, PREVIOUS_CHECKPOINT
from nnreg.runs import (
    CONFIG,
    INITIAL_PARAMETERS,
    LOCK,
    METRICS,
    PARAMETERS,
    SNAPSHOTS,
    SUMMARY,
)

LOG = "board.log"
"""The output of a run started from the board (its errors included), kept in its folder."""

SWEEP_GRID = "grid.json"
MAX_DEPTH = 6
MAX_RUNS = 5000
MAX_JSON_BYTES = 16 << 20
"""The largest config.json or summary.json read (they hold a few kilobytes)."""
LOG_TAIL_BYTES = 64 << 10
"""How much of the end of a run's board.log is searched for its error."""
METRICS_READ_BYTES = 64 << 20
"""The most of a metrics file read at once (a line longer than this is no record)."""
RUN_FILES = (
    CONFIG,
    SUMMARY,
    METRICS,
    LOG,
    LOCK,
    INITIAL_PARAMETERS,
    PARAMETERS,
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
)
"""The files of a run folder the board looks at: each must be a plain file when there."""
CHECKPOINTS = (CHECKPOINT, PREVIOUS_CHECKPOINT)


class UnknownRun(LookupError):
    """No run folder of that name under the root."""


@dataclass
class _Tail:
    """The last metrics record of a file, cached by the file's size and modification time."""

    stamp: tuple[int, int] = (-1, -1)
    last: dict[str, Any] | None = None


@dataclass
class RunIndex:
    """The run folders under ``root``, scanned again at most every ``refresh`` seconds.

    ``launched`` maps a run's name to the board's child process training it (see
    :class:`~nnreg.board.launcher.Launcher`), so a run the board started is "running" from
    the moment it starts, before its folder holds a config."""

    root: Path
    refresh: float = 0.5
    launched: dict[str, Any] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self._lock = threading.Lock()
        self._scanned_at = -math.inf  # looked at first at the first question
        self._names: list[str] = []
        self._known: set[str] = set()
        self._scan_every = self.refresh
        self._runs_every = self.refresh / 2
        self._rows: dict[str, tuple] = {}
        self._sweeps: dict[str, str] = {}
        self._tails: dict[str, _Tail] = {}
        self._runs_lock = threading.Lock()
        self._runs_at = -math.inf
        self._runs: list[dict[str, Any]] = []
        self._parsed: dict[tuple[str, str], tuple] = {}

    # --- finding runs -------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every run's name, newest first (rescanned when older than ``refresh``)."""
        with self._lock:
            if time.monotonic() - self._scanned_at >= self._scan_every:
                started = time.monotonic()
                self._names, self._sweeps = self._scan()
                self._known = set(self._names)
                self._scanned_at = time.monotonic()
                # a big tree is looked at less often: at most a fifth of the time scanning
                self._scan_every = max(self.refresh, 5 * (self._scanned_at - started))
            return list(self._names)

    def rescan(self) -> None:
        """Look at the folders again at the next question (a run was just started)."""
        with self._lock:
            self._scanned_at = -math.inf
        with self._runs_lock:
            self._runs_at = -math.inf

    def _scan(self) -> tuple[list[str], dict[str, str]]:
        found: list[tuple[float, str]] = []
        sweeps: dict[str, str] = {}
        for here, folders, files in os.walk(self.root):  # never follows links
            path = Path(here)
            depth = len(path.relative_to(self.root).parts)
            name = path.relative_to(self.root).as_posix()
            if (CONFIG in files or LOG in files) and path != self.root:
                found.append((_modified(lambda file, here=path: lstat_or_none(here / file)), name))
                if _is_plain(lstat_or_none(path.parent.parent / SWEEP_GRID)):
                    sweeps[name] = path.parent.parent.relative_to(self.root).as_posix()
                folders.clear()  # nothing but snapshots inside a run folder
            elif depth >= MAX_DEPTH or len(found) >= MAX_RUNS:
                folders.clear()
            else:
                folders[:] = sorted(f for f in folders if not f.startswith("."))
        names = list(dict.fromkeys(name for _, name in sorted(found, reverse=True)))
        return names, sweeps

    def folder(self, name: Any) -> Path:
        """The folder of the run called ``name``; :class:`UnknownRun` for anything else (a
        name not found by the last look, or a folder since gone or reached through a link)."""
        self._check_known(name)
        try:
            self.open_run(name).close()
        except OSError:
            raise UnknownRun(name) from None
        return self.root / name

    def open_run(self, name: str) -> Folder:
        """The run's folder held open (read what is in it through this; see
        :mod:`~nnreg.board.safe_files`); ``OSError`` when it is gone or behind a link."""
        self._check_known(name)
        return open_folder(self.root, name)

    def _check_known(self, name: Any) -> None:
        self.names()  # looked at again when stale
        if not isinstance(name, str) or name not in self._known:
            raise UnknownRun(name)

    # --- what the runs list shows ---------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """Every run's settings, status and headline numbers (see :meth:`run`); clients
        asking within ``refresh / 2`` seconds of each other (longer for a folder of many
        runs) share one look at the folders."""
        with self._runs_lock:
            if time.monotonic() - self._runs_at >= self._runs_every:
                started = time.monotonic()
                self._runs = [self.run(name) for name in self.names()]
                self._runs_at = time.monotonic()
                # many runs are looked at less often: at most a fifth of the time looking
                self._runs_every = max(self.refresh / 2, 5 * (self._runs_at - started))
            return self._runs

    def run(self, name: str) -> dict[str, Any]:
        """One run: settings, status (starting, running, finished, interrupted, diverged or
        failed), the error that ended it, epochs done, the last epoch's accuracies and
        fraction of zero weights. A folder whose files cannot be read, or that holds a link,
        FIFO, socket or device where one of its files (or ``snapshots/``) should be, is a
        failed run with the reason, never an error of the whole list."""
        self._check_known(name)
        try:
            with self.open_run(name) as folder:
                stamp = _stamps(folder)
                cached = self._rows.get(name)
                if cached is not None and cached[0] == stamp and name not in self.launched:
                    return cached[1]
                row = self._run(name, folder)
            if row["status"] in ("finished", "diverged", "failed") and name not in self.launched:
                self._rows[name] = (stamp, row)  # stays so until one of its files changes
            return row
        except UnsafePath as error:
            reason = str(error)
        except Exception as error:  # noqa: BLE001 - one damaged run must not hide the others
            reason = f"its files cannot be read ({type(error).__name__}: {error})"
        return {**_unreadable(name), "sweep": self._sweeps.get(name), "error": reason}

    def _run(self, name: str, folder: Folder) -> dict[str, Any]:
        config = _dict_or_none(self._json(name, folder, CONFIG))
        settings = _dict_or_none(_get(config, "settings")) or {}
        summary = self._json(name, folder, SUMMARY)
        last = self._last_record(name, folder)
        status, error = self._status(name, folder, config, summary, last)
        epoch = _get(last, "epoch")
        shown = None if status == "diverged" else last  # a diverged epoch's numbers mean nothing
        return {
            "name": name,
            "sweep": self._sweeps.get(name),
            "status": status,
            "error": error,
            "checkpoint": any(folder.info(file) is not None for file in CHECKPOINTS),
            "snapshots": folder.info(SNAPSHOTS) is not None,
            "launched": name in self.launched,
            "modified": _modified(folder.info),
            "epoch": epoch if isinstance(epoch, int) else 0,
            "epochs": _number(settings.get("epochs")),
            "settings": {
                key: settings.get(key)
                for key in ("data", "sizes", "reg", "lmbda", "eta", "batch_size", "seed")
            },
            "regularizer": _text(settings.get("reg")) or _text(_get(config, "regularizer", "name")),
            "training_set_size": _number(_get(config, "training_set_size")),
            "validation_accuracy": _number(_get(shown, "validation", "accuracy")),
            "test_accuracy": _number(_get(shown, "test", "accuracy")),
            "fraction_zero": _number(_get(shown, "weights", "fraction_zero")),
            "stopped": _text(_get(summary, "stopped")),
        }

    def _status(self, name, folder, config, summary, last) -> tuple[str, str | None]:
        child = self.launched.get(name)
        if child is not None and child.poll() is None:
            return ("running" if config else "starting"), None
        if config is not None and summary is None and _is_training(folder):
            return "running", None
        for file, content in ((CONFIG, config), (SUMMARY, summary)):
            if content is None and folder.info(file) is not None or content is _UNREADABLE:
                return "failed", f"{file} cannot be read: is it damaged?"
        error = _last_error(folder) if child is None or child.returncode != 0 else None
        if _get(last, "diverged"):
            return "diverged", error or (
                f"training diverged in epoch {_get(last, 'epoch')}: the cost became NaN or "
                "infinite. Start again with a smaller η (or λ)."
            )
        if summary is not None:
            return "finished", None
        if config is None:
            if name in self.stopped:
                return "failed", "stopped before training began: nothing was trained"
            return "failed", error or "the run stopped before it wrote its settings"
        if error and not error.startswith("Interrupted"):
            return "failed", error
        return "interrupted", None

    def _json(self, name: str, folder: Folder, file: str) -> Any:
        """A JSON object file's content, parsed again only when the file changed: None when
        there is none, ``_UNREADABLE`` when it is not a JSON object or not a plain file."""
        try:
            handle = folder.open(file)
        except FileNotFoundError:
            return None
        except OSError:
            return _UNREADABLE
        with handle:
            info = os.fstat(handle.fileno())
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
            cached = self._parsed.get((name, file))
            if cached is None or cached[0] != stamp:
                content = _json_or_none(handle, info.st_size)
                cached = self._parsed[name, file] = (
                    stamp,
                    content if isinstance(content, dict) else _UNREADABLE,
                )
        return cached[1]

    def _last_record(self, name: str, folder: Folder) -> dict[str, Any] | None:
        tail = self._tails.setdefault(name, _Tail())
        try:
            handle = folder.open(METRICS)
        except OSError:
            return None
        with handle:
            info = os.fstat(handle.fileno())
            stamp = (info.st_size, info.st_mtime_ns)
            if stamp != tail.stamp:
                tail.stamp, tail.last = stamp, _last_line_record(handle, info.st_size)
        return tail.last

    # --- one run in full ------------------------------------------------------------------

    def config(self, name: str) -> dict[str, Any] | None:
        try:
            with self.open_run(name) as folder:
                return _dict_or_none(self._json(name, folder, CONFIG))
        except OSError:
            return None

    def records(self, name: str) -> list[dict[str, Any]]:
        """The run's metrics records so far (complete lines only)."""
        return self.follow(name).new_records()[1]

    def follow(self, name: str, have: int = 0) -> MetricsFollower:
        """A reader of the run's metrics as they grow, for a client holding ``have`` records."""
        return MetricsFollower(self.folder(name) / METRICS, have, self.root)

    def epochs_with_weights(self, name: str) -> dict[int, str]:
        """The epochs whose parameters the run kept, each with its file (in the run's
        folder): 0 (the initial ones), every snapshot, and else the last epoch
        (``parameters.npz``). Only plain files count: a link or FIFO is left out, as is a
        ``snapshots`` that is not a folder."""
        try:
            folder = self.open_run(name)
        except OSError:
            raise UnknownRun(name) from None
        kept: dict[int, str] = {}
        with folder:
            if folder.is_file(INITIAL_PARAMETERS):
                kept[0] = INITIAL_PARAMETERS
            snapshots = snapshot_files(folder)
            for file in snapshots:
                kept[int(file.removeprefix("epoch-").removesuffix(".npz"))] = f"{SNAPSHOTS}/{file}"
            last_only = not snapshots and folder.is_file(PARAMETERS)
        if last_only:
            records = self.records(name)
            good = [
                r["epoch"]
                for r in records
                if not r.get("diverged") and type(r.get("epoch")) is int and r["epoch"] >= 0
            ]
            if good:
                kept[good[-1]] = PARAMETERS
        return dict(sorted(kept.items()))

    def weights(self, name: str, epoch: int | None = None) -> dict[str, Any]:
        """The weights after ``epoch`` (the last kept one by default): the first layer as
        images (float32, base64) and a histogram per layer, exact zeros counted apart; no
        epoch and none listed before the run has written its initial parameters."""
        kept = self.epochs_with_weights(name)
        if not kept:
            return {"epoch": None, "epochs": []}
        if epoch is not None and epoch not in kept:
            raise KeyError(epoch)
        for tried in [epoch] if epoch is not None else sorted(kept, reverse=True):
            try:
                weights = network_weights(self.root, f"{name}/{kept[tried]}")
                epoch = tried
                break
            except ValueError:
                if tried == epoch or tried == min(kept):  # asked for, or none readable
                    raise
        return shown_weights(weights, epoch, list(kept))


class MetricsFollower:
    """Reads a metrics file as it grows: each call parses only the complete lines appended
    since the last one. A file replaced (a resumed run rewrites it) is read again from its
    start. Records are counted as parsed (a line that is not a JSON object is skipped).

    The file is opened under ``root`` (by default its own folder) through
    :mod:`~nnreg.board.safe_files`: no link on the way, and a plain file only."""

    def __init__(self, path: Path, have: int = 0, root: Path | None = None) -> None:
        self.path = Path(path)
        self.root = self.path.parent if root is None else Path(root)
        self.have = have  # records the reader holds already
        self.count = 0  # records read from the file so far
        self.offset = 0
        self.inode: int | None = None

    def new_records(self) -> tuple[int, list[dict[str, Any]]]:
        """(index of the first new record, the new records) — none when nothing was added."""
        try:
            handle = open_file(self.root, self.path)
        except OSError:
            return self.count, []
        with handle:
            info = os.fstat(handle.fileno())
            if self.inode is not None and (info.st_ino != self.inode or info.st_size < self.offset):
                self.offset, self.count, self.have = 0, 0, 0  # replaced: the reader starts over
            self.inode = info.st_ino
            if info.st_size == self.offset:
                return max(self.count, self.have), []
            handle.seek(self.offset)
            data = handle.read(min(info.st_size - self.offset, METRICS_READ_BYTES))
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) == METRICS_READ_BYTES:
            end = len(data)  # no line ends in it: no record is that long, skip it
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                records.append(record)
        first, self.count = self.count, self.count + len(records)
        if first == 0 and self.have > self.count:  # the reader's copy is of a replaced file
            self.have = 0
        skipped = max(0, min(len(records), self.have - first))
        return first + skipped, records[skipped:]


_UNREADABLE = object()
"""A file that is there but holds no JSON object (or leads out of the root)."""


def _stamps(folder: Folder) -> tuple:
    """Inode, size and modification time of each of the run's files (None for one that is
    not there); :class:`UnsafePath` for one that is not a plain file, or a ``snapshots``
    that is not a folder (a link, a FIFO…): the run is then shown as damaged."""
    stamps = []
    for name in RUN_FILES:
        info = folder.file_info(name)
        stamps.append(None if info is None else (info.st_ino, info.st_size, info.st_mtime_ns))
    folder.folder_info(SNAPSHOTS)
    return tuple(stamps)


def _is_plain(info: os.stat_result | None) -> bool:
    return info is not None and stat.S_ISREG(info.st_mode)


def _is_training(folder: Folder) -> bool:
    """Whether a process is training in the run's folder right now, as
    :func:`nnreg.runs.is_training` tells, but opening its lock file safely (a FIFO named
    ``.lock`` would make that wait): the lock is taken shared for an instant."""
    try:
        handle = folder.open(LOCK)
    except OSError:
        return False
    with handle:  # closing releases a lock taken
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def _get(mapping: Any, *keys: str) -> Any:
    """``mapping[key][key]…``, None wherever something is not a dict or has no such key."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | int | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if ok else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _unreadable(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": "failed",
        "checkpoint": False,
        "snapshots": False,
        "launched": False,
        "modified": 0.0,
        "epoch": 0,
        "epochs": None,
        "settings": {},
        "regularizer": None,
        "training_set_size": None,
        "validation_accuracy": None,
        "test_accuracy": None,
        "fraction_zero": None,
        "stopped": None,
    }


def _modified(look) -> float:
    """When the run's config.json (else its board.log) was last written; ``look(name)``
    gives a file's status (None when it is not there)."""
    for name in (CONFIG, LOG):
        info = look(name)
        if info is not None:
            return info.st_mtime
    return 0.0


def _json_or_none(handle, size: int) -> Any:
    """The JSON in an open file; None when it is not JSON (or too large to be a run's)."""
    if size > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(handle.read(MAX_JSON_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def _last_line_record(handle, size: int) -> dict[str, Any] | None:
    """The last complete line of an open metrics file that is a JSON object, parsed (None
    when there is none): read from the end, a larger piece at a time."""
    chunk = 1 << 16
    while True:
        start = max(0, size - chunk)
        handle.seek(start)
        data = handle.read(size - start)
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        if start > 0:
            lines = lines[1:]  # may begin inside a line
        for line in reversed(lines):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                return record
        if start == 0 or chunk >= METRICS_READ_BYTES:
            return None  # no record in the last METRICS_READ_BYTES: none worth finding
        chunk *= 4


def _last_error(folder: Folder) -> str | None:
    """The last error line nnreg train printed into a board run's log (its last
    ``LOG_TAIL_BYTES`` searched)."""
    try:
        with folder.open(LOG) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            text = handle.read(LOG_TAIL_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    marks = ("Error:", "Training diverged:", "Interrupted", "Traceback", "nnreg: ")
    for line in reversed(lines):
        if line.startswith(marks):
            return line.strip()
    return None
