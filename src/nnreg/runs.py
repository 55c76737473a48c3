"""Run folders: what a training run leaves behind for later runs, plots and people.

A run folder holds

* ``config.json``: everything needed to repeat the run (network, optimizer,
  regularizer, data, seed, n);
* ``metrics.jsonl``: one JSON object per epoch, written as each epoch ends, so a run
  that stops early keeps its metrics so far;
* ``initial_parameters.npz``: the parameters before the first step;
* ``parameters.npz``: the parameters after the last epoch that did not diverge;
* ``checkpoint.npz`` (and ``checkpoint.previous.npz``): everything needed to resume,
  written after every epoch;
* ``summary.json``: the final result, written when the run ends;
* ``snapshots/epoch-0001.npz``…: optional, every epoch's parameters (``--snapshots``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from nnreg.checkpoints import (
    atomic_write_bytes,
    has_checkpoint,
    load_parameters,
    save_checkpoint,
    save_parameters,
)
from nnreg.network import Network
from nnreg.training import Callback

CONFIG = "config.json"
METRICS = "metrics.jsonl"
PARAMETERS = "parameters.npz"
INITIAL_PARAMETERS = "initial_parameters.npz"
SUMMARY = "summary.json"
SNAPSHOTS = "snapshots"


def snapshot_path(folder: Path, epoch: int) -> Path:
    """Where a run keeping snapshots saves its parameters after ``epoch``."""
    return Path(folder) / SNAPSHOTS / f"epoch-{epoch:04d}.npz"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


def create_run_folder(path: Path, config: dict[str, Any]) -> Path:
    """Make ``path`` (which must not hold a run already) and write its config."""
    path = Path(path)
    if (path / CONFIG).exists():
        raise ValueError(
            f"{path} already holds a run: continue it with nnreg train --resume {path}, or "
            "choose another --out folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG, config)
    except OSError as error:
        raise ValueError(
            f"cannot create the run folder {path}: {error.strerror or error}; choose another "
            "--out folder"
        ) from None
    return path


class RunFolderWriter(Callback):
    """Create a run folder when training starts (after every argument was checked) with
    ``network``'s initial parameters, then after every epoch append its metrics, keep the
    last good parameters and write a checkpoint of ``state`` (see
    :func:`~nnreg.checkpoints.save_checkpoint`; ``extra_state()`` adds plain data such as
    the learning rate). With ``resumed_records`` it continues an existing folder instead:
    the metrics file is rewritten to hold exactly those epochs, and ``moved_data`` (the
    settings saying where the data are now) is recorded in its config. Temporary files that
    a killed process left (``.checkpoint.npz.…tmp``) are removed once the folder is held."""

    def __init__(
        self,
        folder: Path,
        config: dict[str, Any],
        network: Network,
        state=None,
        extra_state=dict,
        resumed_records: list[dict[str, Any]] | None = None,
        snapshots: bool = False,
        moved_data: dict[str, Any] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.moved_data = moved_data
        self.snapshots = snapshots
        self.config = config
        self.network = network
        self.state = state
        self.extra_state = extra_state
        self.resumed = resumed_records is not None
        self.records = list(resumed_records or [])

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None:
        self.lock = lock_run_folder(self.folder, create=not self.resumed)
        remove_leftovers(self.folder)
        if self.resumed:
            lines = "".join(metrics_line(record) for record in self.records).encode()
            with self._writing():
                atomic_write_bytes(self.folder / METRICS, lambda handle: handle.write(lines))
                if self.moved_data:
                    config = read_config(self.folder)
                    config["settings"].update(self.moved_data)
                    write_json(self.folder / CONFIG, config)
            return
        create_run_folder(self.folder, self.config)
        save_parameters(self.folder / INITIAL_PARAMETERS, self.network.weights, self.network.biases)
        if self.snapshots:
            with self._writing():
                (self.folder / SNAPSHOTS).mkdir(exist_ok=True)

    def on_epoch_end(self, record: dict[str, Any], network: Network) -> None:
        if not record.get("diverged"):
            # saved before the metrics line, so the line can say what saving took; killed
            # in between, the checkpoint holds the epoch and a resume writes its line
            started = time.perf_counter()
            self.records.append(record)
            self._save(network, parameters=True)
            seconds = time.perf_counter() - started
            if isinstance(record.get("time"), dict):
                record["time"]["checkpoint"] = seconds
                record["time"]["epoch"] = record["time"].get("epoch", 0.0) + seconds
        with open(self.folder / METRICS, "a", encoding="utf-8") as handle:
            handle.write(metrics_line(record))

    def on_interrupt(self, history, network: Network) -> None:
        try:
            self._save(network, parameters=False)
        finally:  # training is over: the folder is free for a resume right away
            self.release()

    def on_train_end(self, history, network: Network) -> None:
        self.release()

    def on_abort(self) -> None:
        self.release()  # the last epoch's checkpoint stays the one to resume from

    def release(self) -> None:
        """Let go of the run folder's lock (training in it is over)."""
        if getattr(self, "lock", None) is not None:
            self.lock.close()
            self.lock = None

    def _save(self, network: Network, parameters: bool) -> None:
        with self._writing():
            if parameters:
                save_parameters(self.folder / PARAMETERS, network.weights, network.biases)
                if self.snapshots and self.records:
                    epoch = self.records[-1]["epoch"]
                    path = snapshot_path(self.folder, epoch)
                    save_parameters(path, network.weights, network.biases)
            if self.state is not None:
                save_checkpoint(self.folder, network, self.state, self.records, self.extra_state())

    @contextlib.contextmanager
    def _writing(self):
        """A failed write (disk full, read-only folder) leaves the previous files intact
        (every write is a rename of a complete temporary file) and says what there is."""
        try:
            yield
        except OSError as error:
            if has_checkpoint(self.folder):
                kept = (
                    "the previous checkpoint and parameters are intact: free some space or "
                    "make the folder writable, then resume with: nnreg train --resume "
                    f"{self.folder}"
                )
            else:
                kept = (
                    "no checkpoint had been written yet, so nothing trained was kept: free "
                    "some space or make the folder writable, then resume with: nnreg train "
                    f"--resume {self.folder} (it trains again from the initial parameters, "
                    "to the same result)"
                )
            raise OSError(
                error.errno,
                f"could not write to {self.folder} ({error.strerror or error}); {kept}",
            ) from None


WRITTEN_WHILE_HELD = (CONFIG, METRICS, PARAMETERS, INITIAL_PARAMETERS, "checkpoint.npz")
"""The files only a process holding the run folder's lock writes (parameter files, and
snapshots, all end in .npz)."""
LEFTOVER = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")
"""The temporary file a write leaves when its process is killed (see
:func:`~nnreg.checkpoints.temporary_file_beside`)."""


def remove_leftovers(folder: Path, older_than: float = 60.0) -> list[Path]:
    """Remove the temporary files killed processes left in a run folder (and its snapshots),
    called while holding its lock: a temporary file of a file only the lock holder writes is
    always a leftover; of any other (summary.json, written after training) only once older
    than ``older_than`` seconds. Returns those removed."""
    removed = []
    for place in (Path(folder), Path(folder) / SNAPSHOTS):
        try:
            entries = list(os.scandir(place))
        except OSError:
            continue
        for entry in entries:
            match = LEFTOVER.fullmatch(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            name = match["name"]
            held = name in WRITTEN_WHILE_HELD or name.endswith(".npz")
            try:
                if held or time.time() - entry.stat(follow_symlinks=False).st_mtime > older_than:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue
    return removed


def repair_initial_parameters(folder: Path, network: Network) -> bool:
    """Write ``network``'s parameters (the run's initial ones, rebuilt from its seed) as the
    folder's initial parameters when that file is missing or unreadable; True if written."""
    path = Path(folder) / INITIAL_PARAMETERS
    try:
        load_parameters(path)
        return False
    except ValueError:
        save_parameters(path, network.weights, network.biases)
        return True


def metrics_line(record: dict[str, Any]) -> str:
    """One epoch as strict JSON: NaN and ±inf (a diverged cost) are written as null."""
    return json.dumps(finite_or_none(record), allow_nan=False) + "\n"


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN and ±inf inside it (dicts, lists) replaced by None, as strict
    JSON needs."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    return value


LOCK = ".lock"


def lock_run_folder(folder: Path, create: bool):
    """Hold an exclusive lock on ``folder/.lock`` while training (released when the file
    is closed or the process ends); a second process gets a clear error instead of
    corrupting the run."""
    folder = Path(folder)
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK, "a+")  # noqa: SIM115 - held until training ends
    except OSError as error:
        raise ValueError(
            f"cannot create the run folder {folder}: {error.strerror or error}; choose another "
            "--out folder"
        ) from None
    if not _lock_soon(handle, fcntl.LOCK_EX):
        handle.close()
        raise ValueError(
            f"another nnreg process is training in {folder} right now: wait for it to finish, "
            "or choose another --out folder"
        ) from None
    return handle


def _lock_soon(handle, kind: int, seconds: float = 0.5) -> bool:
    """Take the lock, waiting up to ``seconds`` for a reader's brief look (see
    :func:`is_training`); False when another process keeps it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(handle, kind | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def is_training(folder: Path) -> bool:
    """Whether a process is training in ``folder`` right now (it holds the folder's lock).
    Looks by taking a shared lock for an instant, never creating or writing a file."""
    try:  # non-blocking: a FIFO named .lock must not make the caller wait
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # not a lock nnreg made
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken
    return False


class RunFolderWarning(UserWarning):
    """Part of a run folder could not be read and was left out (e.g. damaged parameters)."""


def read_config(folder: Path) -> dict[str, Any]:
    """A run folder's config.json; ``ValueError`` when there is none or it is not a run's."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        raise ValueError(f"{folder} is not an nnreg run folder (no {CONFIG})")
    config = _read_json(folder / CONFIG)
    if not isinstance(config, dict):
        raise ValueError(f"{folder / CONFIG} does not hold an nnreg run's configuration")
    return config


def read_run(folder: Path) -> dict[str, Any]:
    """Config, per-epoch metrics, summary (if written), final and initial parameters (each
    None when missing) of a run folder."""
    folder = Path(folder)
    config = read_config(folder)
    problems: list[str] = []
    metrics_path = folder / METRICS
    metrics = []
    if metrics_path.is_file():
        text = metrics_path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line]
        if lines and not text.endswith("\n") and not _parses(lines[-1]):
            # a process killed while appending: the epoch is in the checkpoint, not lost
            problems.append(f"{metrics_path}: the last line is incomplete and was left out")
            lines.pop()
        metrics = [_parse_json(line, metrics_path) for line in lines]
        if not all(isinstance(record, dict) for record in metrics):
            raise ValueError(f"{metrics_path} does not hold one JSON object per epoch")
    summary_path = folder / SUMMARY
    summary = _read_json(summary_path) if summary_path.is_file() else None
    return {
        "config": config,
        "metrics": metrics,
        "summary": summary,
        "parameters": _parameters_if_saved(folder / PARAMETERS, problems),
        "initial_parameters": _parameters_if_saved(folder / INITIAL_PARAMETERS, problems),
        "problems": problems,
    }


def _parameters_if_saved(path: Path, problems: list[str]):
    """The parameters in ``path``; None when it is missing, or damaged (noted in ``problems``)."""
    if not path.is_file():
        return None
    try:
        return load_parameters(path)
    except ValueError as error:
        problems.append(str(error))
        return None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _read_json(path: Path) -> Any:
    return _parse_json(path.read_text(encoding="utf-8"), path)


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}): is this an nnreg run folder?"
        ) from None
