"""Argument checks shared by every public entry point.

Each helper returns the checked (and normalized) value or raises ``ValueError`` with a
message that says what was wrong and what to do. The CLI prints these messages as they
are, so they are written for a person.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def check_choice(name: str, value: Any, choices: Mapping[str, Any] | Iterable[str]) -> Any:
    """``value`` must be one of ``choices``."""
    options = list(choices)
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}: choose one of {', '.join(map(str, options))}")
    return value


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Layer sizes: at least an input and an output layer, each a positive integer."""
    try:
        if isinstance(sizes, (str, bytes)) or any(isinstance(s, bool) for s in sizes):
            raise TypeError
        values = [int(s) for s in sizes]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"sizes must be a list of integers such as [784, 30, 10], got {sizes!r}"
        ) from None
    if len(values) < 2 or any(v != s for v, s in zip(values, sizes)):
        raise ValueError(
            f"sizes must list at least two whole numbers (input and output units), got {sizes!r}"
        )
    if min(values) < 1:
        raise ValueError(f"every layer needs at least one unit, got sizes {values}")
    if max(values) > MAX_UNITS:
        raise ValueError(
            f"sizes asks for a layer of {_big(max(values))} units: at most {MAX_UNITS:,} per layer"
        )
    return values


def _big(number: int) -> str:
    """A whole number as a person reads it, however long."""
    return f"{number:,}" if number < 10**15 else f"a {len(str(number))}-digit number of"


MAX_UNITS = 10**12
"""The most units a layer may have (far beyond any memory; a typo of many digits is refused
before any arithmetic on it)."""


PARAMETER_COPIES = 6
"""Copies of the parameters training holds at once: the parameters, their gradients, the
optimizer's and regularizer's state, the last good parameters and a checkpoint being written."""


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_parameter_memory(
    sizes: Sequence[int], itemsize: int = 8, name: str = "sizes", shown: Any = None
) -> int:
    """The number of parameters of a network with these ``sizes``; ``ValueError`` (before
    anything is allocated) when training it would need more than this machine's memory.
    The message names ``name`` with the value ``shown`` (default: the sizes)."""
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    needed, available = PARAMETER_COPIES * count * itemsize, physical_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{name} {list(sizes) if shown is None else shown} gives a network of at least "
            f"{count:,} parameters: training it needs about {_gib(needed)} of memory, more "
            f"than this machine's {_gib(available)}; choose fewer units"
        )
    return count


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB" if size < 2**80 else f"{size // 2**30:.3g} GiB"


def check_real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    hint: str = "",
) -> float:
    """A finite real number, ≥ ``minimum`` / > ``above`` / < ``below`` where given."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}{hint}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}{hint}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {number:g}{hint}")
    if above is not None and number <= above:
        raise ValueError(f"{name} must be > {above:g}, got {number:g}{hint}")
    if below is not None and number >= below:
        raise ValueError(f"{name} must be < {below:g}, got {number:g}{hint}")
    return number


def check_int(
    name: str, value: Any, *, minimum: int = 1, maximum: int | None = None, hint: str = ""
) -> int:
    """A whole number in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, float) and value.is_integer()):
            raise ValueError(f"{name} must be a whole number, got {value!r}{hint}")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {_whole(number)}{hint}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {_whole(number)}{hint}")
    return number


def _whole(number: int) -> str:
    """A whole number as typed, or its length when it is too long to read."""
    text = str(number)
    return text if len(text) <= 30 else f"a {len(text.lstrip('-'))}-digit number"


def check_layer_numbers(layers: Any) -> tuple[int, ...]:
    """Weight layers named by number (1 is the first, input side), each once."""
    if isinstance(layers, (str, bytes)) or np.ndim(layers) != 1:
        raise ValueError(
            f"layers must be a list of weight layer numbers such as [1, 2], got {layers!r}"
        )
    numbers = tuple(
        check_int("layers", layer, minimum=1, hint=": weight layers are numbered from 1")
        for layer in layers
    )
    if not numbers:
        raise ValueError(
            "layers is an empty list: name at least one weight layer, or give None for all"
        )
    repeated = [n for i, n in enumerate(numbers) if n in numbers[:i]]
    if repeated:
        raise ValueError(
            f"layers names weight layer {repeated[0]} more than once: give each layer once, "
            f"e.g. {','.join(map(str, dict.fromkeys(numbers)))}"
        )
    return numbers


LAMBDA_HINT = ": λ is the regularization strength; use 0 for no regularization"


def check_lambdas(name: str, value: float | Sequence[float]) -> float | tuple[float, ...]:
    """λ as one number for every layer, or a sequence with one number per weight layer."""
    if np.ndim(value) == 0:
        return check_real(name, value, minimum=0.0, hint=LAMBDA_HINT)
    values = tuple(check_real(name, v, minimum=0.0, hint=LAMBDA_HINT) for v in value)
    if not values:
        raise ValueError(f"{name} is an empty list: give one λ, or one per weight layer")
    return values


def check_finite_array(name: str, array: np.ndarray) -> None:
    """Every entry finite (no NaN, no ±inf)."""
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf): clean or drop those "
            "examples before training"
        )
