"""The board's web application: JSON over HTTP for the page, server-sent events for what
changes, the page's files from the package. It reads run folders (see
:mod:`nnreg.board.folders`) and starts runs (:mod:`nnreg.board.launcher`); the page draws.

Routes (a run is named by ``?run=``, its path under the board's folder):

* ``GET /`` the page; ``GET /static/…`` its scripts and styles;
* ``GET /api/runs`` every run with status and headline numbers;
* ``GET /api/run?run=`` one run's config, status and metrics;
* ``GET /api/weights?run=&epoch=`` its weights after an epoch (first layer, histograms);
* ``GET /api/options`` the choices of the form, as ``nnreg train`` has them;
* ``POST /api/runs`` start a run (JSON settings); ``POST /api/stop`` / ``POST /api/resume``
  (``{"run": name}``);
* ``GET /api/events`` (SSE) the runs list, each time it changes;
* ``GET /api/run/events?run=`` (SSE) a run's new metrics records and status as they come.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from nnreg.board.folders import RunIndex, UnknownRun
from nnreg.board.launcher import DATA_SETS, FORM_OPTIONS, FormError, Launcher, Refused
from nnreg.runs import finite_or_none

STATIC = Path(__file__).parent / "static"
WATCH_SECONDS = 0.25
"""How often the server looks at the run folders for what changed (the page is pushed)."""


def create_app(
    root: Path, max_running: int | None = None, data_dir: str | Path | None = None
) -> Starlette:
    """The board over the run folders under ``root``; at most ``max_running`` runs started
    from it train at once, and they read their data from ``data_dir`` (``nnreg train
    --data-dir``; None: nnreg train's default)."""
    index = RunIndex(Path(root))
    limit = {} if max_running is None else {"max_running": max_running}
    launcher = Launcher(index, **limit, data_dir=data_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await anyio.to_thread.run_sync(launcher.shutdown)

    def run_name(request: Request) -> str:
        return known_run(request.query_params.get("run"))

    def known_run(name) -> str:
        if not isinstance(name, str) or not name:
            raise HTTPException(404, "give a run's name: its folder's path under the board's")
        try:
            index.folder(name)
        except UnknownRun:
            raise HTTPException(404, f"no run called {name[:200]!r} here") from None
        return name

    def page(request: Request):
        return FileResponse(STATIC / "index.html")

    def runs(request: Request):
        return JSONResponse(index.runs())

    def run(request: Request):
        name = run_name(request)
        records = index.records(name)
        return JSONResponse(
            finite_or_none({**index.run(name), "config": index.config(name), "records": records})
        )

    def weights(request: Request):
        name = run_name(request)
        epoch = whole_number(request.query_params.get("epoch"), "epoch")
        try:
            return JSONResponse(index.weights(name, epoch))
        except KeyError:
            kept = ", ".join(map(str, index.epochs_with_weights(name)))
            raise HTTPException(404, f"no weights kept for epoch {epoch}: kept {kept}") from None
        except (ValueError, OSError) as error:  # UnknownRun: see _unknown_run
            raise HTTPException(404, str(error)) from None

    def options(request: Request):
        from nnreg import cli

        train = {param.name: param for param in cli.train.params}
        return JSONResponse(
            {
                "fields": list(FORM_OPTIONS),
                "data": list(DATA_SETS),
                "reg": list(train["reg"].type.choices),
                "activation": list(train["activation"].type.choices),
                "defaults": {key: train[key].default for key in FORM_OPTIONS if key != "sizes"},
                "running": launcher.running(),
                "max_running": launcher.max_running,
            }
        )

    async def start(request: Request):
        form = await _json_body(request)
        try:
            name = await anyio.to_thread.run_sync(launcher.start, form)
        except FormError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except Refused as error:
            return JSONResponse({"error": str(error)}, status_code=409)
        return JSONResponse({"run": name}, status_code=201)

    def action(method):
        async def endpoint(request: Request):
            body = await _json_body(request)
            name = known_run(body.get("run") if isinstance(body, dict) else None)
            try:
                await anyio.to_thread.run_sync(method, name)
            except UnknownRun:
                raise HTTPException(404, f"no run called {name[:200]!r} here") from None
            except Refused as error:
                return JSONResponse({"error": str(error)}, status_code=409)
            return JSONResponse({"run": name}, status_code=202)

        return endpoint

    async def runs_events(request: Request):
        stopping = anyio.Event()

        async def changes():
            changed = _Changed()
            while not stopping.is_set():
                listing = await anyio.to_thread.run_sync(index.runs)
                if (text := changed(listing)) is not None:
                    yield {"event": "runs", "data": text}
                await _pause(stopping)

        return _events(changes(), stopping)

    async def run_events(request: Request):
        name = run_name(request)
        start_at = request.headers.get("last-event-id") or request.query_params.get("from")
        follower = index.follow(name, whole_number(start_at, "from") or 0)
        stopping = anyio.Event()

        async def changes():
            changed = _Changed()
            while not stopping.is_set():
                try:
                    first, records = await anyio.to_thread.run_sync(follower.new_records)
                    status = await anyio.to_thread.run_sync(index.run, name)
                except UnknownRun:
                    return
                if records:
                    data = json.dumps(finite_or_none({"from": first, "records": records}))
                    yield {"event": "metrics", "id": str(first + len(records)), "data": data}
                if (text := changed(status)) is not None:
                    yield {"event": "run", "data": text}
                await _pause(stopping)

        return _events(changes(), stopping)

    routes = [
        Route("/", page),
        Route("/api/runs", runs),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/run", run),
        Route("/api/weights", weights),
        Route("/api/options", options),
        Route("/api/stop", action(launcher.stop), methods=["POST"]),
        Route("/api/resume", action(launcher.resume), methods=["POST"]),
        Route("/api/events", runs_events),
        Route("/api/run/events", run_events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {HTTPException: _error, UnknownRun: _unknown_run}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.index, app.state.launcher = index, launcher
    return app


MAX_BODY = 64 * 1024
"""The largest request body read: a form's settings take a few hundred bytes."""


async def _json_body(request: Request) -> Any:
    """The request's JSON body (at most ``MAX_BODY`` bytes). A client gone before sending
    all of it is answered 400 like any bad body (nobody reads the answer): no traceback in
    the board's log for what a closed browser tab or a dropped connection does."""
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, f"the request body is larger than {MAX_BODY} bytes")
    except ClientDisconnect:
        raise HTTPException(400, "the client left before sending the whole body") from None
    try:
        return json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise HTTPException(400, "the request body is not JSON") from None


def whole_number(text: str | None, name: str) -> int | None:
    """A query's whole number >= 0 (None when not given); 400 for anything else."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise HTTPException(400, f"{name}: give a whole number >= 0")
    return int(text)


def _events(changes, stopping: anyio.Event) -> EventSourceResponse:
    """A stream of server-sent events that ends cleanly (its generator returns) when the
    server stops."""
    return EventSourceResponse(changes, ping=15, shutdown_event=stopping, shutdown_grace_period=2)


class _Changed:
    """A value as JSON when it differs from the one given before, else None."""

    def __init__(self) -> None:
        self.sent: str | None = None

    def __call__(self, value: Any) -> str | None:
        text = json.dumps(finite_or_none(value))
        if text == self.sent:
            return None
        self.sent = text
        return text


async def _pause(stopping: anyio.Event) -> None:
    """Wait until the next look at the folders, or until the server stops."""
    with anyio.move_on_after(WATCH_SECONDS):
        await stopping.wait()


async def _error(request: Request, error: HTTPException):
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


async def _unknown_run(request: Request, error: UnknownRun):
    """A run gone (or swapped for a link) while a request about it was answered."""
    name = str(error.args[0] if error.args else "")
    return JSONResponse({"error": f"no run called {name[:200]!r} here"}, status_code=404)
