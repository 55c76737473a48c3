"""Building the learner's network for the probes: the class (or function) of their file —
or of their project, for a script or a package module that imports it — built on the tiny
[3, 4, 2] network: ``Class([3, 4, 2])``, ``Class(3, 4, 2)``, or by the names of its arguments
(``n_hidden=4``, stand-in data arrays for a constructor that takes the data)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.importing import project_root
from nnreg.doctor.parameters import Parameter, candidates, parameters_among
from nnreg.doctor.replay import PROBE_SIZES, DoctorError, quietly
from nnreg.doctor.roles import SIZE_NAMES, required, role_of, signature_parameters
from nnreg.doctor.units import (
    UPDATE_NAMES,
    function_units,
    namespace,
    unit_candidates,
)

PROTOCOL = (
    "the doctor looks for a network (a class built from its sizes, e.g. Class([3, 4, 2]), "
    "or functions working on a dict of arrays) whose weights chain layer after layer, and "
    "for the call that updates them: a method or function taking a mini-batch (or X and Y) "
    "and η, or a training loop taking the data, η and the number of epochs. For anything "
    "else write a function make_network(sizes) that builds your network and point the "
    "doctor at it: PATH.py:make_network — or run your own training script with nnreg "
    "doctor --run SCRIPT.py"
)


# -- the class (or function) that makes the network -------------------------------------------
def find_factory(module, name: str, path: Path) -> tuple[Callable | None, str, str | None]:
    """The class (or function) to build, its name, and the sibling file it comes from;
    (None, …) for code written as functions (no class of the learner's with an update)."""
    if name:
        factory = getattr(module, name, None)
        if not callable(factory):
            raise DoctorError(f"{path} has no class or function named {name!r}")
        return factory, name, None
    classes = [value for value in namespace(module).values() if inspect.isclass(value)]
    own = [c for c in classes if c.__module__ == module.__name__]
    siblings = [c for c in classes if c not in own and defined_in(c, path.parent)]
    for group in (own, siblings):  # `from network import Net` in the file given
        candidates_ = [c for c in group if unit_candidates(c)]
        if candidates_:
            break
    if not candidates_ and _takes_a_network(module):
        # free functions taking the network (`update_mini_batch(network, …)`): a class of
        # the learner's project that holds the weights is the network to give them
        group = own or siblings
        candidates_ = [c for c in own + siblings if _holds_weights(c)][:1]
    if not candidates_:
        if function_units(module):
            return None, path.stem, None
        maker = _network_maker(module)
        if maker is not None:  # `params = init_params(sizes)` and `sgd_step(params, …)`
            return maker, maker.__name__, None
        raise DoctorError(
            f"{path}: found no network and no update the doctor can replay; {PROTOCOL}"
        )
    if len(candidates_) > 1:
        named = [c for c in candidates_ if any(callable(getattr(c, n, None)) for n in UPDATE_NAMES)]
        candidates_ = named if len(named) == 1 else candidates_
    if len(candidates_) != 1:
        names = ", ".join(c.__name__ for c in candidates_)
        raise DoctorError(
            f"{path}: found {len(candidates_)} classes with an update method: {names}; name "
            f"one as {path}:ClassName"
        )
    chosen = candidates_[0]
    if group is own:
        return chosen, chosen.__name__, None
    return chosen, chosen.__name__, Path(inspect.getfile(chosen)).name


def defined_in(cls: type, folder: Path) -> bool:
    """Defined in a file of the learner's project: beside theirs, or in a package of the
    project (``from mynet.network import Network``)."""
    try:
        home = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):  # a builtin class
        return False
    root = project_root(folder)
    return home.parent == folder.resolve() or (
        "site-packages" not in home.parts and root in home.parents
    )


def _network_maker(module) -> Callable | None:
    """A function of the learner's, named like one that makes the network
    (``init_params``, ``initialize_parameters``…), whose result built on the probe's sizes
    holds a chain of weights that a free function of theirs takes first to update."""
    from nnreg.doctor.inside import MAKES_NETWORK
    from nnreg.doctor.units import learners_function

    for name, function in namespace(module).items():
        if not (
            inspect.isfunction(function)
            and MAKES_NETWORK.search(name)
            and learners_function(function, module)
        ):
            continue
        try:
            network = build(function, name, Path("."))[0]
        except DoctorError:
            continue
        if parameters_of(network) and function_units(module, network):
            return function
    return None


def _takes_a_network(module) -> bool:
    return any(c.network is not None for c in function_units(module, network=object()))


def _holds_weights(cls: type) -> bool:
    """A class whose instance, built on the probe's sizes, holds a chain of weights."""
    try:
        with quietly():
            network = build(cls, cls.__name__, Path("."))[0]
    except DoctorError:
        return False
    return bool(parameters_of(network))


def parameters_of(network: Any) -> list[Parameter]:
    found = candidates(network)
    return parameters_among(found, PROBE_SIZES) or parameters_among(found)


def build(factory: Callable, name: str, path: Path) -> tuple[Any, list[str]]:
    """The network, built on :data:`PROBE_SIZES`: as ``factory(sizes)``, ``factory(*sizes)``
    or by the names of its arguments (sizes, n_hidden…, data arrays); and notes on how."""
    problems = []
    for arguments, keywords, note in _constructions(factory):
        try:
            with quietly():
                return factory(*arguments, **keywords), [note] if note else []
        except Exception as error:  # noqa: BLE001 - their constructor may raise anything
            shown = ", ".join([*map(repr, arguments), *(f"{k}=…" for k in keywords)])
            problems.append(f"{name}({shown}): {type(error).__name__}: {error}")
    raise DoctorError(
        f"could not build the network: {'; '.join(problems[:3])}. {PROTOCOL}.\n"
        + adapter_text(factory, name, path)
    )


def _constructions(factory: Callable):
    """(arguments, keywords, note) to try, most likely first: by the names of its arguments
    when they say what they are (``n_hidden``, ``layer_sizes``…), then the sizes as a list
    and as three numbers."""
    keywords, named = _keywords_by_name(factory)
    by_name = []
    if keywords is not None:
        note = f"{getattr(factory, '__name__', 'the network')} was built as " + ", ".join(
            f"{k}={v}" for k, v in named.items()
        )
        by_name = [((), keywords, note if named else "")]
    first = (signature_parameters(factory) or [None])[0]
    sizes_first = first is None or first.name in SIZE_NAMES["sizes"] or not named
    if not sizes_first:
        yield from by_name
    yield (list(PROBE_SIZES),), {}, ""
    yield tuple(PROBE_SIZES), {}, ""
    if sizes_first:
        yield from by_name


def _keywords_by_name(factory: Callable) -> tuple[dict | None, dict]:
    """Keywords for a constructor from its argument names: sizes, the three layer widths,
    stand-in data arrays, 1 epoch; None when a required argument has no known meaning."""
    n_in, n_hidden, n_out = PROBE_SIZES
    sizes = {"sizes": list(PROBE_SIZES), "n_in": n_in, "n_hidden": n_hidden, "n_out": n_out}
    rng = np.random.default_rng(0)
    data = {"x": rng.uniform(0, 1, (20, n_in)), "y": np.arange(20) % n_out}
    keywords, named = {}, {}
    for parameter in signature_parameters(factory):
        size = next((k for k, names in SIZE_NAMES.items() if parameter.name in names), None)
        role = role_of(parameter.name)
        if size is not None:
            keywords[parameter.name] = named[parameter.name] = sizes[size]
        elif role in ("x", "y", "batch"):
            keywords[parameter.name] = data["y" if role == "y" else "x"]
            named[parameter.name] = "stand-in data"
        elif role == "epochs":
            keywords[parameter.name] = 1
        elif required(parameter):
            return None, {}
    return keywords, named


def adapter_text(factory: Callable, name: str, path: Path) -> str:
    """A ready-to-edit adapter for a constructor the doctor cannot call by itself (or run
    your training script with ``nnreg doctor --run``)."""
    wanted = ", ".join(p.name for p in signature_parameters(factory)) or "sizes"
    return (
        f"Either run your training script with `nnreg doctor --run YOUR_SCRIPT.py`, or save "
        f"this next to {path.name} as adapter.py, fill in the arguments and run `nnreg doctor "
        f"adapter.py:make_network`:\n\n"
        f"    from {path.stem} import {name}\n\n\n"
        f"    def make_network(sizes):\n"
        f"        return {name}(sizes)  # {name} takes ({wanted}): give the others here\n"
    )
