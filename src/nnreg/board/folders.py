"""The run folders under the board's folder: finding them, their status and headline numbers,
their metrics as they grow, and their weights at an epoch.

Only folders found under the root are ever read: a run is named by its path relative to the
root (``l2`` or ``sweep/cells/l2-lmbda5``), and :meth:`RunIndex.folder` refuses any name it
did not find there (``..``, absolute paths, links leading out), so no request can read a file
elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.checkpoints import has_checkpoint, load_parameters
from nnreg.datasets.dataset import image_shape
from nnreg.runs import (
    CONFIG,
    INITIAL_PARAMETERS,
    METRICS,
    PARAMETERS,
    SNAPSHOTS,
    SUMMARY,
    is_training,
)

LOG = "board.log"
"""The output of a run started from the board (its errors included), kept in its folder."""

SWEEP_GRID = "grid.json"
MAX_DEPTH = 6
MAX_RUNS = 5000
HISTOGRAM_BINS = 41


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
        self._scanned_at = -1.0
        self._names: list[str] = []
        self._known: set[str] = set()
        self._scan_every = self.refresh
        self._runs_every = self.refresh / 2
        self._rows: dict[str, tuple] = {}
        self._sweeps: dict[str, str] = {}
        self._tails: dict[str, _Tail] = {}
        self._runs_lock = threading.Lock()
        self._runs_at = -1.0
        self._runs: list[dict[str, Any]] = []
        self._parsed: dict[Path, tuple] = {}

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
            self._scanned_at = -1.0
        with self._runs_lock:
            self._runs_at = -1.0

    def _scan(self) -> tuple[list[str], dict[str, str]]:
        found: list[tuple[float, str]] = []
        sweeps: dict[str, str] = {}
        for here, folders, files in os.walk(self.root):  # never follows links
            path = Path(here)
            depth = len(path.relative_to(self.root).parts)
            name = path.relative_to(self.root).as_posix()
            if (CONFIG in files or LOG in files) and path != self.root:
                found.append((_modified(path), name))
                if (path.parent.parent / SWEEP_GRID).is_file():
                    sweeps[name] = path.parent.parent.relative_to(self.root).as_posix()
                folders.clear()  # nothing but snapshots inside a run folder
            elif depth >= MAX_DEPTH or len(found) >= MAX_RUNS:
                folders.clear()
            else:
                folders[:] = sorted(f for f in folders if not f.startswith("."))
        names = list(dict.fromkeys(name for _, name in sorted(found, reverse=True)))
        return names, sweeps

    def folder(self, name: Any) -> Path:
        """The folder of the run called ``name``; :class:`UnknownRun` for anything else."""
        self.names()  # looked at again when stale
        if not isinstance(name, str) or name not in self._known:
            raise UnknownRun(name)
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise UnknownRun(name)
        return path

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
        fraction of zero weights. A folder whose files cannot be read is a failed run with
        the reason, never an error of the whole list."""
        folder = self.folder(name)
        try:
            stamp = _stamps(folder, (CONFIG, SUMMARY, METRICS, LOG))
            cached = self._rows.get(name)
            if cached is not None and cached[0] == stamp and name not in self.launched:
                return cached[1]
            row = self._run(name, folder)
            if row["status"] in ("finished", "diverged", "failed") and name not in self.launched:
                self._rows[name] = (stamp, row)  # stays so until one of its files changes
            return row
        except Exception as error:  # noqa: BLE001 - one damaged run must not hide the others
            return {
                **_unreadable(name),
                "sweep": self._sweeps.get(name),
                "error": f"its files cannot be read ({type(error).__name__}: {error})",
            }

    def _run(self, name: str, folder: Path) -> dict[str, Any]:
        config = _dict_or_none(self._json(folder / CONFIG))
        settings = _dict_or_none(_get(config, "settings")) or {}
        summary = self._json(folder / SUMMARY)
        last = self._last_record(name, folder / METRICS)
        status, error = self._status(name, folder, config, summary, last)
        epoch = _get(last, "epoch")
        shown = None if status == "diverged" else last  # a diverged epoch's numbers mean nothing
        return {
            "name": name,
            "sweep": self._sweeps.get(name),
            "status": status,
            "error": error,
            "checkpoint": has_checkpoint(folder),
            "snapshots": (folder / SNAPSHOTS).is_dir(),
            "launched": name in self.launched,
            "modified": _modified(folder),
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
        if config is not None and summary is None and is_training(folder):
            return "running", None
        for file, content in ((CONFIG, config), (SUMMARY, summary)):
            if content is None and (folder / file).exists() or content is _UNREADABLE:
                return "failed", f"{file} cannot be read: is it damaged?"
        error = _last_error(folder / LOG) if child is None or child.returncode != 0 else None
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

    def readable(self, path: Path) -> bool:
        """Whether ``path`` is a file inside the root (a link leading out is not). A plain
        file of a run folder is (the folder was found under the root without following
        links, and checked by :meth:`folder`); a link is followed to see where it leads."""
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                return True
            if not stat.S_ISLNK(mode):
                return False
            return path.is_file() and Path(os.path.realpath(path)).is_relative_to(self.root)
        except OSError:
            return False

    def _json(self, path: Path) -> Any:
        """A JSON object file's content, parsed again only when the file changed: None when
        there is none, ``_UNREADABLE`` when it is not a JSON object or leads out of the root."""
        try:
            info = path.stat()
        except OSError:
            return None
        if not self.readable(path):
            return _UNREADABLE
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._parsed.get(path)
        if cached is None or cached[0] != stamp:
            content = _json_or_none(path)
            cached = self._parsed[path] = (
                stamp,
                content if isinstance(content, dict) else _UNREADABLE,
            )
        return cached[1]

    def _last_record(self, name: str, path: Path) -> dict[str, Any] | None:
        tail = self._tails.setdefault(name, _Tail())
        try:
            info = path.stat()
        except OSError:
            return None
        if not self.readable(path):
            return None
        stamp = (info.st_size, info.st_mtime_ns)
        if stamp != tail.stamp:
            tail.stamp, tail.last = stamp, _last_line_record(path, info.st_size)
        return tail.last

    # --- one run in full ------------------------------------------------------------------

    def config(self, name: str) -> dict[str, Any] | None:
        return _dict_or_none(self._json(self.folder(name) / CONFIG))

    def records(self, name: str) -> list[dict[str, Any]]:
        """The run's metrics records so far (complete lines only)."""
        return self.follow(name).new_records()[1]

    def follow(self, name: str, have: int = 0) -> MetricsFollower:
        """A reader of the run's metrics as they grow, for a client holding ``have`` records."""
        return MetricsFollower(self.folder(name) / METRICS, have, self.readable)

    def epochs_with_weights(self, name: str) -> dict[int, Path]:
        """The epochs whose parameters the run kept: 0 (the initial ones), every snapshot,
        and else the last epoch (``parameters.npz``)."""
        folder = self.folder(name)
        kept: dict[int, Path] = {}
        if self.readable(folder / INITIAL_PARAMETERS):
            kept[0] = folder / INITIAL_PARAMETERS
        snapshots = [
            path
            for path in sorted((folder / SNAPSHOTS).glob("epoch-*.npz"))
            if SNAPSHOT_NAME.fullmatch(path.name) and self.readable(path)
        ]
        for path in snapshots:
            kept[int(path.stem.removeprefix("epoch-"))] = path
        if not snapshots and self.readable(folder / PARAMETERS):
            records = self.records(name)
            good = [r["epoch"] for r in records if not r.get("diverged") and "epoch" in r]
            if good:
                kept[good[-1]] = folder / PARAMETERS
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
                weights = _network_weights(kept[tried])
                epoch = tried
                break
            except ValueError:
                if tried == epoch or tried == min(kept):  # asked for, or none readable
                    raise
        first = weights[0]
        return {
            "epoch": epoch,
            "epochs": list(kept),
            "first_layer": {
                "units": first.shape[0],
                "inputs": first.shape[1],
                "image": list(image_shape(first.shape[1])),
                "values": _float32_base64(first),
            },
            "layers": [_histogram(np.asarray(w)) for w in weights],
        }


class MetricsFollower:
    """Reads a metrics file as it grows: each call parses only the complete lines appended
    since the last one. A file replaced (a resumed run rewrites it) is read again from its
    start. Records are counted as parsed (a line that is not a JSON object is skipped)."""

    def __init__(self, path: Path, have: int = 0, readable=lambda path: True) -> None:
        self.path = Path(path)
        self.readable = readable
        self.have = have  # records the reader holds already
        self.count = 0  # records read from the file so far
        self.offset = 0
        self.inode: int | None = None

    def new_records(self) -> tuple[int, list[dict[str, Any]]]:
        """(index of the first new record, the new records) — none when nothing was added."""
        try:
            info = self.path.stat()
        except OSError:
            return self.count, []
        if not self.readable(self.path):
            return self.count, []
        if self.inode is not None and (info.st_ino != self.inode or info.st_size < self.offset):
            self.offset, self.count, self.have = 0, 0, 0  # replaced: the reader starts over
        self.inode = info.st_ino
        if info.st_size == self.offset:
            return max(self.count, self.have), []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(info.st_size - self.offset)
        end = data.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        first, self.count = self.count, self.count + len(records)
        if first == 0 and self.have > self.count:  # the reader's copy is of a replaced file
            self.have = 0
        skipped = max(0, min(len(records), self.have - first))
        return first + skipped, records[skipped:]


def _network_weights(path: Path) -> list[np.ndarray]:
    """The weight matrices in a parameter file; ``ValueError`` when they are not a
    network's (named by the file's name only: no server path is shown)."""
    try:
        weights, _ = load_parameters(path)
    except ValueError:
        raise ValueError(f"{path.name} is not a readable nnreg parameter file") from None
    if any(np.ndim(w) != 2 for w in weights):
        raise ValueError(f"{path.name} does not hold a network's weight matrices")
    return [np.asarray(w) for w in weights]


def _histogram(weights: np.ndarray) -> dict[str, Any]:
    """Counts of the non-zero weights in equal bins over ±(largest magnitude), and the count
    of weights exactly 0."""
    values = weights.ravel()
    zero = values == 0
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    finite = np.isfinite(values)
    if not np.isfinite(largest) or largest == 0:
        largest = float(np.max(np.abs(values[finite]), initial=0.0)) or 1.0
    counts, edges = np.histogram(values[~zero & finite], HISTOGRAM_BINS, (-largest, largest))
    return {
        "shape": list(weights.shape),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "zeros": int(zero.sum()),
        "not_finite": int((~finite).sum()),
    }


def _float32_base64(values: np.ndarray) -> str:
    """Little-endian float32, keeping every non-zero value non-zero (and every zero zero)."""
    small = values.astype("<f4")
    lost = (small == 0) & (values != 0)
    small[lost] = np.copysign(np.float32(1e-45), values[lost])
    return base64.b64encode(small.tobytes()).decode()


_UNREADABLE = object()
"""A file that is there but holds no JSON object (or leads out of the root)."""
SNAPSHOT_NAME = re.compile(r"epoch-\d{1,9}\.npz")


def _stamps(folder: Path, names: tuple[str, ...]) -> tuple:
    """Size and modification time of each file (None for one that is not there)."""
    stamps = []
    for name in names:
        try:
            info = os.stat(folder / name)
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


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


def _modified(folder: Path) -> float:
    for name in (CONFIG, LOG):
        try:
            return (folder / name).stat().st_mtime
        except OSError:
            continue
    return 0.0


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _last_line_record(path: Path, size: int) -> dict[str, Any] | None:
    """The last complete line of a metrics file that is a JSON object, parsed (None when
    there is none): read from the end, a larger piece at a time."""
    chunk = 1 << 16
    with open(path, "rb") as handle:
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
                except ValueError:
                    continue
                if isinstance(record, dict):
                    return record
            if start == 0:
                return None
            chunk *= 4


def _last_error(path: Path) -> str | None:
    """The last error line nnreg train printed into a board run's log."""
    if path.is_symlink():
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    marks = ("Error:", "Training diverged:", "Interrupted", "Traceback", "nnreg: ")
    for line in reversed(lines):
        if line.startswith(marks):
            return line.strip()
    return None
