"""Loading a learner's module and finding its network: class, parameters, update method,
gradient method and cost function — without modifying or writing anything next to it."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROBE_SIZES = [3, 4, 2]
"""The tiny network every probe builds: 3 inputs, 4 hidden units, 2 outputs."""

UPDATE_NAMES = ("update_mini_batch", "update_batch", "train_step", "update")
GRADIENT_NAMES = ("backprop", "backpropagation", "backward", "gradients", "compute_gradients")
COST_NAMES = ("total_cost", "cost", "compute_cost", "regularized_cost", "loss")
ARGUMENT_NAMES = {
    "batch": ("mini_batch", "minibatch", "batch", "data", "mb"),
    "eta": ("eta", "lr", "learning_rate", "alpha"),
    "lmbda": ("lmbda", "lmbd", "lam", "lamda", "lambda_", "lambd", "reg", "reg_lambda", "l2"),
    "n": ("n", "n_train", "training_set_size", "n_total", "N", "n_samples"),
}

PROTOCOL = (
    "the doctor expects a class built as Class(sizes) (e.g. Class([3, 4, 2])) with either "
    "lists `weights` and `biases` or a dict of arrays W1, b1, … (or w1, …), a gradient method "
    "(`backprop` or the one named by --gradients) that the update calls, and "
    "`update_mini_batch(mini_batch, eta, lmbda, n)` taking a list of (x, y) column vectors. "
    "For anything else write a function make_network(sizes) that builds your network and "
    "point the doctor at it: PATH.py:make_network"
)


@contextlib.contextmanager
def quietly():
    """Run the learner's code without its prints (they would corrupt --json) or NumPy's
    floating-point warnings."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        np.errstate(all="ignore"),
    ):
        yield


class DoctorError(Exception):
    """The learner's code could not be loaded or probed; the message says what to do."""


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
        container = instance
        for step in self.path[:-1]:
            container = _step(container, step)
        last = self.path[-1]
        if isinstance(container, (dict, list)):
            container[last] = array
        else:
            setattr(container, last, array)


def _step(value: Any, step: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return value[step]
    return getattr(value, step)


@dataclass
class Learner:
    """The learner's network as the probes see it."""

    source: Path
    name: str
    instance: Any
    parameters: list[Parameter]
    update: Callable
    update_arguments: dict[str, str]
    """Our names (batch, eta, lmbda, n) -> the update's parameter names."""
    gradient_name: str
    cost: Callable | None
    cost_name: str | None

    def call_update(self, batch, eta: float, lmbda: float, n: int) -> None:
        values = {"batch": batch, "eta": eta, "lmbda": lmbda, "n": n}
        keywords = {theirs: values[ours] for ours, theirs in self.update_arguments.items()}
        self.update(**keywords)

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(p.get(self.instance), dtype=float) for p in self.parameters]


def load_learner(target: str, gradients: str | None = None) -> Learner:
    """Import ``PATH.py[:NAME]`` and build the learner's network on :data:`PROBE_SIZES`."""
    path_text, _, name = target.partition(":")
    path = Path(path_text)
    if path.suffix != ".py" or not path.is_file():
        raise DoctorError(f"{path} is not a Python file: give PATH.py or PATH.py:ClassName")
    module = _import(path)
    factory, name = _find_factory(module, name, path)
    instance = _build(factory, name)
    parameters = find_parameters(instance, name)
    update_name = _find_method(instance, UPDATE_NAMES, None, name, "update method")
    update = getattr(instance, update_name)
    gradient_name = _find_method(instance, GRADIENT_NAMES, gradients, name, "gradient method")
    cost_name = next((n for n in COST_NAMES if callable(getattr(instance, n, None))), None)
    return Learner(
        path,
        name,
        instance,
        parameters,
        update,
        _map_arguments(update, update_name, name),
        gradient_name,
        getattr(instance, cost_name) if cost_name else None,
        cost_name,
    )


def _import(path: Path):
    """Run the module without writing bytecode next to it."""
    spec = importlib.util.spec_from_file_location(f"nnreg_doctor_subject_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        with quietly():
            spec.loader.exec_module(module)
    except BaseException as error:  # the learner's code may raise anything, even SystemExit
        if isinstance(error, KeyboardInterrupt):
            raise
        raise DoctorError(f"importing {path} failed: {_describe(error, path)}") from None
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


def _describe(error: BaseException, path: Path) -> str:
    """``ZeroDivisionError: division by zero (line 7)``: the error and where in their file."""
    line = next(
        (
            frame.lineno
            for frame in reversed(traceback.extract_tb(error.__traceback__))
            if Path(frame.filename).resolve() == path.resolve()
        ),
        None,
    )
    where = f" (line {line})" if line else ""
    return f"{type(error).__name__}: {error}{where}"


def _find_factory(module, name: str, path: Path) -> tuple[Callable, str]:
    if name:
        factory = getattr(module, name, None)
        if not callable(factory):
            raise DoctorError(f"{path} has no class or function named {name!r}")
        return factory, name
    candidates = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and any(callable(getattr(value, n, None)) for n in UPDATE_NAMES)
    ]
    if len(candidates) != 1:
        found = "no class" if not candidates else f"{len(candidates)} classes"
        names = ", ".join(c.__name__ for c in candidates)
        raise DoctorError(
            f"{path}: found {found} with an update method ({', '.join(UPDATE_NAMES)})"
            + (f": {names}; name one as {path}:ClassName" if candidates else f"; {PROTOCOL}")
        )
    return candidates[0], candidates[0].__name__


def _build(factory: Callable, name: str) -> Any:
    attempts = ((list(PROBE_SIZES),), tuple(PROBE_SIZES))
    problems = []
    for arguments in attempts:
        try:
            with quietly():
                return factory(*arguments)
        except Exception as error:  # noqa: BLE001 - their constructor may raise anything
            problems.append(f"{name}{arguments!r}: {type(error).__name__}: {error}")
    raise DoctorError(f"could not build the network: {'; '.join(problems)}. {PROTOCOL}")


def find_parameters(instance: Any, name: str) -> list[Parameter]:
    """Weights and biases: lists ``weights``/``biases``, a dict of W1/b1…, or attributes."""
    weights, biases = getattr(instance, "weights", None), getattr(instance, "biases", None)
    if _is_array_list(weights) and _is_array_list(biases):
        return [
            Parameter(f"weights[{i}]", "weight", ("weights", i)) for i in range(len(weights))
        ] + [Parameter(f"biases[{i}]", "bias", ("biases", i)) for i in range(len(biases))]
    for attribute, value in vars(instance).items():
        if isinstance(value, dict):
            found = _named_arrays(value, (attribute,))
            if found:
                return found
    found = _named_arrays(vars(instance), ())
    if found:
        return found
    raise DoctorError(f"{name} has no parameters the doctor recognizes. {PROTOCOL}")


def _is_array_list(value: Any) -> bool:
    return isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value)


def _named_arrays(mapping: dict, prefix: tuple) -> list[Parameter]:
    parameters = []
    for key, value in mapping.items():
        if not isinstance(value, np.ndarray) or not isinstance(key, str):
            continue
        letter, digits = key[:1], key[1:]
        if digits.isdigit() and letter in "Ww":
            parameters.append(Parameter(key, "weight", (*prefix, key)))
        elif digits.isdigit() and letter == "b":
            parameters.append(Parameter(key, "bias", (*prefix, key)))
    kinds = {p.kind for p in parameters}
    return parameters if kinds == {"weight", "bias"} else []


def _find_method(instance, names, chosen: str | None, name: str, what: str) -> str:
    if chosen:
        if not callable(getattr(instance, chosen, None)):
            raise DoctorError(f"{name} has no method {chosen!r} (--gradients)")
        return chosen
    for candidate in names:
        if callable(getattr(instance, candidate, None)):
            return candidate
    option = " (name it with --gradients NAME)" if what == "gradient method" else ""
    raise DoctorError(f"{name} has no {what}: looked for {', '.join(names)}{option}. {PROTOCOL}")


def _map_arguments(update: Callable, update_name: str, name: str) -> dict[str, str]:
    parameters = [
        p
        for p in inspect.signature(update).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if len(parameters) < 4:
        found = ", ".join(p.name for p in parameters)
        raise DoctorError(
            f"{name}.{update_name}({found}) takes {len(parameters)} arguments; the doctor "
            f"needs (mini_batch, eta, lmbda, n) to vary η, λ and n. {PROTOCOL}"
        )
    mapping = {}
    remaining = [p.name for p in parameters]
    for ours, aliases in ARGUMENT_NAMES.items():
        match = next((theirs for theirs in remaining if theirs in aliases), None)
        if match:
            mapping[ours] = match
            remaining.remove(match)
    for ours in ARGUMENT_NAMES:  # the book's order for whatever the names did not settle
        if ours not in mapping:
            mapping[ours] = remaining.pop(0)
    return mapping
