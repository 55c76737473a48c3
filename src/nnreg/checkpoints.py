"""Atomic saving and loading of a network's parameters, and checkpoints of a whole run.

Files are NumPy ``.npz`` archives written to a temporary file in the same folder,
flushed to disk and renamed over the final name, so a reader never sees half a file and
a crash leaves the previous file intact. Loading never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path

import numpy as np


def temporary_file_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new, uniquely named file next to ``path``, open for writing: (descriptor, name).

    Created as ``open(…, 0o666)`` is, so the user's umask (and a folder's default ACL) set
    its permissions, as for any file the user creates; ``tempfile.mkstemp`` would make it
    0600 whatever the umask, and once renamed into place it would be unreadable to a
    colleague or to Dask workers running as another user."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(name, flags, 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write_bytes(path: Path, write, keep_previous: Path | None = None) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``;
    with ``keep_previous``, an existing ``path`` is first renamed to that name. The file gets
    the permissions of any new file under the user's umask."""
    path = Path(path)
    fd, temporary = temporary_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_parameters(path: Path, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
    """Write ``weights_0…``, ``biases_0…`` to ``path`` atomically."""
    arrays = {f"weights_{i}": w for i, w in enumerate(weights)}
    arrays.update({f"biases_{i}": b for i, b in enumerate(biases)})
    atomic_write_bytes(path, lambda handle: np.savez(handle, **arrays))


def load_parameters(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read what :func:`save_parameters` wrote; ``ValueError`` if it is not such a file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            layers = sum(1 for key in archive.files if key.startswith("weights_"))
            weights = [archive[f"weights_{i}"] for i in range(layers)]
            biases = [archive[f"biases_{i}"] for i in range(layers)]
    except Exception as error:  # noqa: BLE001 - zip, zlib, OS and NumPy errors alike
        raise ValueError(
            f"{path} is not a readable nnreg parameter file ({type(error).__name__}: {error})"
        ) from None
    if not layers or any(a.dtype.kind != "f" for a in weights + biases):
        raise ValueError(f"{path} is not a readable nnreg parameter file: no float arrays")
    return weights, biases


CHECKPOINT = "checkpoint.npz"
PREVIOUS_CHECKPOINT = "checkpoint.previous.npz"
CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not fit the network."""


def save_checkpoint(folder: Path, network, state, records: list, extra: dict) -> None:
    """Everything needed to continue training bit for bit, written atomically to
    ``folder/checkpoint.npz``; the checkpoint it replaces is kept as
    ``checkpoint.previous.npz``, so a file damaged later still leaves a good one.

    Holds the parameters, the optimizer's and the regularizer's state (e.g. momentum
    velocities, cumulative-L1 accumulators), the shuffling generator's state, the epoch
    (and, when training stopped part-way through one, its shuffled order and position and
    what the monitors noted at its start, such as the signs sign flips are counted from),
    every epoch's metrics so far and ``extra`` (plain data such as the learning rate).
    """
    arrays = _parameter_arrays(network.weights, network.biases)
    for name, values in state.optimizer_state.items():
        arrays.update({f"optimizer.{name}.{i}": v for i, v in enumerate(values)})
    for key, entry in state.regularizer_state.items():
        arrays.update({f"regularizer.{key.replace('/', '_')}.{k}": v for k, v in entry.items()})
    if state.order is not None:  # stopped part-way through an epoch
        arrays["epoch_order"] = state.order
        arrays.update({f"monitor.{key}": a for key, a in state.monitor_state.items()})
    meta = {
        "format": CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "position": state.position if state.order is not None else 0,
        "rng": state.rng.bit_generator.state,
        "records": records,
        "extra": extra,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    folder = Path(folder)
    atomic_write_bytes(
        folder / CHECKPOINT,
        lambda handle: np.savez(handle, **arrays),
        keep_previous=folder / PREVIOUS_CHECKPOINT,
    )


def load_checkpoint(
    folder: Path, network, state, examples: int | None = None
) -> tuple[list, dict, str | None]:
    """Restore ``network`` and ``state`` in place from the newest good checkpoint in
    ``folder``; returns (records, extra, warning) — the warning says when the newest file
    was damaged and the previous one was used. ``examples`` (the training-set size) lets the
    saved shuffled order of an interrupted epoch be checked. A checkpoint is *damaged* when
    anything in it is wrong — a torn file, metadata of the wrong shape or type, parameters
    that are not finite or not of the network's dtype — and the previous one is used then.
    ``CheckpointError`` when none is usable."""
    folder = Path(folder)
    problems = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        try:
            records, extra = _restore(path, network, state, examples)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        warning = None
        if name == PREVIOUS_CHECKPOINT:
            warning = f"the newest checkpoint was unusable ({problems[0]}); resumed from {name}"
        return records, extra, warning
    raise CheckpointError(
        f"no usable checkpoint in {folder}: {'; '.join(problems)}. To train the run again "
        f"from its start (its settings and seed give the same result), delete {CHECKPOINT} "
        f"and {PREVIOUS_CHECKPOINT} there and resume again"
    )


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint file at all (usable or not)."""
    return any((Path(folder) / name).exists() for name in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def _parameter_arrays(weights, biases) -> dict[str, np.ndarray]:
    arrays = {f"weights_{i}": w for i, w in enumerate(weights)}
    arrays.update({f"biases_{i}": b for i, b in enumerate(biases)})
    return arrays


def _restore(path: Path, network, state, examples: int | None) -> tuple[list, dict]:
    """Read every array first (a truncated or corrupted file fails here, before anything is
    changed), check all of it, then copy into the network and state."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
        order = arrays.pop("epoch_order", None)
        monitor_state = {
            key[len("monitor.") :]: arrays.pop(key)
            for key in list(arrays)
            if key.startswith("monitor.")
        }
    except Exception as error:  # noqa: BLE001 - zip, zlib, JSON and NumPy errors alike
        raise CheckpointError(f"{path} is damaged ({type(error).__name__}: {error})") from None
    targets = _parameter_arrays(network.weights, network.biases)
    for name, values in state.optimizer_state.items():
        targets.update({f"optimizer.{name}.{i}": v for i, v in enumerate(values)})
    for key, entry in state.regularizer_state.items():
        targets.update({f"regularizer.{key.replace('/', '_')}.{k}": v for k, v in entry.items()})
    problem = _check_meta(meta) or _check_arrays(arrays, targets)
    if problem is None and order is not None:
        problem = _check_order(order, meta["position"], examples)
    if problem is None:
        problem = _check_rng(meta["rng"], state.rng)
    if problem is not None:
        raise CheckpointError(f"{path} is damaged: {problem}")
    for key, target in targets.items():
        target[...] = arrays[key]
    state.rng.bit_generator.state = meta["rng"]
    state.epoch = meta["epoch"]
    state.order = order
    state.position = meta["position"] if order is not None else 0
    state.monitor_state = monitor_state if order is not None else {}
    return meta["records"], meta["extra"]


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _check_meta(meta) -> str | None:
    """What is wrong with a checkpoint's metadata, or None."""
    if not isinstance(meta, dict):
        return f"its metadata is a {type(meta).__name__}, not an object"
    if meta.get("format") != CHECKPOINT_FORMAT:
        return f"unknown format {meta.get('format')!r}"
    missing = {"epoch", "position", "rng", "records", "extra"} - set(meta)
    if missing:
        return f"its metadata lacks {', '.join(sorted(missing))}"
    epoch, records, extra = meta["epoch"], meta["records"], meta["extra"]
    if not _whole(epoch) or epoch < 0:
        return f"epoch {epoch!r} is not a whole number >= 0"
    if not _whole(meta["position"]) or meta["position"] < 0:
        return f"position {meta['position']!r} is not a whole number >= 0"
    if not isinstance(records, list) or len(records) != epoch:
        return f"it should hold the metrics of {epoch} epochs, not {_describe(records)}"
    for number, record in enumerate(records, start=1):
        if not _good_record(record, number):
            return f"the metrics of epoch {number} are not an nnreg epoch record"
    if not isinstance(extra, dict):
        return f"its extra state is a {type(extra).__name__}, not an object"
    for key in ("learning_rate", "initial_learning_rate"):
        if key in extra and not _positive_number(extra[key]):
            return f"{key} {extra[key]!r} is not a positive number"
    if "last_halving_epoch" in extra and not (
        _whole(extra["last_halving_epoch"]) and 0 <= extra["last_halving_epoch"] <= epoch
    ):
        return f"last_halving_epoch {extra['last_halving_epoch']!r} is not an epoch so far"
    return None


def _describe(value) -> str:
    return f"{len(value)}" if isinstance(value, list) else f"{value!r}"


def _good_record(record, number: int) -> bool:
    """An epoch's metrics as the training loop writes them (the fields later code reads)."""
    if not isinstance(record, dict) or record.get("epoch") != number:
        return False
    numbers = (int, float)
    training, weights = record.get("training"), record.get("weights")
    return (
        _timed(record)
        and isinstance(training, dict)
        and all(isinstance(training.get(k), numbers) for k in ("accuracy", "data_cost"))
        and isinstance(weights, dict)
        and isinstance(weights.get("fraction_zero"), numbers)
        and all(
            isinstance(record[name], dict) and isinstance(record[name].get("accuracy"), numbers)
            for name in ("validation", "test")
            if name in record
        )
    )


def _timed(record: dict) -> bool:
    """The epoch's times: ``time`` (a dict of seconds), or ``seconds`` (older runs)."""
    times = record.get("time")
    if isinstance(times, dict):
        return all(isinstance(v, (int, float)) for v in times.values())
    return isinstance(record.get("seconds"), (int, float))


def _check_arrays(arrays: dict, targets: dict) -> str | None:
    """Same names, shapes and dtype as the network and state, every value finite."""
    if set(targets) != set(arrays):
        return "it does not hold this run's state (different arrays)"
    for key, target in targets.items():
        array = arrays[key]
        if array.shape != target.shape:
            return f"{key} has shape {array.shape}, the network {target.shape}"
        if array.dtype != target.dtype:
            return f"{key} is {array.dtype}, the network {target.dtype}"
        if not np.all(np.isfinite(array)):
            return f"{key} holds NaN or inf (a checkpoint is only written after a finite epoch)"
    return None


def _check_order(order: np.ndarray, position: int, examples: int | None) -> str | None:
    """An interrupted epoch's order: a permutation of the training examples."""
    count = len(order) if order.ndim == 1 else -1
    if order.dtype.kind not in "iu" or count < 1 or (examples is not None and count != examples):
        return "the shuffled order of the interrupted epoch does not fit the training data"
    if not np.array_equal(np.sort(order), np.arange(count)):
        return "the shuffled order of the interrupted epoch is not a permutation"
    if position >= count:
        return f"position {position} is past the end of the epoch ({count} examples)"
    return None


def _check_rng(saved, rng: np.random.Generator) -> str | None:
    """The shuffling generator's saved state, tried on a scratch generator first."""
    try:
        type(rng.bit_generator)().state = saved
    except Exception as error:  # noqa: BLE001 - NumPy raises ValueError, TypeError, KeyError
        return f"the generator state is unusable ({type(error).__name__}: {error})"
    return None
