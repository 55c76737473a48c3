"""Finding a learner's weights and biases by what they are, not by what they are called.

Every float array reachable from the network — its attributes, dict entries, list and tuple
items and layer objects, a few levels deep (or a module's globals, for code written as
functions) — is a candidate. The **weights** are the matrices that chain layer after layer:
n_in → n_hidden → n_out, stored either as (n_out, n_in) (the book's ``W @ x``) or as
(n_in, n_out) (``X @ W``, examples as rows). Each layer's **bias** is the array with one value
per unit of that layer's output: shape (n_out,), (n_out, 1) or (1, n_out). When the sizes are
known (the doctor built the network) the shapes alone decide; names are hints only, used to
choose among arrays of the same shape — ``W``, ``weight``… before others, ``b``, ``bias``… for
biases, and never arrays whose names say they are something else: velocities, gradients,
caches, data (``v``, ``grad``, ``dW``, ``cache``, ``X``…). A bias is looked for beside its
weight first (``weights[1]`` ↔ ``biases[1]``, ``W1`` ↔ ``b1``, ``layers[0].W`` ↔
``layers[0].b``, ``Wh`` ↔ ``Bh``).

Each array is reached through a *path* from the root — attribute names, dict keys and list or
tuple indices — so the probes can read it and put controlled values in its place.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Parameter:
    """One parameter array of the learner's network, reached through a path of attribute
    names, dict keys and list indices from the root (the network, a dict, a module).
    ``layer`` counts weight layers from 0 (input side); ``rows_are_outputs`` says how a
    weight matrix is stored: (n_out, n_in) when True, (n_in, n_out) when False."""

    label: str
    kind: str  # "weight" or "bias"
    path: tuple
    layer: int = 0
    rows_are_outputs: bool = True
    order: int = 0
    """Where the learner's code keeps it among the network's arrays (its attributes'
    order): gradients returned in the learner's own order are matched in this order."""

    def get(self, root: Any) -> np.ndarray:
        return np.asarray(self.raw(root))

    def raw(self, root: Any) -> Any:
        """The value at the path as the learner's code holds it (not turned into an array)."""
        value = root
        for step in self.path:
            value = _step(value, step)
        return value

    def set(self, root: Any, array: np.ndarray) -> None:
        _replace(root, self.path, array)


def _step(value: Any, step: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return value[step]
    return getattr(value, step)


def _replace(container: Any, path: tuple, array: np.ndarray) -> Any:
    """``container`` with the value at ``path`` replaced: lists, dicts and objects are
    changed in place, tuples (which cannot be) are rebuilt and put back one level up."""
    step, rest = path[0], path[1:]
    value = _replace(_step(container, step), rest, array) if rest else array
    if isinstance(container, tuple):
        items = [value if i == step else item for i, item in enumerate(container)]
        return type(container)(*items) if hasattr(container, "_fields") else tuple(items)
    if isinstance(container, (dict, list)):
        container[step] = value
    else:
        setattr(container, step, value)
    return container


# -- candidates -------------------------------------------------------------------------------
@dataclass
class Candidate:
    """A float array found under the root, with the path that reaches it and that path as
    code writes it (``layers[0].W``, ``params['W1']``)."""

    path: tuple
    array: np.ndarray
    label: str = ""

    @property
    def name(self) -> str:
        """The last name on the path (an attribute or a dict key), e.g. ``W`` or ``weights``."""
        return next((str(s) for s in reversed(self.path) if isinstance(s, str)), "")

    @property
    def shape(self) -> tuple:
        return self.array.shape


MAX_DEPTH = 4
MAX_NODES = 4000
LIBRARIES = ("numpy", "scipy", "sklearn", "pandas", "matplotlib", "torch", "jax", "tensorflow")


def candidates(root: Any) -> list[Candidate]:
    """Every float array of one or two dimensions reachable from ``root``, each once (by
    the shortest path: ``self.layers[0].W`` and an alias ``self.W[0]`` are one array)."""
    found: dict[int, Candidate] = {}
    for candidate in _walk(root):
        known = found.get(id(candidate.array))
        if known is None or len(candidate.path) < len(known.path):
            found[id(candidate.array)] = candidate
    return list(found.values())


def _walk(root: Any) -> Iterator[Candidate]:
    seen: set[int] = set()
    queue: list[tuple[tuple, str, Any]] = [((), "", root)]
    nodes = 0
    while queue and nodes < MAX_NODES:
        path, text, value = queue.pop(0)
        nodes += 1
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f" and value.ndim in (1, 2) and value.size > 0:
                yield Candidate(path, value, text)
            continue
        if id(value) in seen or len(path) >= MAX_DEPTH:
            continue
        seen.add(id(value))
        for step, item, shown in _children(value, root=not path):
            queue.append(((*path, step), _joined(text, shown), item))


def _joined(text: str, shown: str) -> str:
    if shown.startswith("["):
        return text + shown
    return f"{text}.{shown}" if text else shown


def _children(value: Any, root: bool = False) -> list[tuple[Any, Any, str]]:
    """(step, item, the step as code writes it) for each item ``value`` holds."""
    if isinstance(value, dict):
        return [(k, v, f"[{k!r}]") for k, v in value.items() if isinstance(k, (str, int))]
    if isinstance(value, (list, tuple)):
        return [(i, v, f"[{i}]") for i, v in enumerate(value)] if len(value) <= 64 else []
    if isinstance(value, types.ModuleType):
        if not root:
            return []
        return [(k, v, k) for k, v in vars(value).items() if not k.startswith("__")]
    if not _is_learners_object(value):
        return []
    try:
        attributes = vars(value)
    except TypeError:  # no __dict__ (__slots__ or a builtin)
        return []
    return [(k, v, k) for k, v in attributes.items() if not k.startswith("__")]


def _is_learners_object(value: Any) -> bool:
    """An instance of a class of the learner's (not a function, class, module or library
    object such as a NumPy generator)."""
    if isinstance(value, (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return False
    module = type(value).__module__ or ""
    return module != "builtins" and module.split(".")[0] not in LIBRARIES


# -- names: hints only ------------------------------------------------------------------------
WEIGHT_WORDS = {"w", "ws", "weight", "weights", "wt", "wts", "kernel", "theta", "coef", "coefs"}
BIAS_WORDS = {"b", "bs", "bias", "biases", "intercept", "intercepts"}
OTHER_WORDS = {
    "v", "vw", "vb", "vel", "velocity", "velocities", "momentum", "mom", "m", "s", "r",
    "cache", "caches", "grad", "grads", "gradient", "gradients", "d", "dw", "db", "delta",
    "deltas", "nabla", "prev", "previous", "old", "last", "update", "updates", "change",
    "sq", "rms", "adam", "moment", "moments", "best", "init", "initial", "saved", "backup",
    "copy", "x", "y", "data", "input", "inputs", "target", "targets", "label", "labels",
    "activation", "activations", "a", "z", "mask", "masks", "history", "errors", "error",
}  # fmt: skip
"""First words of names that are not parameters: velocities, gradients, caches, data."""


def words(name: str) -> list[str]:
    """``weights_hidden`` → [weights, hidden]; ``Wh`` → [w, h]; ``vW1`` → [v, w]."""
    parts = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    parts = re.sub(r"([A-Z])([A-Z][a-z])", r"\1 \2", parts)
    return [p.lower() for p in re.split(r"[^A-Za-z]+|(?<=\d)(?=[A-Za-z])", parts) if p]


def _role_of_name(candidate: Candidate) -> str | None:
    """ "weight", "bias", "other" or None, from the first word of the candidate's name (or
    of its container's, for ``weights[0]``)."""
    for step in reversed(candidate.path):
        if not isinstance(step, str):
            continue
        first = (words(step) or [""])[0]
        if first in WEIGHT_WORDS:
            return "weight"
        if first in BIAS_WORDS:
            return "bias"
        if first in OTHER_WORDS or step.lower() in OTHER_WORDS:
            return "other"
        if len(words(step)) == 1 and words(step)[0][:1] in "wb" and len(step) <= 3:
            return "weight" if step[:1] in "wW" else "bias"  # Wh, bo, W_out
        return None
    return None


def _name_score(candidate: Candidate, kind: str) -> int:
    role = _role_of_name(candidate)
    if role == kind:
        return 2
    if role == "other":
        return -3
    return -1 if role is not None else 0


# -- choosing the layers ----------------------------------------------------------------------
def find_parameters(root: Any, sizes: Sequence[int] | None = None) -> list[Parameter]:
    """The weights (input layer first), then the biases, of the network under ``root``; []
    when no chain of weight matrices is found. With ``sizes`` (the network was built with
    them) only matrices of those layers' shapes count."""
    return parameters_among(candidates(root), sizes)


def parameters_among(
    found: list[Candidate],
    sizes: Sequence[int] | None = None,
    also: list[Candidate] | None = None,
) -> list[Parameter]:
    """:func:`find_parameters` among given candidates (e.g. those an update changed); the
    biases may also be among ``also`` (a bias the update leaves alone is still a bias)."""
    usable = [c for c in found if _role_of_name(c) != "other"] or found
    for pool in (usable, found):
        matrices = [
            c
            for c in pool
            if (c.array.ndim == 2 or _role_of_name(c) == "weight") and _role_of_name(c) != "bias"
        ]
        extra = [c for c in also or [] if _role_of_name(c) != "other" and c not in pool]
        chain = _best_chain(matrices, sizes, pool + extra)
        if chain is not None:
            weights, rows_are_outputs, biases = chain
            return _labelled(weights, biases, rows_are_outputs, found + (also or []))
    return []


def _best_chain(matrices: list[Candidate], sizes, pool: list[Candidate]):
    """The best (weights, orientation, biases) over both orientations, or None."""
    best, best_score = None, None
    for rows_are_outputs in (True, False):
        for weights in _chains(matrices, sizes, rows_are_outputs):
            biases = _biases(weights, rows_are_outputs, pool)
            score = _chain_score(weights, biases)
            if best_score is None or score > best_score:
                best, best_score = (weights, rows_are_outputs, biases), score
    return best


def _io(candidate: Candidate, rows_are_outputs: bool) -> tuple[int, int]:
    return layer_io(candidate.array, rows_are_outputs)


def layer_io(weights: np.ndarray, rows_are_outputs: bool) -> tuple[int, int]:
    """(inputs, outputs) of a weight matrix stored one way or the other; a weight *vector*
    is a layer of one output unit (``w2`` of shape (n_hidden,) in a binary classifier)."""
    if weights.ndim == 1:
        return weights.size, 1
    rows, columns = weights.shape
    return (columns, rows) if rows_are_outputs else (rows, columns)


def _chains(matrices: list[Candidate], sizes, rows_are_outputs: bool) -> list[list[Candidate]]:
    """Chains of matrices, each layer's outputs the next one's inputs: with ``sizes``, the
    best-named matrix of each layer's shape; else every longest chain."""
    if sizes is not None:
        chosen = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            fitting = [
                m for m in matrices if _io(m, rows_are_outputs) == (n_in, n_out) and m not in chosen
            ]
            if not fitting:
                return []
            chosen.append(max(fitting, key=lambda m: _name_score(m, "weight")))
        return [chosen]
    chains: list[list[Candidate]] = []

    def extend(chain: list[Candidate]) -> None:
        out = _io(chain[-1], rows_are_outputs)[1]
        following = [m for m in matrices if m not in chain and _io(m, rows_are_outputs)[0] == out]
        if not following or len(chain) >= 8:
            chains.append(chain)
        for m in following[:4]:
            extend([*chain, m])

    for start in matrices[:32]:
        extend([start])
    longest = max((len(c) for c in chains), default=0)
    return [c for c in chains if len(c) == longest]


def _biases(weights: list[Candidate], rows_are_outputs: bool, pool: list[Candidate]):
    """For each weight, its layer's bias (one value per output unit), or None."""
    taken = {id(w.array) for w in weights}
    biases = []
    for weight in weights:
        units = _io(weight, rows_are_outputs)[1]
        fitting = [
            c
            for c in pool
            if id(c.array) not in taken
            and c.array.size == units
            and (c.array.ndim == 1 or 1 in c.shape)
        ]
        if not fitting:
            biases.append(None)
            continue
        bias = max(fitting, key=lambda c: _name_score(c, "bias") + _beside(weight, c))
        taken.add(id(bias.array))
        biases.append(bias)
    return biases


def _beside(weight: Candidate, bias: Candidate) -> int:
    """How alike two paths are: the same container and the same index or number (``W1`` and
    ``b1``, ``weights[1]`` and ``biases[1]``, ``layers[0].W`` and ``layers[0].b``)."""
    if len(weight.path) != len(bias.path):
        return 0
    same = sum(a == b for a, b in zip(weight.path, bias.path))
    numbers = [re.sub(r"\D", "", str(s)) for s in (weight.path[-1], bias.path[-1])]
    return same + (numbers[0] == numbers[1])


def _chain_score(weights: list[Candidate], biases: list) -> tuple:
    named = sum(_name_score(w, "weight") for w in weights)
    named += sum(_name_score(b, "bias") for b in biases if b is not None)
    together = len({w.path[:-1] for w in weights}) == 1 or len({_stem(w) for w in weights}) == 1
    return (sum(b is not None for b in biases), named + 2 * together, -_depth(weights))


def _stem(candidate: Candidate) -> str:
    return re.sub(r"\d+", "", candidate.name)


def _depth(weights: list[Candidate]) -> int:
    return sum(len(w.path) for w in weights)


def _labelled(
    weights: list[Candidate], biases: list, rows_are_outputs: bool, order: list[Candidate]
) -> list[Parameter]:
    position = {id(c.array): i for i, c in enumerate(order)}
    parameters = [
        Parameter(w.label, "weight", w.path, layer, rows_are_outputs, position.get(id(w.array), 0))
        for layer, w in enumerate(weights)
    ]
    parameters += [
        Parameter(b.label, "bias", b.path, layer, rows_are_outputs, position.get(id(b.array), 0))
        for layer, b in enumerate(biases)
        if b is not None
    ]
    return parameters


def leaves(structure: Any) -> list[np.ndarray]:
    """The arrays in a nest of tuples, lists and dicts, in order."""
    if isinstance(structure, np.ndarray):
        return [structure]
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in leaves(value)]
    if isinstance(structure, (list, tuple)):
        return [leaf for value in structure for leaf in leaves(value)]
    return []
