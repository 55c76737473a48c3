"""A network in one file, and back: :meth:`Network.save` and :func:`load_network`.

The file is a run folder's parameter file (``weights_0…``, ``biases_0…``, NumPy's .npz)
with the architecture beside the arrays: ``architecture`` holds, as a JSON string, the
layer sizes, the hidden activation, the cost and the dtype. So a network saved from a
notebook and a run folder's ``parameters.npz`` are read the same way; a run folder (or its
``parameters.npz``, which has no architecture of its own) takes the architecture from the
folder's ``config.json``. Written atomically, with the permissions of any new file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnreg.checkpoints import atomic_write_bytes, load_parameters

if TYPE_CHECKING:
    from nnreg.network import Network

FORMAT = 1
ARCHITECTURE = "architecture"


def save_network(network: Network, path: str | Path) -> Path:
    """Write ``network``'s parameters and architecture to ``path`` (".npz" is added when
    missing); returns the path written."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    architecture = {
        "format": FORMAT,
        "sizes": [int(size) for size in network.sizes],
        "activation": network.activation.name,
        "cost": network.cost.name,
        "dtype": network.dtype.name,
    }
    arrays = {f"weights_{i}": w for i, w in enumerate(network.weights)}
    arrays.update({f"biases_{i}": b for i, b in enumerate(network.biases)})
    arrays[ARCHITECTURE] = np.array(json.dumps(architecture))
    try:
        atomic_write_bytes(path, lambda handle: np.savez(handle, **arrays))
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def load_network(path: str | Path) -> Network:
    """The network saved in ``path``: a file written by :meth:`Network.save`, a run folder,
    or a run folder's ``parameters.npz`` / ``initial_parameters.npz``. ``ValueError``
    naming the file when it is none of these or does not hold a consistent network."""
    from nnreg.network import Network

    path = Path(path)
    if path.is_dir():
        return _from_run_folder(path, path / "parameters.npz")
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    weights, biases = load_parameters(path)
    architecture = _architecture(path)
    if architecture is None:
        return _from_run_folder(path.parent, path)
    _check_shapes(path, weights, biases, architecture["sizes"])
    return _built(Network, path, weights, biases, architecture)


def _architecture(path: Path) -> dict | None:
    with np.load(path, allow_pickle=False) as archive:
        if ARCHITECTURE not in archive.files:
            return None
        text = archive[ARCHITECTURE]
    try:
        architecture = json.loads(str(text))
        if not isinstance(architecture, dict) or not isinstance(architecture.get("sizes"), list):
            raise ValueError("not an architecture")
    except ValueError:
        raise ValueError(f"{path}: its architecture entry is not readable") from None
    return architecture


def _from_run_folder(folder: Path, parameters: Path) -> Network:
    from nnreg.network import Network
    from nnreg.runs import read_config

    config = read_config(folder)  # ValueError naming the folder when it is not a run's
    settings = config.get("settings", {})
    weights, biases = load_parameters(parameters)
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    if settings.get("sizes") not in (None, sizes):
        raise ValueError(f"{parameters} does not fit its run folder's sizes {settings['sizes']}")
    architecture = {
        "sizes": sizes,
        "activation": settings.get("activation", "sigmoid"),
        "cost": settings.get("cost", "cross-entropy"),
        "dtype": settings.get("dtype", weights[0].dtype.name),
    }
    return _built(Network, parameters, weights, biases, architecture)


def _check_shapes(path: Path, weights, biases, sizes) -> None:
    expected = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    found = [w.shape for w in weights]
    if found != expected or [b.shape for b in biases] != [(n,) for n in sizes[1:]]:
        raise ValueError(
            f"{path}: its arrays ({found}) do not fit its architecture's sizes {sizes}"
        )


def _built(network_class, path: Path, weights, biases, architecture: dict) -> Network:
    if architecture.get("dtype") not in ("float64", "float32"):
        raise ValueError(
            f"{path}: its dtype {architecture.get('dtype')!r} is not float64 or float32"
        )
    try:
        network = network_class.from_parameters(
            [np.asarray(w, dtype=architecture["dtype"]) for w in weights],
            [np.asarray(b, dtype=architecture["dtype"]) for b in biases],
            architecture["activation"],
            architecture["cost"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a network nnreg can build ({error})") from None
    network.initializer = architecture.get("initializer")
    return network
