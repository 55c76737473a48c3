"""Small timing helpers shared by the benchmarks: repeats, min/median/max, machine facts."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def summary(values: list[float]) -> dict[str, float]:
    """min, median and max of some measurements."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def timings(run: Callable[[], object], repeats: int) -> dict[str, float]:
    """Seconds of ``repeats`` calls of ``run``: min, median, max."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return summary(seconds)


def machine() -> dict[str, object]:
    """Python, NumPy, the BLAS library and its thread count (threadpoolctl)."""
    info: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "processor": platform.processor() or platform.machine(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: pool.get(k) for k in ("internal_api", "version", "num_threads")}
            for pool in threadpool_info()
            if pool.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    from nnreg import kernels

    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    info["compiled_l1_kernels"] = kernels.compiled()
    return info


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
