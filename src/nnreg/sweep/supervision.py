"""Cells stop with their sweep: the sweep holds a lock on its folder while it runs, and
workers watch it (and their parent process) to stop their cells after the current step."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from nnreg.training import StopFlag

POLL_SECONDS = 0.1


def _released(handle: int) -> bool:
    """Whether the sweep's lock on its folder is gone (the sweep stopped or was killed)."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    fcntl.flock(handle, fcntl.LOCK_UN)
    return True


class Watchdog:
    """Every ``POLL_SECONDS``, asks each cell running in this process to stop (after the
    current step, writing a checkpoint) when its sweep's lock is released. In a worker
    process whose ``parent`` is the sweep's process, also when that process is gone; the
    worker then ends, at once when no cell runs here, else once they stopped (at most
    ``GRACE_SECONDS`` later)."""

    GRACE_SECONDS = 20.0

    def __init__(self, parent: int | None) -> None:
        self.parent = parent
        self.cells: dict[int, tuple[StopFlag, int]] = {}
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self.gone_since: float | None = None
        if parent is not None:
            self._start()

    def _start(self) -> None:
        self.thread = threading.Thread(target=self._watch, name="nnreg-sweep-watch", daemon=True)
        self.thread.start()

    def add(self, stop: StopFlag, handle: int) -> None:
        with self.guard:
            self.cells[id(stop)] = (stop, handle)
            if self.thread is None:
                self._start()

    def remove(self, stop: StopFlag) -> None:
        with self.guard:
            del self.cells[id(stop)]

    def parent_gone(self) -> bool:
        return self.parent is not None and os.getppid() != self.parent

    def _watch(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            gone = self.parent_gone()
            with self.guard:
                cells = list(self.cells.values())
                if not cells and self.parent is None:  # the sweep's own process: rest
                    self.thread = None
                    return
            for stop, handle in cells:
                if gone or _released(handle):
                    stop.reason = stop.reason or "the sweep stopped"
                    stop.requested = True
            if gone:
                self.gone_since = self.gone_since or time.monotonic()
                if not cells or time.monotonic() - self.gone_since > self.GRACE_SECONDS:
                    os._exit(0)


_WATCHDOG: Watchdog | None = None  # one per process, made by its first cell


_WATCHDOG_GUARD = threading.Lock()


def start_worker(sweep_pid: int | None) -> None:
    """Make this process's watchdog. In a worker process that the sweep's process
    (``sweep_pid``) started itself — loky's and a local Dask cluster's, where this is called
    as the worker starts — the parent is watched, and Ctrl-C at a terminal is left to the
    sweep's process, which stops the cells."""
    global _WATCHDOG
    with _WATCHDOG_GUARD:
        if _WATCHDOG is None:
            child = sweep_pid is not None and os.getppid() == sweep_pid
            _WATCHDOG = Watchdog(sweep_pid if child else None)
            if child and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_loky_worker(sweep_pid: int) -> None:
    """Start a loky worker of the sweep whose process is ``sweep_pid`` (its parent). A
    worker that starts after the sweep's process was killed ends at once."""
    if os.getppid() != sweep_pid:
        os._exit(0)
    start_worker(sweep_pid)


@contextlib.contextmanager
def supervised(sweep: str | None, sweep_pid: int | None) -> Iterator[StopFlag]:
    stop = StopFlag()
    try:
        handle = os.open(sweep, os.O_RDONLY) if sweep is not None else None
    except OSError:
        handle = None
    if handle is None:
        yield stop
        return
    start_worker(sweep_pid)
    watchdog = _WATCHDOG
    watchdog.add(stop, handle)
    try:
        stop.requested = _released(handle)
        yield stop
    finally:
        watchdog.remove(stop)
        os.close(handle)
        if watchdog.parent_gone():
            os._exit(0)  # the sweep is gone: nobody waits for this worker's next cell


class SweepLock:
    """An exclusive lock on the sweep folder, held while the sweep runs (the kernel drops it
    when the process ends, however it ends); released at once when ``stop`` is requested."""

    def __init__(self, folder: Path, stop: StopFlag | None) -> None:
        try:
            self.handle: int | None = os.open(folder, os.O_RDONLY)
        except OSError as error:
            raise ValueError(
                f"cannot open the sweep folder {folder}: {error.strerror or error}; choose "
                "another --out"
            ) from None
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self.handle)
            self.handle = None
            if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise ValueError(
                    f"another nnreg sweep is running in {folder} right now: wait for it to "
                    "finish, or choose another --out"
                ) from None
            # a file system without locks: the sweep runs, its workers are not supervised
        self.guard, self.finished = threading.Lock(), threading.Event()
        if stop is not None:
            threading.Thread(target=self._watch, args=(stop,), daemon=True).start()

    def _watch(self, stop: StopFlag) -> None:
        while not self.finished.wait(POLL_SECONDS / 2):
            if stop.requested:
                self.release()
                return

    def release(self) -> None:
        self.finished.set()
        with self.guard:
            if self.handle is not None:
                os.close(self.handle)
                self.handle = None
