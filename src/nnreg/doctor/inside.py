"""Inside the learner's update: the gradient computation the probes may replace (a method of
the network or a function of their module that returns one array per parameter — the
outermost one a trial update calls), and the cost function with λ the probes may evaluate."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.parameters import leaves
from nnreg.doctor.replay import DoctorError, Hook, Learner, quietly, set_parameters
from nnreg.doctor.roles import required, role_of, signature_parameters
from nnreg.doctor.units import EPOCH_TRIAL, NETWORK_NAMES, TRIAL, methods

GRADIENT_NAMES = (
    "backprop",
    "backpropagation",
    "back_propagation",
    "backward",
    "gradients",
    "compute_gradients",
)


COST_NAMES = ("total_cost", "cost", "compute_cost", "regularized_cost", "loss")


# -- the gradient computation ------------------------------------------------------------------
def find_hook(learner: Learner, module: Any, chosen: str | None) -> Hook | None:
    """``chosen`` (--gradients), else the outermost method of the network or function of
    the learner's module that one trial update calls and that returns one gradient per
    parameter; None when the gradients are computed inline."""
    places = _hook_places(learner, module)
    if chosen:
        for owner in places:
            if callable(
                owner.get(chosen) if isinstance(owner, dict) else getattr(owner, chosen, None)
            ):
                return Hook(owner, chosen)
        raise DoctorError(f"{learner.name} has no method or function {chosen!r} (--gradients)")
    calls: list[tuple[int, int, Hook]] = []
    depth = [0]
    hooks = [Hook(owner, name) for owner in places for name in _watchable(owner, learner)]
    replaced = [hook.replaced(_watched(hook, depth, calls, learner)) for hook in hooks]
    try:
        for context in replaced:
            context.__enter__()
        _one_update(learner)
    finally:
        for context in reversed(replaced):
            context.__exit__(None, None, None)
    calls = [call for call in calls if not MAKES_NETWORK.search(call[2].name)]
    if not calls:
        return None
    outermost = min(d for d, _, _ in calls)
    found = [hook for d, _, hook in calls if d == outermost]
    named = [h for n in GRADIENT_NAMES for h in found if h.name == n]
    looks = [h for h in found if LOOKS_LIKE_GRADIENTS.search(h.name)]
    return (named or looks or found[-1:])[0]


MAKES_NETWORK = re.compile(r"init|creat|build|make|setup|new|random|load|copy|clone", re.I)
"""Names of functions that return arrays of the parameters' sizes without being gradients
(an ``initialize_parameters`` returns the parameters themselves)."""


LOOKS_LIKE_GRADIENTS = re.compile(r"grad|back|deriv|delta|nabla|jacob", re.I)


def _hook_places(learner: Learner, module: Any) -> list[Any]:
    """Where a gradient computation may live: the network object, and the globals the
    update's code reads (its module's)."""
    places = []
    if learner.unit.owner is not None:
        places.append(learner.unit.owner)
    if learner.unit.network is not None and not isinstance(learner.unit.network, dict):
        places.append(learner.unit.network)
    namespace = getattr(learner.unit.function, "__globals__", None)
    if namespace is not None:
        places.append(namespace)
    return places


def _watchable(owner: Any, learner: Learner) -> list[str]:
    unit = getattr(learner.unit.function, "__name__", "")
    if isinstance(owner, dict):
        return [
            name
            for name, value in owner.items()
            if inspect.isfunction(value)
            and name != unit
            and getattr(value, "__code__", None) is not None
            and in_learners_files(value, learner.source)
        ]
    own = set(vars(owner)) if hasattr(owner, "__dict__") else set()
    return [m for m in methods(type(owner)) if m != unit and m not in own]


def in_learners_files(function: Callable, source: Path) -> bool:
    try:
        home = Path(inspect.getfile(function)).resolve()
    except (TypeError, OSError):
        return False
    folder = source.resolve().parent
    return home == source.resolve() or (
        "site-packages" not in home.parts and (folder in home.parents or home.parent == folder)
    )


def _watched(hook: Hook, depth: list[int], calls: list, learner: Learner) -> Callable:
    real = hook.real()
    order = len(calls)

    def call(*arguments, **keywords):
        depth[0] += 1
        try:
            result = real(*arguments, **keywords)
        finally:
            depth[0] -= 1
        if returns_gradients(result, learner):
            calls.append((depth[0], order, hook))
        return result

    return call


def returns_gradients(result: Any, learner: Learner) -> bool:
    """One array per parameter, of its size (in any nesting), or a dict naming each
    parameter's gradient (``dW1`` for ``W1``) among other arrays (``dA1``…)."""
    sizes = sorted(p.get(learner.root).size for p in learner.parameters)
    found = leaves(result)
    if sorted(leaf.size for leaf in found) == sizes:
        return True
    if isinstance(result, dict):
        names = {str(p.path[-1]).lower() for p in learner.parameters}
        keys = {str(k).lower().removeprefix("d").removeprefix("grad_") for k in result}
        return names <= keys
    return False


def _one_update(learner: Learner) -> None:
    setting = EPOCH_TRIAL if learner.unit.kind == "epoch" else TRIAL
    count = setting["n"] if learner.unit.kind == "epoch" else setting["m"]

    set_parameters(learner, seed=3)
    batch = learner.make_batch(count, np.random.default_rng(0))
    try:
        with quietly():
            learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"], setting["m"])
    except Exception:  # noqa: BLE001 - the probes call the update again and say what it raised
        pass


# -- the cost ----------------------------------------------------------------------------------
OUTPUT_NAMES = (
    "AL",
    "A",
    "A_L",
    "A2",
    "A3",
    "a_out",
    "output",
    "outputs",
    "yhat",
    "y_hat",
    "Y_hat",
    "predictions",
    "prediction",
    "probs",
    "probabilities",
    "y_pred",
    "out",
)
"""Names of a cost function's argument for the network's outputs (a stand-in is given: the
penalty is cost(λ) − cost(0), whatever the outputs)."""


COST_WORDS = re.compile(r"cost|loss|objective|error", re.I)


def find_cost(learner: Learner) -> tuple[Callable | None, str | None, Callable | None]:
    """The learner's cost with λ — a method of the network, or a function of the module
    taking the outputs, the targets, the parameters and λ — and how to call it on examples
    for a given (λ, n): (the function, its name, the call), or Nones."""
    owner = learner.unit.owner
    places = [owner] if owner is not None else []
    namespace = getattr(learner.unit.function, "__globals__", {})
    for place in places:
        for name in COST_NAMES:
            function = getattr(place, name, None)
            if callable(function) and _takes_lambda(function):
                return function, name, partial(_method_cost, function)
    for name, function in namespace.items():
        if (
            inspect.isfunction(function)
            and COST_WORDS.search(name)
            and _takes_lambda(function)
            and in_learners_files(function, learner.source)
        ):
            return function, name, partial(_function_cost, function, learner)
    return None, None, None


def _takes_lambda(function: Callable) -> bool:
    return any(role_of(p.name, ("lmbda",)) for p in signature_parameters(function))


def _method_cost(function: Callable, examples: Any, lmbda: float, n: int) -> float:
    """``cost(data, λ, n)``: the examples as one argument, or as X and Y."""
    names = [p.name for p in signature_parameters(function)]
    keywords = {name: lmbda for name in names if role_of(name, ("lmbda",))}
    keywords.update({name: n for name in names if role_of(name, ("n",))})
    x = next((name for name in names if role_of(name, ("x",))), None)
    y = next((name for name in names if role_of(name, ("y",))), None)
    if x and y and isinstance(examples, tuple):
        return float(function(**keywords, **{x: examples[0], y: examples[1]}))
    return float(function(examples, **keywords))


def _function_cost(function: Callable, learner: Learner, examples: Any, lmbda, n) -> float:
    """A module's cost function: the targets, a stand-in for the outputs (same shape), the
    parameters (the network's dict), λ and n, each by its argument's name."""
    targets = examples[1] if isinstance(examples, tuple) else np.asarray(examples)
    arguments = {}
    for parameter in signature_parameters(function):
        name = parameter.name
        if role_of(name, ("lmbda",)):
            arguments[name] = lmbda
        elif role_of(name, ("n",)):
            arguments[name] = n
        elif name in OUTPUT_NAMES:
            arguments[name] = np.full(np.shape(targets), 0.5)
        elif role_of(name, ("y",)):
            arguments[name] = targets
        elif role_of(name, ("x",)) and isinstance(examples, tuple):
            arguments[name] = examples[0]
        elif name in NETWORK_NAMES:
            arguments[name] = learner.root
        elif required(parameter):
            raise TypeError(f"no value for {name}")
    return float(function(**arguments))
