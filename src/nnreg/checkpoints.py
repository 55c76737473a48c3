"""Atomic saving and loading of a network's parameters, and checkpoints of a whole run.

Files are NumPy ``.npz`` archives written to a temporary file in the same folder,
flushed to disk and renamed over the final name, so a reader never sees half a file and
a crash leaves the previous file intact. Loading never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: Path, write, keep_previous: Path | None = None) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``;
    with ``keep_previous``, an existing ``path`` is first renamed to that name."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a readable nnreg parameter file: {error}") from None
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


def load_checkpoint(folder: Path, network, state) -> tuple[list, dict, str | None]:
    """Restore ``network`` and ``state`` in place from the newest good checkpoint in
    ``folder``; returns (records, extra, warning) — the warning says when the newest file
    was damaged and the previous one was used. ``CheckpointError`` when none is usable."""
    folder = Path(folder)
    problems = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        try:
            records, extra = _restore(path, network, state)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        warning = None
        if name == PREVIOUS_CHECKPOINT:
            warning = f"the newest checkpoint was unusable ({problems[0]}); resumed from {name}"
        return records, extra, warning
    raise CheckpointError(f"no usable checkpoint in {folder}: {'; '.join(problems)}")


def _parameter_arrays(weights, biases) -> dict[str, np.ndarray]:
    arrays = {f"weights_{i}": w for i, w in enumerate(weights)}
    arrays.update({f"biases_{i}": b for i, b in enumerate(biases)})
    return arrays


def _restore(path: Path, network, state) -> tuple[list, dict]:
    """Read every array first (a truncated or corrupted file fails here, before anything is
    changed), check it fits, then copy into the network and state."""
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
        raise CheckpointError(f"{path.name} is damaged ({type(error).__name__}: {error})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name} has an unknown format {meta.get('format')!r}")
    targets = _parameter_arrays(network.weights, network.biases)
    for name, values in state.optimizer_state.items():
        targets.update({f"optimizer.{name}.{i}": v for i, v in enumerate(values)})
    for key, entry in state.regularizer_state.items():
        targets.update({f"regularizer.{key.replace('/', '_')}.{k}": v for k, v in entry.items()})
    if set(targets) != set(arrays):
        raise CheckpointError(f"{path.name} does not hold this run's state (different arrays)")
    for key, target in targets.items():
        if arrays[key].shape != target.shape:
            raise CheckpointError(
                f"{path.name}: {key} has shape {arrays[key].shape}, the network {target.shape}"
            )
    for key, target in targets.items():
        target[...] = arrays[key]
    state.rng.bit_generator.state = meta["rng"]
    state.epoch = int(meta["epoch"])
    state.order = order
    state.position = int(meta.get("position", 0)) if order is not None else 0
    state.monitor_state = monitor_state if order is not None else {}
    return meta["records"], meta["extra"]
