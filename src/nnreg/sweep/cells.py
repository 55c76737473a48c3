"""One cell of a sweep: what to do with its folder (train, resume, extend, skip, refuse) and
training it in a worker process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnreg.checkpoints import CHECKPOINT, PREVIOUS_CHECKPOINT, CheckpointError
from nnreg.runs import CONFIG, SUMMARY, lock_run_folder, write_json
from nnreg.session import TrainSettings, located, resume_training, run_training
from nnreg.sweep.grid import Cell, cell_settings
from nnreg.sweep.supervision import supervised
from nnreg.training import StopFlag, TrainingDiverged, TrainingInterrupted

IGNORED_SETTINGS = ("mirrors",)
"""Settings that do not change a cell's result: where to download from (files are checked)."""


@dataclass
class Plan:
    """What to do with one cell: ``train`` (from scratch), ``resume`` (from its checkpoint),
    ``extend`` (finished or interrupted with fewer epochs: continue to the new number),
    ``done``, ``failed`` (its files cannot be read: left alone) or ``conflict`` (it holds
    results of other settings: the sweep refuses); ``reason`` says why for the last two."""

    action: str
    reason: str = ""


def plan_cell(folder: Path, settings: TrainSettings) -> Plan:
    """Decide, from its files, what a sweep asking for ``settings`` does with a cell folder."""
    folder = Path(folder)
    if not folder.exists():
        return Plan("train")
    if not folder.is_dir():
        return Plan("failed", f"{folder} is not a folder: move it away to train this cell")
    finished = (folder / SUMMARY).exists()
    if not finished and not any((folder / n).exists() for n in (CHECKPOINT, PREVIOUS_CHECKPOINT)):
        return Plan("train")  # stopped before its first checkpoint: nothing to keep
    try:
        written = _saved_settings(folder, settings.hidden)
        if finished:
            _check_summary(folder, written)
    except ValueError as error:
        return Plan("failed", f"{error}; delete {folder} to train this cell again")
    differences = _differences(written, settings)
    if not differences:
        return Plan("done" if finished else "resume")
    if list(differences) == ["epochs"] and written["epochs"] < settings.epochs:
        return Plan("extend")
    if not finished:  # only part of an epoch count's work: trained again with these settings
        return Plan("train")
    return Plan("conflict", ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in differences.items()))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({type(error).__name__}: {error})") from None


def _saved_settings(folder: Path, hidden: int) -> dict[str, Any]:
    """A cell's settings from its config.json; ``ValueError`` when they are not there."""
    config = read_json(folder / CONFIG)
    written = config.get("settings") if isinstance(config, dict) else None
    if not isinstance(written, dict) or not isinstance(written.get("epochs"), int):
        raise ValueError(f"{folder / CONFIG} does not hold a cell's settings")
    sizes = written.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) == 3 and sizes[1] == hidden):
        raise ValueError(f"{folder / CONFIG} does not hold sizes of one hidden layer of {hidden}")
    return written


def _differences(written: dict[str, Any], settings: TrainSettings) -> dict[str, tuple]:
    """The settings (but the sizes, which the data give) that differ: name → (saved, asked)."""
    wanted = json.loads(json.dumps(dataclasses.asdict(located(settings))))
    keys = [k for k in {**wanted, **written} if k not in ("sizes", *IGNORED_SETTINGS)]
    return {
        k: (written.get(k, "(none)"), wanted.get(k, "(none)"))
        for k in keys
        if written.get(k, "(none)") != wanted.get(k, "(none)")
    }


def _check_summary(folder: Path, written: dict[str, Any]) -> None:
    summary = read_json(folder / SUMMARY)
    if isinstance(summary, dict) and summary.get("diverged") is True:
        return
    if not isinstance(summary, dict) or not isinstance(summary.get("epochs"), int):
        raise ValueError(f"{folder / SUMMARY} does not hold a run's result")
    if summary["epochs"] != written["epochs"] and "stopped" not in summary:
        raise ValueError(
            f"{folder / SUMMARY} holds {summary['epochs']} epochs, but {folder / CONFIG} asks "
            f"for {written['epochs']}"
        )


def run_cell(
    base: dict[str, Any],
    cell: Cell,
    folder: str,
    blas_threads: int = 1,
    action: str = "train",
    sweep: str | None = None,
    sweep_pid: int | None = None,
    sweep_host: str | None = None,
) -> dict[str, str]:
    """Train one cell into ``folder`` (runs in a worker process) as its plan's ``action``
    says; returns its outcome: name, status (finished, diverged, failed or interrupted) and
    message. An error stops this cell only. With ``sweep`` (the sweep folder), ``sweep_pid``
    and ``sweep_host`` (the sweep's process and machine), a cell on the sweep's machine
    stops after the current step, leaving a checkpoint, when the sweep stops or its process
    ends (see :class:`Watchdog`)."""
    import scipy.linalg.blas  # noqa: F401 - loaded before the limit below, which reaches
    from threadpoolctl import threadpool_limits  # only the BLAS libraries already loaded

    outcome = {"name": cell.name, "status": "finished", "message": ""}
    here = sweep_host is None or sweep_host == socket.gethostname()
    with supervised(sweep if here else None, sweep_pid) as stop:
        if stop.requested:
            return {**outcome, "status": "interrupted", "message": "the sweep stopped"}
        try:
            with threadpool_limits(limits=blas_threads), _warnings_into(outcome):
                _train_cell(cell_settings(base, cell), Path(folder), action, stop)
        except TrainingInterrupted:
            outcome.update(status="interrupted", message="stopped with a checkpoint")
        except TrainingDiverged as error:
            outcome.update(status="diverged", message=str(error))
            with contextlib.suppress(OSError):
                write_json(Path(folder) / SUMMARY, {"diverged": True, "message": str(error)})
        except Exception as error:  # noqa: BLE001 - one cell's error must not stop the sweep
            kind = "" if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: "
            outcome.update(status="failed", message=f"{kind}{error}")
    return outcome


@contextlib.contextmanager
def _warnings_into(outcome: dict[str, Any]):
    """Warnings the cell's training gives (an unstable weight decay…) kept in its outcome as
    (category, message), each once, for the sweep's own process to give (a worker's would
    be printed raw on its stderr, with a line of nnreg's source)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = dict.fromkeys((w.category, str(w.message)) for w in caught)
            outcome["warnings"] = list(seen)


def _train_cell(settings: TrainSettings, folder: Path, action: str, stop: StopFlag) -> None:
    if action == "extend":
        _extend(folder, settings.epochs)
    if action in ("resume", "extend"):
        try:
            resume_training(folder, stop=stop)
            return
        except CheckpointError:  # damaged: start again
            pass
    if folder.exists():
        lock_run_folder(folder, create=False).close()  # refuses while another process trains
        shutil.rmtree(folder)
    run_training(settings, out=folder, stop=stop)


def _extend(folder: Path, epochs: int) -> None:
    """Ask a cell for more epochs. The summary goes first: a cell stopped in between has
    no summary and fewer epochs, which the next sweep extends again."""
    with contextlib.closing(lock_run_folder(folder, create=False)):
        (folder / SUMMARY).unlink(missing_ok=True)
        config = read_json(folder / CONFIG)
        config["settings"]["epochs"] = epochs
        write_json(folder / CONFIG, config)


def cell_done(folder: Path) -> bool:
    """Whether a cell folder holds a summary (done, if its settings are the ones asked for:
    see :func:`plan_cell`)."""
    return (Path(folder) / SUMMARY).is_file()
