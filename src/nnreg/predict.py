"""A trained network classifies new files: what ``nnreg predict RUN_FOLDER FILES…`` does.

Each file becomes one or more rows of the network's input, made the way its training data
were made (the run folder's ``config.json`` names the data set):

* **pictures** (PNG, JPEG, any format Pillow opens): one input each, see
  :mod:`nnreg.images` — read as grey, inverted when the paper is light, framed as the data
  set's images were (MNIST: the ink fitted into 20×20 and centred by centre of mass in
  28×28; the 8×8 digits: fitted into 8×8, pixels in sixteenths). Only for a network whose
  input count is a square (side × side pixels).
* **.npy arrays and IDX files**: one input per image or row, never resized: one image
  side × side, a stack N × side × side, one row of n_in values or rows N × n_in. The dtype
  tells what the numbers are: integers are the training data's codes, divided as in
  training (÷ 255 for MNIST-style data, ÷ 16 for the digits, whose pixels are counts
  0–16); floats are the network's inputs as they are and must lie in [0, 1].

The network's outputs are kept as they are; the probabilities shown are, per output
layer: softmax (log-likelihood cost) its outputs, which sum to 1; sigmoid outputs
(cross-entropy, or quadratic cost with sigmoid) normalised to sum 1, pⱼ = aⱼ / Σₖ aₖ —
each sigmoid unit answers "is it class j?" on its own, so these are shares of the
answers, not calibrated probabilities; tanh or ReLU outputs (quadratic cost) none.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.datasets.idx import DTYPES as IDX_DTYPES
from nnreg.datasets.idx import GZIP_MAGIC, IdxError, read_idx
from nnreg.images import FRAMINGS, Framing, InputFileError, picture_input
from nnreg.network import Network
from nnreg.network_files import load_network
from nnreg.runs import CONFIG, PARAMETERS, SUMMARY, is_training, read_config

CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}
"""Names of the classes of data sets whose classes are not simply the digits 0–9."""
NPY_MAGIC = b"\x93NUMPY"


class RunFolderError(ValueError):
    """A run folder (or network file) that holds no network to predict with."""


@dataclass(frozen=True)
class TrainedNetwork:
    """A network with what is needed to feed it files: how its training images were framed
    (and their divisor), the data set's class names (None: the classes are 0, 1, 2, …)."""

    network: Network
    framing: Framing
    class_names: tuple[str, ...] | None = None

    @property
    def inputs(self) -> int:
        return self.network.sizes[0]


@dataclass(frozen=True)
class Prediction:
    """The network's answer for one example: the ``index``-th of ``file`` (0 for a picture),
    its predicted ``label`` (the most active output unit) and that class's name ("7", or
    "Sneaker" for Fashion-MNIST), the probabilities (see the module docstring; None for
    tanh or ReLU outputs), the output activations as they are, and how the file was made
    into the input."""

    file: str
    index: int
    label: int
    class_name: str
    probabilities: tuple[float, ...] | None
    outputs: tuple[float, ...]
    preparation: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``--json``)."""
        return {
            "file": self.file,
            "index": self.index,
            "label": self.label,
            "class_name": self.class_name,
            "probabilities": None if self.probabilities is None else list(self.probabilities),
            "outputs": list(self.outputs),
            "preparation": self.preparation,
        }


def load_trained(run_folder: str | Path) -> TrainedNetwork:
    """The network of a run folder written by ``nnreg train`` (its ``parameters.npz``: the
    last epoch that did not diverge), or of a file written by :meth:`Network.save` (framed
    as the digits when it has 64 inputs, else as MNIST). :class:`RunFolderError` naming the
    folder otherwise."""
    path = Path(run_folder)
    if path.is_dir() and (path / CONFIG).is_file() and not (path / PARAMETERS).is_file():
        if is_training(path):
            when = "it is still training its first epoch: wait until one epoch has ended"
        elif (path / SUMMARY).is_file():
            when = "no epoch ended without diverging: train again, e.g. with a smaller --eta"
        else:
            when = "its training stopped in its first epoch: continue it with nnreg train "
            when += f"--resume {path}"
        raise RunFolderError(f"{path} holds no trained parameters (no {PARAMETERS}): {when}")
    try:
        network = load_network(path)
    except ValueError as error:
        raise RunFolderError(
            f"{error}. Give the folder nnreg train wrote (its --out), or a network file "
            "written by Network.save"
        ) from None
    data = _training_data(path, network)
    framing = FRAMINGS.get(data, FRAMINGS["mnist"])
    return TrainedNetwork(network, framing, CLASS_NAMES.get(data))


def _training_data(path: Path, network: Network) -> str:
    """The data set the network was trained on: its run folder's ``data`` setting, else a
    guess from its input count."""
    folder = path if path.is_dir() else path.parent
    if (folder / CONFIG).is_file():
        settings = read_config(folder).get("settings", {})
        if (settings.get("sizes") or network.sizes)[0] == network.sizes[0]:
            return str(settings.get("data", "digits"))
    return "digits" if network.sizes[0] == 64 else "mnist"


def predict_files(
    run_folder: str | Path | TrainedNetwork, paths: list[str | Path]
) -> list[Prediction]:
    """One :class:`Prediction` per example in ``paths``, in order (an IDX file or a .npy
    stack gives one per image). Stops at the first file that cannot be read, with an
    :class:`~nnreg.images.InputFileError` naming it."""
    trained = run_folder if isinstance(run_folder, TrainedNetwork) else load_trained(run_folder)
    return [prediction for path in paths for prediction in predict_file(trained, path)]


def predict_file(trained: TrainedNetwork, path: str | Path) -> list[Prediction]:
    """The predictions for every example in one file (see :func:`predict_files`)."""
    inputs, preparation = read_inputs(path, trained)
    network = trained.network
    outputs = network.feedforward(inputs.astype(network.dtype, copy=False))
    probabilities = output_probabilities(network, outputs)
    labels = np.argmax(outputs, axis=1)
    names = trained.class_names
    return [
        Prediction(
            file=str(path),
            index=index,
            label=int(label),
            class_name=names[label] if names and label < len(names) else str(label),
            probabilities=None if probabilities is None else tuple(probabilities[index].tolist()),
            outputs=tuple(outputs[index].tolist()),
            preparation=preparation,
        )
        for index, label in enumerate(labels)
    ]


def output_probabilities(network: Network, outputs: np.ndarray) -> np.ndarray | None:
    """Softmax outputs as they are; sigmoid outputs normalised, pⱼ = aⱼ / Σₖ aₖ (a row whose
    outputs all underflowed to 0 gets 1/k each); None for tanh or ReLU outputs."""
    if network.cost.name == "log-likelihood":
        return outputs
    activation = getattr(network.cost, "output_activation", None)
    if activation is None or activation.name != "sigmoid":
        return None
    totals = outputs.sum(axis=1, keepdims=True)
    uniform = np.full_like(outputs, 1.0 / outputs.shape[1])
    return np.divide(outputs, totals, out=uniform, where=totals > 0)


def read_inputs(path: str | Path, trained: TrainedNetwork) -> tuple[np.ndarray, str]:
    """The network's inputs from one file, shape (examples, n_in), told apart by content
    (NumPy's .npy magic, IDX's header or gzip, else a picture), with a few words on how
    they were made."""
    path = Path(path)
    kind = _file_kind(path)
    n_in = trained.inputs
    if kind == "picture":
        side = isqrt(n_in)
        if side * side != n_in:
            raise InputFileError(
                f"{path}: the network takes {n_in} inputs, not a square picture: give a .npy "
                f"or IDX file with {n_in} values per example"
            )
        row, preparation = picture_input(path, side, trained.framing)
        return row.reshape(1, n_in), preparation
    array = _load_npy(path) if kind == "npy" else _load_idx(path)
    return array_inputs(path, array, n_in, trained.framing)


def _file_kind(path: Path) -> str:
    """ "npy", "idx" or "picture", from the first bytes; :class:`InputFileError` for a
    missing, empty or unreadable file, or a folder."""
    if path.is_dir():
        raise InputFileError(f"{path} is a folder: give the files in it (e.g. {path}/*.png)")
    try:
        # non-blocking, so that a FIFO or a device named like a picture cannot hang us
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputFileError(
                    f"{path} is not a plain file (a FIFO, a socket or a device): give a "
                    "picture, .npy or IDX file"
                )
            head = handle.read(8)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file: check the name and the folder") from None
    except OSError as error:
        raise InputFileError(f"{path} cannot be read: {error.strerror or error}") from None
    if not head:
        raise InputFileError(f"{path} is empty (0 bytes): give a picture, .npy or IDX file")
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(GZIP_MAGIC) or (
        len(head) >= 4 and head[:2] == b"\0\0" and head[2] in IDX_DTYPES and head[3] > 0
    ):
        return "idx"
    return "picture"


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - NumPy's header, pickle and size errors alike
        raise InputFileError(
            f"{path} is not a readable .npy array ({type(error).__name__}: {error}): save "
            "numbers (not objects) with numpy.save"
        ) from None


def _load_idx(path: Path) -> np.ndarray:
    try:
        return read_idx(path)
    except IdxError as error:
        raise InputFileError(f"{error}: is the file complete? Write or download it again") from None


def array_inputs(
    path: Path, array: np.ndarray, n_in: int, framing: Framing
) -> tuple[np.ndarray, str]:
    """The rows (examples, n_in) an array holds, as the network's inputs: integer codes
    c ÷ divisor (c must lie in 0…divisor), floats as they are (they must lie in [0, 1]),
    booleans as 0 and 1. Never resized: see :func:`_as_rows` for the shapes taken."""
    rows = _as_rows(path, array, n_in)
    if len(rows) == 0:
        raise InputFileError(f"{path} holds no examples (shape {array.shape}): give at least one")
    divisor = framing.divisor
    if rows.dtype.kind in "ui":
        low, high = int(rows.min()), int(rows.max())
        if low < 0 or high > divisor:
            raise InputFileError(
                f"{path}: its integers run from {low} to {high}, but this network was trained "
                f"on {framing.name}-style codes 0–{divisor:g} (÷ {divisor:g}): rescale them to "
                f"0–{divisor:g}, or give floats in [0, 1]"
            )
        return rows / divisor, f"codes ÷ {divisor:g}"
    if rows.dtype.kind == "b":
        return rows.astype(np.float64), "booleans as 0 and 1"
    if rows.dtype.kind != "f":
        raise InputFileError(
            f"{path} holds {rows.dtype} values: give integer codes or floats in [0, 1]"
        )
    if not np.all(np.isfinite(rows)):
        raise InputFileError(f"{path} holds NaN or infinite values: every input must be a number")
    low, high = float(rows.min()), float(rows.max())
    if low < 0.0 or high > 1.0:
        raise InputFileError(
            f"{path}: its floats run from {low:g} to {high:g}, but floats are taken as the "
            f"network's inputs, in [0, 1]: divide grey levels 0–255 by 255 (scikit-learn's "
            "digits 0–16 by 16), or save them as integers"
        )
    return rows.astype(np.float64, copy=False), "as they are"


def _as_rows(path: Path, array: np.ndarray, n_in: int) -> np.ndarray:
    """``array`` as rows of n_in values: one row (n_in,), rows (N, n_in), one image
    (side, side) or a stack (N, side, side) when n_in = side²; anything else is refused,
    never resized."""
    side = isqrt(n_in)
    square = side * side == n_in
    if array.ndim == 1 and array.size == n_in:
        return array.reshape(1, n_in)
    if array.ndim == 2 and array.shape[1] == n_in:
        return array
    if square and array.shape[-2:] == (side, side) and array.ndim in (2, 3):
        return array.reshape(-1, n_in)
    shapes = f"one row of {n_in} values or rows N × {n_in}"
    if square:
        shapes = f"one {side}×{side} image, a stack N × {side} × {side}, " + shapes
    features = array.shape[-1] if array.ndim <= 2 else " × ".join(map(str, array.shape[1:]))
    labels = " (labels?)" if array.ndim == 1 else ""
    raise InputFileError(
        f"{path} holds an array of shape {array.shape}{labels} ({features} values per "
        f"example), but the network takes {n_in} inputs: give {shapes}. Arrays are never "
        "resized: save a picture as PNG to have it framed as the training images were"
    )


def format_predictions(predictions: list[Prediction], top: int = 3) -> list[str]:
    """One line per prediction: where it comes from (``file`` or ``file[index]`` for a file
    with several examples), the predicted class, then the ``top`` most likely classes with
    their probabilities (``p``), or with their outputs when there are none."""
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}: the number of classes to list")
    counts = Counter(prediction.file for prediction in predictions)
    places = [f"{p.file}[{p.index}]" if counts[p.file] > 1 else p.file for p in predictions]
    width = max(map(len, places), default=0)
    lines = []
    for place, prediction in zip(places, predictions):
        shown = str(prediction.label)
        if prediction.class_name != shown:
            shown += f" ({prediction.class_name})"
        line = f"{place:<{width}}  {shown}"
        values = prediction.probabilities or prediction.outputs
        best = np.argsort(-np.asarray(values), kind="stable")[:top]
        if len(best):
            word = "p" if prediction.probabilities is not None else "outputs"
            line += f"   {word} " + ", ".join(f"{k}: {values[k]:.3f}" for k in best)
        lines.append(line)
    return lines
