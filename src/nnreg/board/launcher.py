"""Runs started from the board: the form checked as ``nnreg train`` checks its options, then
``nnreg train`` itself in a child process writing a new run folder under the root (so a run
from the page and a run from a terminal are the same thing); stopped with SIGTERM, which
``nnreg train`` takes as it takes Ctrl-C (a clean interrupt: the current step ends and a
checkpoint is written), and which no shell leaves ignored in a child started in the
background; resumed with ``nnreg train --resume``.

The child's output (its errors included) goes to ``board.log`` in its folder, where the
board reads the error of a run that failed. The folder and the log are made through
:mod:`nnreg.board.safe_files`: never through a link, never into a FIFO.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from nnreg.board.folders import LOG, RunIndex
from nnreg.board.safe_files import UnsafePath, open_folder
from nnreg.runs import CONFIG

FORM_OPTIONS = {
    "data": "--data",
    "sizes": "--sizes",
    "activation": "--activation",
    "reg": "--reg",
    "lmbda": "--lmbda",
    "eta": "--eta",
    "batch_size": "--batch-size",
    "epochs": "--epochs",
    "seed": "--seed",
}
"""The form's fields and the ``nnreg train`` options they give."""

DATA_SETS = ("digits", "mnist", "fashion-mnist")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_RUNNING = 4
MAX_FIELD = 100
"""The longest text a form field may hold: a setting takes a few characters, and a number
hundreds of digits long is refused before it is parsed (or overflows a check)."""


class FormError(ValueError):
    """A form input ``nnreg train`` would refuse; the message is the one it would print."""


class Refused(RuntimeError):
    """An action that cannot be done in the run's present state (stop a finished run…)."""


def train_arguments(form: Any) -> list[str]:
    """The ``nnreg train`` options a form asks for, checked with the rules and messages of
    ``nnreg train`` (every setting that needs no data); :class:`FormError` otherwise."""
    from nnreg import cli
    from nnreg.session import check_settings

    if not isinstance(form, dict):
        raise FormError("the form must be a JSON object of nnreg train settings")
    unknown = sorted(set(form) - set(FORM_OPTIONS) - {"name"})
    if unknown:
        raise FormError(f"unknown setting {unknown[0]!r}: give {', '.join(FORM_OPTIONS)}")
    data = str(form.get("data") or "digits").strip().lower()
    if data not in DATA_SETS:
        raise FormError(f"Invalid value for '--data': choose {', '.join(DATA_SETS)}")
    form = {**form, "data": data}
    arguments = []
    for key, option in FORM_OPTIONS.items():
        value = form.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        arguments += [option, _field_text(option, value)]
    try:
        context = cli.train.make_context("nnreg train", list(arguments))
    except click.ClickException as error:
        raise FormError(error.format_message()) from None
    parsed = {
        key: value
        for key, value in context.params.items()
        if key not in ("out", "quiet", "resume", "snapshots")
    }
    try:
        check_settings(cli.train_settings(**parsed))
    except ValueError as error:
        raise FormError(cli.with_option_name(str(error))) from None
    except ArithmeticError:  # a check computing with an absurd number (none should)
        raise FormError("Invalid value: a number too large to check: give sensible sizes") from None
    return arguments


def _field_text(option: str, value: Any) -> str:
    """A form value as the text of an option; :class:`FormError` for anything but a number
    or a text of at most ``MAX_FIELD`` characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FormError(f"Invalid value for '{option}': give a number or text, not {value!r}")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_FIELD:
        raise FormError(
            f"Invalid value for '{option}': {len(text)} characters is too long (at most "
            f"{MAX_FIELD}): give a number of sensible size"
        )
    return text


class Launcher:
    """The board's child processes, one per run it started or resumed."""

    def __init__(
        self,
        index: RunIndex,
        max_running: int = MAX_RUNNING,
        data_dir: str | Path | None = None,
    ) -> None:
        self.index = index
        self.max_running = max_running
        self.data_dir = None if data_dir is None else Path(data_dir).expanduser().resolve()
        self.children: dict[str, subprocess.Popen] = index.launched
        self.stopping: set[str] = index.stopped
        self._lock = threading.Lock()

    def running(self) -> list[str]:
        return [name for name, child in self.children.items() if child.poll() is None]

    def start(self, form: Any) -> str:
        """Check the form and start ``nnreg train`` into a new folder; the run's name."""
        arguments = train_arguments(form)
        name = self._new_name(form.get("name"), form.get("reg") or "l2")
        if self.data_dir is not None:
            arguments += ["--data-dir", str(self.data_dir)]
        with self._lock:
            self._check_room()
            folder = self.index.root / name
            try:  # in the root itself, never through a link
                with open_folder(self.index.root) as root:
                    root.make_folder(name)
            except FileExistsError:
                raise FormError(
                    f"a folder called {name} exists already: choose another name"
                ) from None
            except OSError as error:
                reason = error.strerror or str(error)
                raise FormError(f"cannot create the run folder {name}: {reason}") from None
            command = ["train", "--quiet", "--snapshots", "--out", str(folder), *arguments]
            self._spawn(name, folder, command)
        return name

    def resume(self, name: str) -> None:
        """Continue an interrupted run from its checkpoint."""
        with self._lock:
            run = self.index.run(name)
            if run["status"] != "interrupted":
                why = f" ({run['error']})" if run["status"] == "failed" and run["error"] else ""
                raise Refused(f"{name} is {run['status']}{why}: only an interrupted run can resume")
            self._check_room()
            folder = self.index.folder(name)
            self._spawn(name, folder, ["train", "--quiet", "--resume", str(folder)])

    def stop(self, name: str) -> None:
        """Ask the run's child process to stop after its current step (a checkpoint is
        written), as Ctrl-C does."""  # SIGTERM: see the module's docstring
        with self._lock:
            self.index.folder(name)  # UnknownRun for a name that is not a run
            child = self.children.get(name)
            if child is None or child.poll() is not None:
                status = self.index.run(name)["status"]
                if status == "running":
                    raise Refused(
                        f"{name} is trained by a process this board did not start (a "
                        "terminal, a sweep, or a board that has ended): stop it there, e.g. "
                        "with Ctrl-C or kill -INT, which also writes a checkpoint"
                    )
                raise Refused(f"{name} is {status}, not running")
            if name not in self.stopping:
                self.stopping.add(name)
                child.send_signal(signal.SIGTERM)

    def shutdown(self, seconds: float = 20.0) -> None:
        """Stop every run still going, cleanly (each writes a checkpoint), when the board
        stops; a run that does not stop in time is stopped at once."""
        live = [child for child in self.children.values() if child.poll() is None]
        for child in live:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for child in live:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _spawn(self, name: str, folder: Path, command: list[str]) -> None:
        try:  # never through a link, never into a FIFO: the run's own folder only
            with open_folder(self.index.root, name) as run_folder:
                log = run_folder.append(LOG)
        except UnsafePath as error:  # a link or a FIFO where the log goes
            raise Refused(f"cannot write {name}/{LOG}: {error}") from None
        except OSError as error:
            raise Refused(
                f"cannot write {name}/{LOG} ({error.strerror or error}): is it read-only?"
            ) from None
        try:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "nnreg", *command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the board's terminal: the board stops it
            )
        finally:
            log.close()
        self.stopping.discard(name)
        self.index.rescan()

    def _check_room(self) -> None:
        if len(self.running()) >= self.max_running:
            raise Refused(
                f"{self.max_running} runs are going already: stop one, or wait for one to end"
            )

    def _new_name(self, asked: Any, reg: str) -> str:
        if asked is None or (isinstance(asked, str) and not asked.strip()):
            stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{str(reg).strip().lower()}"
            name, suffix = stem, 1
            while os.path.lexists(self.index.root / name):
                suffix += 1
                name = f"{stem}-{suffix}"
            return name
        if not isinstance(asked, str) or not NAME.fullmatch(asked.strip()):
            raise FormError(
                "Invalid value for 'name': use letters, digits, '.', '_' and '-' (up to 100, "
                "starting with a letter or digit), e.g. l1-proximal-lmbda5"
            )
        name = asked.strip()
        if (self.index.root / name / CONFIG).exists() or (self.index.root / name).exists():
            raise FormError(f"a folder called {name} exists already: choose another name")
        return name
