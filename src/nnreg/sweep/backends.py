"""Where cells train: joblib processes on this machine, or a Dask cluster (or a local one)."""

from __future__ import annotations

import contextlib
import os
import time

from nnreg.sweep.cells import run_cell
from nnreg.sweep.grid import Cell
from nnreg.sweep.supervision import Watchdog, start_loky_worker, start_worker
from nnreg.training import StopFlag


def gather(run_all, tasks, on_cell_done, stop) -> dict[str, dict[str, str]]:
    """Each task's outcome, by cell name. When the backend itself fails (a worker process
    died) or gives up waiting after a stop, the cells without an outcome are failed, or
    interrupted when a stop was asked for."""
    outcomes: dict[str, dict[str, str]] = {}
    problem = "it got no answer from its worker"
    try:
        with contextlib.closing(run_all(tasks)) as answers:  # closing stops the workers
            for outcome in answers:
                outcomes[outcome["name"]] = outcome
                if outcome["status"] != "interrupted":
                    on_cell_done(outcome["name"])
    except Exception as error:  # noqa: BLE001 - e.g. joblib's TerminatedWorkerError
        problem = f"its worker process ended ({type(error).__name__}: {error})"
    stopped = stop is not None and stop.requested
    for task in tasks:
        name = task[1].name
        outcomes.setdefault(
            name,
            {
                "name": name,
                "status": "interrupted" if stopped else "failed",
                "message": f"{problem}; run the sweep again to train it",
            },
        )
    return outcomes


@contextlib.contextmanager
def _joblib(jobs: int, scheduler: str | None, stop: StopFlag | None):
    from joblib import Parallel, delayed, parallel_config

    def run_all(tasks):
        with parallel_config(
            backend="loky", initializer=start_loky_worker, initargs=(os.getpid(),)
        ):
            runs = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(run_cell)(*task) for task in tasks
            )
            with contextlib.closing(runs):  # an exception here stops the workers too
                yield from runs

    yield run_all


@contextlib.contextmanager
def _dask(jobs: int, scheduler: str | None, stop: StopFlag | None):
    try:
        from dask.distributed import Client, LocalCluster, wait
    except ImportError:
        raise ValueError(
            "--backend dask needs Dask: pip install 'nnreg[dask]' (or use --backend joblib)"
        ) from None
    cluster, environment = None, dict(os.environ)
    try:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True)
            client = Client(cluster)
            client.run(start_worker, os.getpid())
    except (OSError, TimeoutError) as error:
        raise ValueError(
            f"cannot reach the Dask scheduler at {scheduler}: {error}. Start one with `dask "
            "scheduler` and workers with `dask worker ADDRESS`, or leave out --scheduler for "
            "a local cluster"
        ) from None

    def run_all(tasks):
        futures = {client.submit(run_cell, *task, pure=False): task for task in tasks}
        pending, stopped_at = set(futures), None
        while pending:
            with contextlib.suppress(TimeoutError):
                # short waits: a stop signal handed to one of Dask's threads is only acted on
                # when this (the main) thread next runs Python, and cells must not finish first
                done, pending = wait(pending, timeout=0.1, return_when="FIRST_COMPLETED")
                yield from (_dask_outcome(f, futures[f][1]) for f in done)
            if stop is not None and stop.requested and pending:
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > Watchdog.GRACE_SECONDS:
                    client.cancel(list(pending))  # their workers do not answer: give up
                    return

    try:
        yield run_all
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
            _restore_environment(environment)


def _restore_environment(saved: dict[str, str]) -> None:
    """Undo what starting a local Dask cluster changed in this process's environment (it
    sets OMP_NUM_THREADS=1 and the like for its workers, which later processes started
    from here would inherit, with other numbers from their BLAS)."""
    for key in set(os.environ) | set(saved):
        if key not in saved:
            del os.environ[key]
        elif os.environ.get(key) != saved[key]:
            os.environ[key] = saved[key]


def _dask_outcome(future, cell: Cell) -> dict[str, str]:
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - the worker died, or lost the task
        return {
            "name": cell.name,
            "status": "failed",
            "message": f"{type(error).__name__}: {error}",
        }


BACKENDS = {"joblib": _joblib, "dask": _dask}
