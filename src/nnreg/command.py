"""The ``nnreg`` command's entry point: light, so that a Ctrl-C while the command line
itself is still loading (NumPy, click, rich: a few tenths of a second) stops cleanly,
with a message and exit status 130 instead of a traceback."""

from __future__ import annotations

import signal
import sys

INTERRUPTED_WHILE_STARTING = "\nnnreg: stopped while starting; nothing was written.\n"


def run() -> None:
    try:
        from nnreg.cli import run as run_command_line
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing now
        sys.stderr.write(INTERRUPTED_WHILE_STARTING)
        sys.exit(130)
    run_command_line()
