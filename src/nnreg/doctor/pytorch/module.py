"""Module mode for PyTorch code with no script: ``nnreg doctor file.py:make_model``, where the
file also defines the training step the learner wrote — a function taking the model (and an
optimizer, a batch or its inputs and targets, …).

The model is made by the function named; the step is the file's function that takes a model
first; its other arguments are given by what their names say (an optimizer: the file's own
function that makes one, else SGD with lr = 0.1; a batch: 16 stand-in examples shaped for the
model's first layer; λ, lr, n: the file's numbers of those names, else 5.0, 0.1, 1,000). Then
the step is run once under the same watch as ``--run`` (see
:mod:`~nnreg.doctor.pytorch.capture`).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from nnreg.doctor.importing import import_file
from nnreg.doctor.pytorch.capture import StepRecord, Watcher, _Captured, import_torch
from nnreg.doctor.replay import DoctorError, quietly
from nnreg.doctor.roles import ROLE_NAMES, role_of

MODEL_NAMES = ("model", "net", "network", "module", "mlp", "classifier")
OPTIMIZER_NAMES = ("optimizer", "opt", "optim", "optimiser", "sgd")
BATCH_SIZE = 16
STAND_INS = {"lmbda": 5.0, "eta": 0.1, "n": 1000}


def capture_module_step(target: str) -> tuple[StepRecord, Any, list[str]]:
    """The first update of the step function of ``PATH.py:make_model``: (record, the
    module's line label, notes)."""
    torch = import_torch()
    path_text, _, name = target.partition(":")
    path = Path(path_text)
    module, label, notes = import_file(path)
    if not name:
        raise DoctorError(
            f"{path.name} uses PyTorch: name the function that makes your model, as "
            f"{path.name}:make_model (or run your training script with nnreg doctor --run)"
        )
    factory = getattr(module, name, None)
    if not callable(factory):
        raise DoctorError(f"{path} has no function named {name!r}")
    with quietly():
        model = _called(factory, name, "make the model")
    if not isinstance(model, torch.nn.Module):
        raise DoctorError(f"{name}() returned {type(model).__name__}, not a torch.nn.Module")
    step = _step_function(module, factory)
    arguments, chosen = _arguments(torch, step, model, module)
    notes = [*notes, f"called {step.__name__}({', '.join(chosen)}) on {name}()'s model, once"]
    watcher = Watcher(torch, path.resolve().parent)
    try:
        with watcher, quietly():
            step(**arguments)
            watcher.at_the_end()
    except _Captured:
        pass
    except Exception as error:  # noqa: BLE001 - their step may raise anything
        raise DoctorError(
            f"{step.__name__} raised {type(error).__name__}: {error} when called as "
            f"{step.__name__}({', '.join(chosen)})"
        ) from None
    if watcher.record is None:
        raise DoctorError(watcher.why_none(f"{step.__name__}"))
    return watcher.record, label, notes


def _called(function, name: str, what: str):
    try:
        return function()
    except TypeError as error:
        raise DoctorError(
            f"{name}() could not {what} with no arguments ({error}): give it defaults"
        ) from None


def _step_function(module, factory):
    """The learner's function that takes a model first (not the factory)."""
    found = []
    for value in vars(module).values():
        if not inspect.isfunction(value) or value is factory:
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue
        names = list(inspect.signature(value).parameters)
        if names and names[0].lower() in MODEL_NAMES and len(names) > 1:
            found.append(value)
    if not found:
        raise DoctorError(
            "found no training step: the doctor looks for a function of yours that takes the "
            "model first, e.g. train_step(model, optimizer, xb, yb)"
        )
    named = [f for f in found if "step" in f.__name__ or "train" in f.__name__]
    return (named or found)[0]


def _arguments(torch, step, model, module) -> tuple[dict[str, Any], list[str]]:
    x, y = _stand_in_batch(torch, model)
    arguments, chosen = {}, []
    for parameter in inspect.signature(step).parameters.values():
        name, lower = parameter.name, parameter.name.lower()
        if lower in MODEL_NAMES:
            value, shown = model, "model"
        elif lower in OPTIMIZER_NAMES:
            value, shown = _optimizer(torch, model, module)
        elif role_of(name) == "batch":
            value, shown = (x, y), f"a batch of {BATCH_SIZE} stand-in examples"
        elif role_of(name) == "x" or lower in ("xb", "x_batch", "images"):
            value, shown = x, f"{BATCH_SIZE} stand-in inputs"
        elif role_of(name) == "y" or lower in ("yb", "y_batch"):
            value, shown = y, "their labels"
        elif "loss" in lower or "criterion" in lower:
            value, shown = torch.nn.CrossEntropyLoss(), "nn.CrossEntropyLoss()"
        elif role_of(name, ("lmbda", "eta", "n")) is not None:
            role = role_of(name, ("lmbda", "eta", "n"))
            value = _number(module, role, parameter)
            shown = f"{name}={value:g}"
        elif parameter.default is not inspect.Parameter.empty:
            continue
        else:
            raise DoctorError(
                f"{step.__name__} takes {name}, which the doctor cannot give: name it like "
                "model, optimizer, batch (or xb, yb), lam, lr or n"
            )
        arguments[name] = value
        chosen.append(shown)
    return arguments, chosen


def _stand_in_batch(torch, model):
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not layers:
        raise DoctorError("the model has no nn.Linear layer to shape stand-in examples for")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH_SIZE, layers[0].in_features, generator=generator)
    y = torch.arange(BATCH_SIZE) % layers[-1].out_features
    return x, y


def _optimizer(torch, model, module):
    for name, value in vars(module).items():
        if inspect.isfunction(value) and "optim" in name.lower():
            try:
                with quietly():
                    made = value(model)
            except Exception:  # noqa: BLE001 - not a factory taking the model
                continue
            if isinstance(made, torch.optim.Optimizer):
                return made, f"{name}(model)"
    return torch.optim.SGD(model.parameters(), lr=0.1), "SGD(lr=0.1)"


def _number(module, role: str, parameter) -> float:
    if parameter.default is not inspect.Parameter.empty and isinstance(
        parameter.default, (int, float)
    ):
        return parameter.default
    for name in ROLE_NAMES[role]:
        value = getattr(module, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value
    return STAND_INS[role]
