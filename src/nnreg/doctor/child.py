"""The doctor's child process: runs the learner's code and sends one answer back.

``python -c CHILD FD REQUEST`` — started by :mod:`~nnreg.doctor.isolation`,
never by hand. REQUEST is JSON (target, gradients, regularizer, timeout); the answer is one
JSON line written to file descriptor FD: ``{"diagnosis": …, "notes": […]}`` or
``{"error": "…"}``. Then the process ends at once (``os._exit``), whatever threads the
learner's code left running.

The learner's folder is first on ``sys.path`` and the working directory, as for
``python their_file.py``. The learner's ``os._exit`` is turned into an exception so the
doctor can say where it was called; a watchdog thread stops the process at the time limit,
saying which line of the learner's code was running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

import numpy
import numpy.linalg
import numpy.random

from nnreg.doctor import DoctorError, diagnose_in_this_process, diagnose_running
from nnreg.doctor.importing import location, notebook_label

_exit = os._exit
_write = os.write
_dumps = json.dumps
WATCHED_MODULES = {"numpy": numpy, "numpy.linalg": numpy.linalg, "numpy.random": numpy.random}
MAIN_GUARD = 'if __name__ == "__main__":'


class OsExit(SystemExit):
    """``os._exit(status)`` called by the learner's code, raised instead of ending the
    process so the doctor can say where it was called."""


def _os_exit(status: int = 0) -> NoReturn:
    raise OsExit(f"os._exit({status}) was called")


class Channel:
    """The private pipe to the parent: the first answer sent is the only one."""

    def __init__(self, fd: int) -> None:
        self.fd, self.lock = fd, threading.Lock()

    def finish(self, answer: dict) -> NoReturn:
        """Send ``answer`` and end the process now (threads, atexit handlers and all)."""
        self.lock.acquire()  # never released: a second answer waits until the process ends
        data = (_dumps(answer, ensure_ascii=False, default=str) + "\n").encode()
        try:
            while data:
                data = data[_write(self.fd, data) :]
        finally:
            _exit(0)


class Replacements:
    """What the learner's code replaced in numpy (``np.zeros = None``): the doctor measures
    with numpy and cannot when its functions are not numpy's."""

    def __init__(self) -> None:
        self.before = {name: dict(vars(module)) for name, module in WATCHED_MODULES.items()}

    def found(self) -> list[str]:
        changed = []
        for name, module in WATCHED_MODULES.items():
            now = vars(module)
            for attribute, value in self.before[name].items():
                if attribute.startswith("__"):
                    continue
                if attribute not in now or now[attribute] is not value:
                    changed.append(f"{name}.{attribute}")
        return changed

    def message(self, given: str) -> str:
        changed = self.found()
        names = ", ".join(changed[:5]) + (", …" if len(changed) > 5 else "")
        return (
            f"{given} replaces {names}: the doctor runs your update with numpy and cannot "
            "measure it while numpy's own functions are replaced — remove the assignment "
            "(use a name of your own, e.g. `my_zeros = …`)"
        )

    def explain(self, given: str, failure: str) -> str:
        """``failure``, led by what was replaced in numpy, if anything (the likely cause)."""
        if not self.found():
            return failure
        return f"{self.message(given)}. What failed then: {failure}"


def main() -> None:
    # Until here, a failure to start (an error in nnreg) reaches the parent on stderr;
    # from here on stderr is the learner's, and nobody reads it.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    channel = Channel(int(sys.argv[1]))
    try:
        _run(json.loads(sys.argv[2]), channel)
    except BaseException as error:  # the last resort: an answer, never a traceback
        channel.finish({"error": f"the doctor's child process failed: {_name(error)}"})
    channel.finish({"error": "the doctor's child process ended without an answer"})


def _run(request: dict, channel: Channel) -> NoReturn:
    if request.get("live"):
        _run_live(request, channel)
    given, _, name = request["target"].partition(":")
    path = Path(given).resolve()
    _watch(time.monotonic() + request["timeout"], request, path, channel)
    replacements = Replacements()
    os._exit = _os_exit
    if path.parent.is_dir():
        sys.path.insert(0, str(path.parent))
        os.chdir(path.parent)

    def as_given(text: str) -> str:
        return text.replace(str(path), given)

    target = f"{path}:{name}" if name else str(path)
    run = request.get("run")
    try:
        if run is not None:
            diagnosis = diagnose_running(path, run, request["gradients"], request["regularizer"])
        else:
            diagnosis = diagnose_in_this_process(
                target, request["gradients"], request["regularizer"]
            )
    except DoctorError as error:
        channel.finish({"error": as_given(replacements.explain(given, str(error)))})
    except (SystemExit, KeyboardInterrupt) as error:
        channel.finish({"error": as_given(_stopped(error, path, given))})
    except Exception as error:  # noqa: BLE001 - their code may have broken numpy or Python
        what = f"{_name(error)}{_where(_frames(error), path)}"
        failed = replacements.explain(given, what) if replacements.found() else _failed(what, path)
        channel.finish({"error": as_given(failed)})
    diagnosis.learner = as_given(diagnosis.learner)
    notes = list(getattr(diagnosis, "notes", []))
    if replacements.found():
        notes.append(replacements.message(given))
    data = dataclasses.asdict(diagnosis)
    data["notes"] = notes
    channel.finish({"diagnosis": data, "notes": notes})


def _run_live(request: dict, channel: Channel) -> NoReturn:
    """A live network from a notebook kernel (see :mod:`~nnreg.doctor.live`)."""
    from nnreg.doctor.live import diagnose_live

    live = request["live"]
    folder = Path(live["cwd"])
    _watch(time.monotonic() + request["timeout"], request, folder / "notebook", channel)
    replacements = Replacements()
    os._exit = _os_exit
    if folder.is_dir():
        os.chdir(folder)
    given = request["target"]
    try:
        _, diagnosis = diagnose_live(live, request["gradients"], request["regularizer"])
    except DoctorError as error:
        channel.finish({"error": replacements.explain(given, str(error))})
    except (SystemExit, KeyboardInterrupt) as error:
        channel.finish({"error": _stopped(error, folder / "notebook", given)})
    except Exception as error:  # noqa: BLE001 - their code may have broken numpy or Python
        what = _name(error)
        failed = (
            replacements.explain(given, what)
            if replacements.found()
            else (
                f"the doctor failed while running {given}: {what}. Unless your code changes "
                "Python or numpy, this is a bug in nnreg's doctor: please report it"
            )
        )
        channel.finish({"error": failed})
    diagnosis.learner = given
    data = dataclasses.asdict(diagnosis)
    notes = list(getattr(diagnosis, "notes", []))
    data["notes"] = notes
    channel.finish({"diagnosis": data, "notes": notes})


def _stopped(error: BaseException, path: Path, given: str) -> str:
    at = _where(_frames(error), path)
    if isinstance(error, KeyboardInterrupt):
        return (
            f"{given} raised KeyboardInterrupt{at} while the doctor was running it: remove "
            "the raise; the doctor cannot measure code that interrupts itself"
        )
    call = str(error) if isinstance(error, OsExit) else f"sys.exit({error.code!r}) was called"
    return (
        f"{given}: {call}{at} while the doctor was running it: the doctor cannot measure "
        f"code that ends the program — remove that call (or move it under `{MAIN_GUARD}`)"
    )


def _failed(what: str, path: Path) -> str:
    return (
        f"the doctor failed while running {path.name}: {what}. Unless your code changes "
        "Python or numpy, this is a bug in nnreg's doctor: please report it"
    )


def _name(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _frames(error: BaseException) -> list[tuple[str, int, str]]:
    """(file, line, function) of each frame of the error's traceback, innermost first."""
    frames, trace = [], error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        frames.insert(0, (code.co_filename, trace.tb_lineno, code.co_name))
        trace = trace.tb_next
    return frames


def _where(frames: list[tuple[str, int, str]], path: Path) -> str:
    """`` (line 12, in update_mini_batch)``: the innermost frame in the learner's files."""
    label = _label(path)
    for filename, line, function in frames:
        where = location([(filename, line)], path, label)
        if where:
            return f" ({where}, {'at import' if function == '<module>' else f'in {function}'})"
    return ""


def _label(path: Path):
    """Line numbers as the learner finds them: ``cell 3, line 7`` in a notebook."""
    return notebook_label(path)


def _watch(deadline: float, request: dict, path: Path, channel: Channel) -> None:
    """A thread that ends the process at ``deadline`` (saying where the learner's code was)
    or as soon as the parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while time.monotonic() < deadline:
            if os.getppid() != parent:
                _exit(0)
            time.sleep(0.05)
        channel.finish({"error": _timed_out(request, path)})

    threading.Thread(target=watch, name="nnreg-doctor-watchdog", daemon=True).start()


def _timed_out(request: dict, path: Path) -> str:
    frame = sys._current_frames().get(threading.main_thread().ident)
    frames = []  # innermost first
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    where = _where(frames, path)
    running = f": it was still running {where.strip(' ()')}" if where else ""
    return (
        f"{request['target']} did not finish within {request['timeout']:g} s and was "
        f"stopped{running}. Does it loop forever, or wait for something (input(), a "
        "download)? If your code is just slow, give it more time with --timeout SECONDS"
    )


if __name__ == "__main__":
    main()
