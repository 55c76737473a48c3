"""A sweep's grid: its axes (regularizer × λ × η × hidden units), the settings every cell
shares, and every check of both, made before anything is written."""

from __future__ import annotations

import collections.abc
import dataclasses
import itertools
import math
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.activations import ACTIVATIONS
from nnreg.costs import COSTS
from nnreg.initializers import INITIALIZERS
from nnreg.network import DTYPES
from nnreg.optimizers import make_optimizer
from nnreg.regularizers import REGULARIZERS
from nnreg.session import DATASETS, TrainSettings, regularizer_for
from nnreg.validation import check_choice, check_int, check_parameter_memory

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


GRID_KEYS = {"reg": str, "lmbda": float, "eta": float, "hidden": int}
"""The axes of a grid and the type of their values."""


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    reg: str
    lmbda: float
    eta: float
    hidden: int

    @property
    def name(self) -> str:
        return f"{self.reg}_lmbda={self.lmbda:g}_eta={self.eta:g}_hidden={self.hidden}"


@dataclass
class Grid:
    """Values along each axis and the settings every cell shares."""

    reg: list[str]
    lmbda: list[float]
    eta: list[float]
    hidden: list[int]
    base: TrainSettings

    def cells(self) -> list[Cell]:
        return [
            Cell(*values)
            for values in itertools.product(self.reg, self.lmbda, self.eta, self.hidden)
        ]


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as read from TOML or given by a caller) has the type ``hint`` says;
    booleans are not numbers, whole numbers are numbers."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if origin is collections.abc.Sequence:
        (item,) = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and all(_fits(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False
    if hint is int:
        return isinstance(value, (int, np.integer))
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating))
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint) if h is not type(None))
    if origin is collections.abc.Sequence:
        return f"a list of {_WORDS[typing.get_args(hint)[0]][1]}"
    return _WORDS.get(hint, (str(hint), ""))[0]


_WORDS = {
    int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "true or false"),
}


def _axis_problem(axis: str, value: Any) -> str | None:
    """What is wrong with one value along a grid axis, or None."""
    if not _fits(value, GRID_KEYS[axis]):
        return f"{axis} values must be {_WORDS[GRID_KEYS[axis]][1]}, got {value!r}"
    if axis == "reg" and value not in REGULARIZERS:
        return f"unknown regularizer {value!r} in the grid: choose from {', '.join(REGULARIZERS)}"
    if axis == "lmbda" and not (value >= 0 and math.isfinite(value)):
        return f"λ must be >= 0, got {value:g} in the grid: use 0 for no regularization"
    if axis == "eta" and not (value > 0 and math.isfinite(value)):
        return f"η must be > 0, got {value:g} in the grid"
    if axis == "hidden" and value < 1:
        return f"hidden units must be >= 1, got {value} in the grid"
    return None


def check_axis(axis: str, values: Any, where: str = "") -> list:
    """The values along one axis: a non-empty list of distinct values of the axis's type
    (``GRID_KEYS``), each valid; ``ValueError`` prefixed with ``where`` otherwise."""
    prefix = f"{where}: " if where else ""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{prefix}{axis} must be a list, e.g. {axis} = [1, 2]")
    if not values:
        raise ValueError(f"{prefix}the grid is empty along {axis}: give at least one value")
    if axis == "reg":  # names without regard to case, as on the command line
        values = [v.lower() if isinstance(v, str) else v for v in values]
    for value in values:
        problem = _axis_problem(axis, value)
        if problem:
            raise ValueError(prefix + problem)
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise ValueError(
            f"{prefix}{axis} lists {repeated[0]!r} more than once: give each value once "
            "(each value is one column of cells)"
        )
    return list(values)


TRAIN_TYPES = typing.get_type_hints(TrainSettings)


def check_settings(settings: TrainSettings) -> None:
    """Everything about one cell's settings that can be checked without its data, so a
    mistake is reported before anything is written; ``ValueError`` naming the setting."""
    for field in dataclasses.fields(settings):
        value, hint = getattr(settings, field.name), TRAIN_TYPES[field.name]
        if not _fits(value, hint):
            raise ValueError(f"{field.name} must be {_describe(hint)}, got {value!r}")
    if settings.data not in DATASETS and not (
        settings.data.strip() and Path(settings.data).is_dir()
    ):
        raise ValueError(
            f"unknown data set {settings.data!r}: choose {', '.join(DATASETS)}, or give a folder "
            "holding the four MNIST-style IDX files"
        )
    if settings.data_dir is not None and not settings.data_dir.strip():
        raise ValueError("data_dir must name a folder, got an empty string")
    check_int("epochs", settings.epochs, minimum=1, hint=": the number of passes over the data")
    check_int("batch_size", settings.batch_size, minimum=1, hint=": examples per mini-batch")
    check_int("seed", settings.seed, minimum=0, hint=": the seed of weights and shuffling")
    check_int("expand", settings.expand, minimum=0, maximum=4, hint=": copies per image")
    for name in ("early_stopping", "halve_eta_after", "training_set_size"):
        if getattr(settings, name) is not None:
            check_int(name, getattr(settings, name), minimum=1)
    for name, table in (
        ("activation", ACTIVATIONS),
        ("cost", COSTS),
        ("initializer", INITIALIZERS),
        ("dtype", DTYPES),
    ):
        check_choice(name, getattr(settings, name), table)
    make_optimizer(settings.eta, settings.momentum)
    # a cell's network: inputs → hidden → classes, two weight layers
    regularizer_for(settings).check_layers(2)
    try:  # the smallest network with this hidden layer: one input, one output
        check_parameter_memory(
            [1, settings.hidden, 1], np.dtype(DTYPES[settings.dtype]).itemsize, "sizes of at least"
        )
    except ValueError as error:
        raise ValueError(f"hidden units {settings.hidden} are too many: {error}") from None


def make_grid(
    reg: Sequence[str] = ("l2",),
    lmbda: Sequence[float] = (0.0,),
    eta: Sequence[float] | None = None,
    hidden: Sequence[int] = (30,),
    base: TrainSettings | None = None,
) -> Grid:
    """A checked grid; ``ValueError`` saying what to change for an empty, repeated or invalid
    axis, for base settings a sweep would not use, or for a cell's invalid settings."""
    base = base or TrainSettings()
    axes = {"reg": reg, "lmbda": lmbda, "eta": eta or [base.eta], "hidden": hidden}
    for axis, values in axes.items():
        axes[axis] = check_axis(axis, list(values), f"--{axis}")
    grid = Grid(
        axes["reg"],
        [float(v) for v in axes["lmbda"]],
        [float(v) for v in axes["eta"]],
        [int(v) for v in axes["hidden"]],
        base,
    )
    if base.sizes is not None:
        raise ValueError(
            "sizes is not used by a sweep: every cell has one hidden layer (inputs, hidden, "
            "classes); give the hidden sizes as the hidden axis of the grid"
        )
    if base.l2_lmbda is not None and "elastic-net" not in grid.reg:
        raise ValueError(
            "l2_lmbda only applies to elastic-net cells, and the grid has none: drop it, or "
            "add elastic-net to reg"
        )
    names: dict[str, Cell] = {}
    settings = dataclasses.asdict(base)
    for cell in grid.cells():
        if cell.name in names:
            raise ValueError(
                f"the grid cells {names[cell.name]} and {cell} would share the folder "
                f"{cell.name}: their values differ beyond 6 significant digits; give values "
                "that differ within them"
            )
        names[cell.name] = cell
        check_settings(cell_settings(settings, cell))
    return grid


def read_grid_file(path: str | Path) -> tuple[dict[str, list], dict[str, Any]]:
    """A TOML file's ``[grid]`` (lists per axis) and ``[train]`` (TrainSettings fields), each
    value checked; ``ValueError`` naming the file and the key otherwise.

    .. code-block:: toml

        [grid]
        reg = ["l2", "l1-proximal"]
        lmbda = [0, 0.1, 1, 5]
        [train]
        data = "digits"
        epochs = 10
    """
    path = Path(path)
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the grid file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"the grid file {path} is not valid TOML: {error}") from None
    where = f"the grid file {path}"
    outside = sorted(set(content) - {"grid", "train"})
    if outside:
        raise ValueError(
            f"{where} has keys outside [grid] and [train]: {', '.join(outside)}; the axes go "
            "under [grid], nnreg train settings under [train]"
        )
    grid, train = content.get("grid", {}), content.get("train", {})
    for name, table in (("grid", grid), ("train", train)):
        if not isinstance(table, dict):
            raise ValueError(
                f"{where}: {name} must be a table, a line [{name}] followed by its keys, "
                f"got {name} = {table!r}"
            )
    unknown = set(grid) - set(GRID_KEYS)
    unknown_train = set(train) - set(TRAIN_TYPES)
    if unknown or unknown_train:
        raise ValueError(
            f"{where} has unknown keys {sorted(unknown | unknown_train)}: [grid] "
            f"takes {', '.join(GRID_KEYS)}; [train] takes nnreg train settings"
        )
    for key in train:
        if key in GRID_KEYS:
            raise ValueError(
                f"{where}: {key} in [train] is an axis of the grid: give it under [grid] as a "
                f"list, e.g. {key} = [{'30, 100' if key == 'hidden' else '0.1, 1'}]"
            )
        if key == "sizes":
            raise ValueError(
                f"{where}: sizes in [train] is not used: every cell has one hidden layer "
                "(inputs, hidden, classes); give the hidden sizes under [grid] as "
                "hidden = [30, 100]"
            )
        if not _fits(train[key], TRAIN_TYPES[key]):
            raise ValueError(
                f"{where}: [train] {key} must be {_describe(TRAIN_TYPES[key])}, got {train[key]!r}"
            )
    for key, values in grid.items():
        check_axis(key, values, f"{where}: [grid]")
    try:  # l2_lmbda's value is checked with the grid, for its elastic-net cells
        check_settings(TrainSettings(**{k: v for k, v in train.items() if k != "l2_lmbda"}))
    except ValueError as error:
        raise ValueError(f"{where}: [train] {error}") from None
    return grid, train


def cell_settings(base: dict[str, Any], cell: Cell) -> TrainSettings:
    """The ``nnreg train`` settings of one cell: the base settings with the cell's values."""
    return TrainSettings(
        **{
            **base,
            "reg": cell.reg,
            "lmbda": cell.lmbda,
            "eta": cell.eta,
            "hidden": cell.hidden,
            "sizes": None,
            "l2_lmbda": base["l2_lmbda"] if cell.reg == "elastic-net" else None,
        }
    )
