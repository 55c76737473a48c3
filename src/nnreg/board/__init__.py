"""``nnreg board``: a live web view of the run folders under one folder.

A Starlette application (:mod:`nnreg.board.app`) served by uvicorn: the server reads run
folders (:mod:`nnreg.board.folders`) and starts runs (:mod:`nnreg.board.launcher`); the page
(``static/``, Chart.js shipped in the package: no network needed) only draws. Run folders
stay the single source of truth: a run started in a terminal and one started from the page
are the same thing, and both show up and update live.

Needs the ``board`` extra: ``pip install "nnreg[board]"``.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"


class BoardError(ValueError):
    """The board cannot start as asked (the port is taken, the host is unknown…)."""


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: any free port; an IPv6 address may
    be written in brackets)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        if not bare.strip():
            raise UnicodeError
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise BoardError(
            f"--host {host}: not a host name or address of this machine ({error.strerror})"
        ) from None
    except UnicodeError:
        raise BoardError(f"--host {host!r}: not a host name or address") from None
    family, kind, protocol, _, address = infos[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        hint = ": give another --port, or --port 0 for any free one" if port else ""
        raise BoardError(
            f"cannot listen on {host}:{port} ({error.strerror or error}){hint}"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The address to open in a browser (this machine's loopback when listening on all)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": LOOPBACK, "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(
    root: Path,
    host: str = LOOPBACK,
    port: int = 8765,
    ready: Callable[[str], None] = print,
    max_running: int | None = None,
    data_dir: str | Path | None = None,
) -> None:
    """Serve the board over ``root`` until Ctrl-C (or SIGTERM); ``ready(url)`` is called
    once it listens. Runs started from the page read their data from ``data_dir`` (as
    ``nnreg train --data-dir``; default: ``$NNREG_DATA``, else the per-user folder), and are
    stopped cleanly (with a checkpoint) when the board stops."""
    import uvicorn

    from nnreg.board.app import create_app

    sock = bind(host, port)
    app = create_app(root, max_running, data_dir)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            # The first stop signal only: the board then ends its event streams and stops its
            # runs within seconds; a second Ctrl-C would make uvicorn skip the application's
            # shutdown (and log the cancelled lifespan task's traceback).
            if not self.should_exit:
                super().handle_exit(sig, frame)

    server = Server(config)

    def stop(signum, frame) -> None:
        server.should_exit = True  # uvicorn's own handler does this once it runs

    # From here on a stop signal ends the board cleanly, even one that comes before uvicorn
    # has installed its handlers (it restores these after, and raises the signal again).
    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, stop) for number in stopping}
    try:
        ready(url_of(sock))
        server.run(sockets=[sock])
    finally:
        # a second Ctrl-C makes uvicorn skip the application's shutdown: stop the runs
        # started from the page here too (nothing to do when already done)
        app.state.launcher.shutdown()
        for number, handler in previous.items():
            signal.signal(number, handler)
        sock.close()
