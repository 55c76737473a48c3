"""Finding a learner's weights and biases, however the network keeps them.

Each array is reached through a *path* from the instance — attribute names, dict keys and
list or tuple indices — so the probes can read it and put controlled values in its place:

* lists or tuples side by side: ``weights``/``biases`` (the book), ``W``/``B``, ``self.bias``;
* a list of layer objects, each with ``W``/``b`` (or ``weights``/``bias``);
* a dict of ``W1``, ``b1``, … (in an attribute such as ``self.params``) or attributes
  ``self.W1``, ``self.b1``, ….
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHT_NAMES = ("weights", "W", "Ws", "w", "weight", "weight_list")
BIAS_NAMES = ("biases", "bias", "B", "Bs", "b", "bias_list")


@dataclass
class Parameter:
    """One parameter array of the learner's network, reached through a path of
    attribute names, dict keys and list indices from the instance."""

    label: str
    kind: str  # "weight" or "bias"
    path: tuple

    def get(self, instance: Any) -> np.ndarray:
        value = instance
        for step in self.path:
            value = _step(value, step)
        return np.asarray(value)

    def set(self, instance: Any, array: np.ndarray) -> None:
        _replace(instance, self.path, array)


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


def find_parameters(instance: Any) -> list[Parameter]:
    """The weights, then the biases, of ``instance``; [] when none is recognized."""
    for finder in (_paired_lists, _layer_objects, _dicts_of_named_arrays):
        found = finder(instance)
        if found:
            return found
    return []


def _is_array_list(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, np.ndarray) for v in value)
    )


def _paired_lists(instance: Any) -> list[Parameter]:
    attributes = _attributes(instance)
    weights = next((n for n in WEIGHT_NAMES if _is_array_list(attributes.get(n))), None)
    biases = next((n for n in BIAS_NAMES if _is_array_list(attributes.get(n))), None)
    if weights is None or biases is None:
        return []
    return [
        Parameter(f"{weights}[{i}]", "weight", (weights, i))
        for i in range(len(attributes[weights]))
    ] + [Parameter(f"{biases}[{i}]", "bias", (biases, i)) for i in range(len(attributes[biases]))]


def _layer_objects(instance: Any) -> list[Parameter]:
    """``self.layers = [Layer(...), ...]`` where each layer holds one weight and one bias."""
    for attribute, layers in _attributes(instance).items():
        if not isinstance(layers, (list, tuple)) or not layers:
            continue
        names = [_layer_names(layer) for layer in layers]
        if all(names):
            weights = [
                Parameter(f"{attribute}[{i}].{w}", "weight", (attribute, i, w))
                for i, (w, _) in enumerate(names)
            ]
            biases = [
                Parameter(f"{attribute}[{i}].{b}", "bias", (attribute, i, b))
                for i, (_, b) in enumerate(names)
            ]
            return weights + biases
    return []


def _layer_names(layer: Any) -> tuple[str, str] | None:
    attributes = _attributes(layer)
    weight = next((n for n in WEIGHT_NAMES if isinstance(attributes.get(n), np.ndarray)), None)
    bias = next((n for n in BIAS_NAMES if isinstance(attributes.get(n), np.ndarray)), None)
    return (weight, bias) if weight and bias else None


def _dicts_of_named_arrays(instance: Any) -> list[Parameter]:
    attributes = _attributes(instance)
    for attribute, value in attributes.items():
        if isinstance(value, dict):
            found = _named_arrays(value, (attribute,))
            if found:
                return found
    return _named_arrays(attributes, ())


def _attributes(value: Any) -> dict:
    try:
        return dict(vars(value))
    except TypeError:  # no __dict__ (a class with __slots__, a builtin)
        return {}


def _named_arrays(mapping: dict, prefix: tuple) -> list[Parameter]:
    """Arrays under keys W1, w_1, b1, B_1, … (a letter, an optional ``_``, a layer number)."""
    parameters = []
    for key, value in mapping.items():
        if not isinstance(value, np.ndarray) or not isinstance(key, str):
            continue
        letter, digits = key[:1], key[1:].lstrip("_")
        if digits.isdigit() and letter in "Ww":
            parameters.append(Parameter(key, "weight", (*prefix, key)))
        elif digits.isdigit() and letter in "bB":
            parameters.append(Parameter(key, "bias", (*prefix, key)))
    kinds = {p.kind for p in parameters}
    return parameters if kinds == {"weight", "bias"} else []


def leaves(structure: Any) -> list[np.ndarray]:
    """The arrays in a nest of tuples, lists and dicts, in order."""
    if isinstance(structure, np.ndarray):
        return [structure]
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in leaves(value)]
    if isinstance(structure, (list, tuple)):
        return [leaf for value in structure for leaf in leaves(value)]
    return []
