"""Running the learner's code in a child process with a time limit (the parent's side).

The learner's code is code, not data: it may loop forever, call ``sys.exit`` or
``os._exit``, write to file descriptor 1, start threads that never end or replace numpy's
functions. So the whole diagnosis runs in a child process (:mod:`~nnreg.doctor.child`):

* in a session of its own, so that stopping it stops everything it started;
* with its standard input, output and error on ``/dev/null`` — its answer comes back as
  one JSON line on a private pipe, so nothing it prints reaches ``--json`` output;
* with no bytecode written (``-B``) and matplotlib drawing off screen (a ``plt.show()``
  does not wait for a window to be closed);
* stopped by the child itself when ``timeout`` seconds are up (it says which line of the
  learner's code was running), and killed with its whole process group by the parent
  :data:`GRACE` seconds later, after the answer, or on Ctrl-C.

Every way this can end that is not a diagnosis is a :class:`DoctorError` with a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import types
import typing
from typing import Any

from nnreg.doctor.replay import DoctorError
from nnreg.doctor.report import Diagnosis

CHILD = """
from nnreg.doctor.child import main
main()
"""
"""The child's start: ``python -B -c CHILD FD REQUEST`` (see :mod:`~nnreg.doctor.child`)."""
GRACE = 5.0
"""Seconds the parent waits beyond the time limit before it kills the child (the child
stops itself at the limit, saying where the learner's code was)."""


def diagnose_in_child(
    target: str,
    gradients: str | None,
    regularizer: str | None,
    timeout: float,
    run: list[str] | None = None,
    live: dict | None = None,
) -> Diagnosis:
    """:func:`nnreg.doctor.diagnose_in_this_process` run in a child process; with ``run``
    (the script's arguments), ``target`` is a training script run until its first update;
    with ``live``, a pickled live network (see :mod:`~nnreg.doctor.live`)."""
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise DoctorError(f"the time limit must be a number of seconds > 0, got {timeout!r}")
    request = {
        "target": target,
        "gradients": gradients,
        "regularizer": regularizer,
        "timeout": timeout,
        "run": run,
        "live": live,
    }
    answer = run_child(request, timeout)
    if "error" in answer:
        raise DoctorError(answer["error"])
    diagnosis = from_data(Diagnosis, answer["diagnosis"])
    diagnosis.notes = answer.get("notes", [])
    return diagnosis


def run_child(request: dict, timeout: float) -> dict:
    """Start the child, wait for its answer (a dict with ``diagnosis`` or ``error``), and
    leave nothing of it running, whatever happens (Ctrl-C included)."""
    read_end, write_end = os.pipe()
    environment = dict(
        os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONSAFEPATH="1", MPLBACKEND="Agg"
    )
    try:
        process = subprocess.Popen(
            [sys.executable, "-B", "-c", CHILD, str(write_end), json.dumps(request)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # only until the child starts: see child.main
            pass_fds=(write_end,),
            start_new_session=True,
            env=environment,
        )
    finally:
        os.close(write_end)
    try:
        return _answer(process, read_end, time.monotonic() + timeout + GRACE, request)
    finally:
        os.close(read_end)
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Kill the child's whole process group (threads and processes it started die too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if process.stderr:
        process.stderr.close()


def _answer(process: subprocess.Popen, read_end: int, deadline: float, request: dict) -> dict:
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return {"error": _timed_out(request)}
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            return {"error": _ended(process, request)}
        received += chunk
        if b"\n" in received:
            try:
                return json.loads(received.split(b"\n", 1)[0])
            except ValueError:
                return {
                    "error": f"the doctor's child process sent an unreadable answer "
                    f"while running {request['target']}"
                }


def _timed_out(request: dict) -> str:
    return (
        f"{request['target']} did not finish within {request['timeout']:g} s and was "
        "stopped: does it loop forever, or wait for something (input(), a download, a "
        "window)? If your code is just slow, give it more time with --timeout SECONDS"
    )


def _ended(process: subprocess.Popen, request: dict) -> str:
    try:
        status = process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        status = None
    problem = process.stderr.read().decode(errors="replace").strip() if status is not None else ""
    if problem:  # the child failed before it ran the learner's code: a bug in nnreg
        return f"the doctor's child process could not start: {problem.splitlines()[-1]}"
    if status is not None and status < 0:
        try:
            how = f"was killed by signal {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
    else:
        how = f"ended with exit status {status}"
    return (
        f"the process running {request['target']} {how} before the doctor could finish: "
        "does your code end the program (os._exit, os.kill, os.abort) or crash in compiled "
        "code? Nothing was diagnosed"
    )


def from_data(kind: Any, data: Any) -> Any:
    """Rebuild a value of type ``kind`` (a dataclass, possibly holding lists, tuples and
    other dataclasses) from its JSON form, as written by :func:`dataclasses.asdict`."""
    if dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = typing.get_type_hints(kind)
        return kind(
            **{
                f.name: from_data(hints.get(f.name, Any), data[f.name])
                for f in dataclasses.fields(kind)
                if f.init and f.name in data
            }
        )
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin is list and isinstance(data, list):
        return [from_data(arguments[0] if arguments else Any, item) for item in data]
    if origin is tuple and isinstance(data, list):
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(from_data(arguments[0], item) for item in data)
        return tuple(from_data(a, item) for a, item in zip(arguments, data))
    if origin is dict and isinstance(data, dict):
        return {k: from_data(arguments[1] if arguments else Any, v) for k, v in data.items()}
    if origin in (typing.Union, types.UnionType) and data is not None:
        for option in arguments:
            if dataclasses.is_dataclass(option) and isinstance(data, dict):
                return from_data(option, data)
    return data
