"""The learner's own setting (``--run``): η, λ, n and m as the script's first update was
called, so that each consequence is put in numbers for their training rather than the book's
(:data:`~nnreg.doctor.formulas.BOOK`).

η and λ are the update's arguments (or its object's attributes, as they were at that call);
m is the size of the mini-batch it was given (a training loop's mini-batch size); n is the
update's own n, else the size of the training data the enclosing training loop was given. A
value that was not found, or is no usable number (λ = 0 in a run without regularization),
is the book's, and the text says so.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from nnreg.doctor.formulas import BOOK, SETTING
from nnreg.doctor.layouts import example_axes

ROLES = ("eta", "lmbda", "n", "batch_size")
SYMBOLS = {"eta": "η", "lmbda": "λ", "n": "n", "m": "m"}


def role_values(binding: Any, arguments: dict[str, Any], attributes: dict[str, Any]) -> dict:
    """η, λ, n and the mini-batch size among a call's ``arguments`` (by the roles of
    ``binding``) or its object's ``attributes`` (their values at the call)."""
    values = {}
    for role in ROLES:
        if role in binding.arguments:
            value = arguments.get(binding.arguments[role])
        else:
            value = attributes.get(binding.attributes.get(role, ""))
        if usable(value):
            values[role] = float(value)
    return values


def example_count(binding: Any, arguments: dict[str, Any]) -> int | None:
    """How many examples a call was given: a list of examples, an array, or (X, Y); None
    for an iterator (counting it would use it up) or anything else."""
    try:
        if "batch" in binding.arguments:
            data = arguments[binding.arguments["batch"]]
            if isinstance(data, np.ndarray):
                return data.shape[example_axes([data])[0]] if data.ndim else None
            if isinstance(data, (list, tuple)) and _array_pair(data):
                return data[0].shape[example_axes(list(data))[0]]
            return len(data) if isinstance(data, (list, tuple)) else None
        if "x" in binding.arguments and "y" in binding.arguments:
            x = np.asarray(arguments[binding.arguments["x"]])
            y = np.asarray(arguments[binding.arguments["y"]])
            return x.shape[example_axes([x, y])[0]] if x.ndim else None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return None


def outer_values(binding: Any, arguments: dict[str, Any], attributes: dict[str, Any]) -> dict:
    """What an enclosing training loop says of the setting: its η, λ, n, mini-batch size,
    and the size of the training data it was given (``"examples"``)."""
    values = role_values(binding, arguments, attributes)
    count = example_count(binding, arguments)
    if count:
        values["examples"] = float(count)
    return values


def recorded_setting(
    kind: str, full_batch: bool, own: dict[str, float], count: int | None, outer: list[dict]
) -> dict[str, float]:
    """The setting of the recorded call (``kind`` "step" or "epoch"): its own values
    (``own``, from :func:`role_values`), the number of examples it was given, and what the
    enclosing training loops (innermost first) said."""

    def first(role: str) -> float | None:
        return next((v[role] for v in [own, *outer] if role in v), None)

    setting = {"eta": first("eta"), "lmbda": first("lmbda")}
    if kind == "step":
        setting["m"] = float(count) if count else first("batch_size")
        setting["n"] = own.get("n") or next((v["examples"] for v in outer if "examples" in v), None)
        if setting["n"] is None:
            setting["n"] = first("n")
    else:
        setting["n"] = own.get("n") or (float(count) if count else None)
        setting["m"] = setting["n"] if full_batch else own.get("batch_size")
    return {k: v for k, v in setting.items() if v is not None and usable(v)}


def usable(value: Any) -> bool:
    """A finite positive number (not a flag)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and float(value) > 0


def completed(own: dict[str, float]) -> dict[str, float]:
    """The learner's setting with what was not found taken from the book's."""
    return {**BOOK, **{k: v for k, v in own.items() if k in BOOK}}


def setting_text(own: dict[str, float] | None) -> str:
    """``for your η = 0.1, λ = 5, n = 200, m = 10`` (the book's values named as such where
    the script's were not found); the book's setting when there is none."""
    if not own:
        return SETTING
    yours = [f"{SYMBOLS[k]} = {_shown(k, own[k])}" for k in BOOK if k in own]
    books = [f"{SYMBOLS[k]} = {_shown(k, BOOK[k])}" for k in BOOK if k not in own]
    text = "for your " + ", ".join(yours)
    return text + (f", and the book's {', '.join(books)}" if books else "")


def _shown(role: str, value: float) -> str:
    if role in ("n", "m") and value == round(value):
        return f"{round(value):,}"
    return f"{value:g}"


def _array_pair(value: Any) -> bool:
    return len(value) == 2 and all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in value)
