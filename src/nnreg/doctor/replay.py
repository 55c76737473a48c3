"""Replaying a learner's update under control: the network as the probes see it (a
:class:`Learner`), the code that is replayed (its :class:`Unit`), the gradient computation the
probes may replace (its :class:`Hook`), and one controlled update (:func:`run_update`).

A unit is either a **step** — one call is one update (``update_mini_batch(mini_batch, η, λ,
n)``, a free function taking the network, ``train_batch(X, Y, lr, lam, n)``) — or an
**epoch** — a training function or method run for one epoch (``SGD``, ``fit``, ``model``): over
n examples in mini-batches of m, n/m updates; with n = m, exactly one. When an epoch unit
creates the network's arrays itself (weights made in ``fit``, a dict made by
``initialize_parameters`` in ``model``), the controlled values are put into them as soon as
they exist, before the first mini-batch.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.layouts import Examples, arranged, examples, resized_batch
from nnreg.doctor.parameters import Parameter
from nnreg.doctor.roles import Binding

PROBE_SIZES = [3, 4, 2]
"""The tiny network every probe builds: 3 inputs, 4 hidden units, 2 outputs."""


class DoctorError(Exception):
    """The learner's code could not be loaded or probed; the message says what to do."""


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


@dataclass
class Hook:
    """The learner's gradient computation, replaceable: a method of the network (set on the
    instance) or a function of a module (set in the globals the update reads)."""

    owner: Any
    """The instance, or a module's globals (a dict)."""
    name: str

    def real(self) -> Callable:
        if isinstance(self.owner, dict):
            return self.owner[self.name]
        return getattr(self.owner, self.name)

    @contextlib.contextmanager
    def replaced(self, function: Callable | None):
        """``function`` in place of the real one while in the block (None: the real one)."""
        if function is None:
            yield
            return
        if isinstance(self.owner, dict):
            previous = self.owner[self.name]
            self.owner[self.name] = function
            try:
                yield
            finally:
                self.owner[self.name] = previous
            return
        had_own = self.name in vars(self.owner)
        previous = vars(self.owner).get(self.name)
        setattr(self.owner, self.name, function)
        try:
            yield
        finally:
            if had_own:
                setattr(self.owner, self.name, previous)
            else:
                delattr(self.owner, self.name)


@dataclass
class Unit:
    """The learner's code the probes call, and how: ``function`` with the arguments its
    :class:`~nnreg.doctor.roles.Binding` names, the examples in ``layout``."""

    function: Callable
    name: str
    binding: Binding
    layout: str
    kind: str = "step"
    """"step": one call is one update; "epoch": a training loop, run for one epoch."""
    owner: Any = None
    """The object λ, n, η… are set on when they are its attributes (``self.lmbda``)."""
    network: Any = None
    """For a free function, the network (or parameter dict) passed as its first argument."""
    creates_parameters: bool = False
    """An epoch unit that makes the network's arrays itself (weights made in ``fit``)."""
    root_local: str | None = None
    """For a training *function*: the local variable that holds the parameters (a dict)."""

    @property
    def full_batch(self) -> bool:
        """Every step uses all the examples given (no mini-batch size to set): m = n."""
        return self.kind == "epoch" and not (
            self.binding.has("batch_size") or self.binding.has("batches")
        )

    def keywords(self, data: Any, eta: float, lmbda: float, n: int, m: int) -> dict[str, Any]:
        """The call's keyword arguments (setting λ, n… on the owner where they live)."""
        values = {"eta": eta, "lmbda": lmbda, "n": n, "epochs": 1, "batch_size": m, "momentum": 0.0}
        values["batches"] = max(1, n // m)
        keywords = dict(self.binding.fixed)
        if "batch" in self.binding.arguments:
            keywords[self.binding.arguments["batch"]] = data
        elif "x" in self.binding.arguments:
            keywords[self.binding.arguments["x"]] = data[0]
            keywords[self.binding.arguments["y"]] = data[1]
        for name in self.binding.evaluation:
            keywords[name] = _evaluation(name, data)
        if self.kind == "step":  # epochs and mini-batch sizes belong to training loops
            values = {k: v for k, v in values.items() if k in ("eta", "lmbda", "n", "momentum")}
        for role, value in values.items():
            if role in self.binding.arguments:
                keywords[self.binding.arguments[role]] = value
            elif role in self.binding.attributes:
                setattr(self.owner, self.binding.attributes[role], value)
        return keywords

    def call(self, data: Any, eta: float, lmbda: float, n: int, m: int) -> Any:
        keywords = self.keywords(data, eta, lmbda, n, m)
        if self.network is not None:
            return self.function(self.network, **keywords)
        return self.function(**keywords)


def _evaluation(name: str, data: Any) -> Any:
    """The training data again, for a required argument that evaluates (``X_test``)."""
    if isinstance(data, tuple) and len(data) == 2:
        lowered = name.lower()
        return data[1] if lowered.startswith(("y", "t", "label")) or "label" in lowered else data[0]
    return data


@dataclass
class Learner:
    """The learner's network as the probes see it: its parameters (reached from ``root``),
    the unit that updates them, the gradient computation the probes may replace, the cost."""

    source: Path
    name: str
    root: Any
    parameters: list[Parameter]
    unit: Unit
    hook: Hook | None = None
    cost: Callable | None = None
    cost_name: str | None = None
    cost_call: Callable[[Any, float, int], float] | None = None
    """The cost on some examples for (λ, n): ``cost`` called with its own arguments."""
    notes: list[str] = field(default_factory=list)
    line_label: Callable[[int], str | int] = int
    sizes: list[int] = field(default_factory=lambda: list(PROBE_SIZES))
    pending: list[np.ndarray] | None = None
    """Controlled values waiting to be put into arrays the unit is about to make."""
    recorded_batch: Any = None
    """A real mini-batch (``--run``): batches are cut from it, in its own layout."""
    setting: dict[str, float] | None = None
    """The script's own η, λ, n, m as far as found (``--run``); None: the book's."""
    file_labels: dict[str, str] = field(default_factory=dict)
    """Files that a learner knows by another name: a notebook kernel's cell → ``In [5]``."""

    @property
    def instance(self) -> Any:
        return self.root

    @property
    def gradient_name(self) -> str:
        return self.hook.name if self.hook else ""

    @property
    def update(self) -> Callable:
        return self.unit.function

    def update_argument(self, role: str) -> str | None:
        """Their name for our argument (``lmbda`` → ``lam``), or the attribute's."""
        binding = self.unit.binding
        return binding.arguments.get(role) or binding.attributes.get(role)

    def examples(self, m: int, rng: np.random.Generator) -> Examples:
        return examples(m, self.sizes[0], self.sizes[-1], rng)

    def make_batch(self, m: int, rng: np.random.Generator) -> Any:
        if self.recorded_batch is not None:
            return resized_batch(self.recorded_batch, m)
        return arranged(self.examples(m, rng), self.unit.layout)

    def snapshot(self) -> list[np.ndarray]:
        return [np.array(p.get(self.root), dtype=float) for p in self.parameters]

    def call_update(self, batch: Any, eta: float, lmbda: float, n: int, m: int | None = None):
        """One call of the unit on ``batch`` (an epoch unit: all of it, in mini-batches of
        m), the controlled parameters put in place first."""
        m = m or _count(batch)
        if self.unit.kind == "epoch" and (self.unit.creates_parameters or self.unit.root_local):
            result = _with_parameters_put_in(self, lambda: self.unit.call(batch, eta, lmbda, n, m))
        else:
            result = self.unit.call(batch, eta, lmbda, n, m)
        if self.unit.root_local and isinstance(result, dict):
            self.root = result  # a training function returns the parameters it made
        return result


def _count(batch: Any) -> int:
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], np.ndarray):
        return len(batch[0])
    return len(batch)


def _with_parameters_put_in(learner: Learner, call: Callable[[], Any]) -> Any:
    """Run ``call`` watching the unit's own frame: once the parameters exist as arrays made
    by this call (not those present before it), the pending controlled values are copied
    into them, before any mini-batch uses them."""
    code = getattr(learner.unit.function, "__code__", None)
    held = [p.raw(learner.root) for p in _resolvable(learner, learner.root)]
    before = {id(array) for array in held}  # held: no new array can take a freed one's id
    done = [learner.pending is None]

    def local(frame, event, argument):
        if not done[0] and event == "line":
            root = (
                frame.f_locals.get(learner.unit.root_local)
                if learner.unit.root_local
                else (learner.root)
            )
            if root is not None and _fresh(learner, root, before):
                for parameter, value in zip(learner.parameters, learner.pending):
                    np.copyto(parameter.get(root), value.reshape(parameter.get(root).shape))
                learner.root, done[0] = root, True
        return local

    def trace(frame, event, argument):
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        return call()
    finally:
        sys.settrace(previous)
        held.clear()


def _resolvable(learner: Learner, root: Any) -> list[Parameter]:
    found = []
    for parameter in learner.parameters:
        try:
            parameter.get(root)
        except Exception:  # noqa: BLE001 - not made yet
            return []
        found.append(parameter)
    return found


def _fresh(learner: Learner, root: Any, before: set[int]) -> bool:
    """Every parameter exists under ``root`` as a float array of its shape, none of them one
    that was there before the call."""
    for parameter, value in zip(learner.parameters, learner.pending):
        try:
            array = parameter.raw(root)
        except Exception:  # noqa: BLE001 - not made yet
            return False
        if not isinstance(array, np.ndarray) or array.size != value.size or id(array) in before:
            return False
        if array.dtype.kind != "f" or not array.flags.writeable:
            return False
    return True


# -- one controlled update --------------------------------------------------------------------
def controlled(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Values of both signs with |v| in [0.1, 1], every fifth one ±1e-7 (closer to zero than
    any L1 step)."""
    values = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    flat = values.reshape(-1)
    flat[::5] = TINY * np.sign(flat[::5])
    return values


TINY = 1e-7


def set_parameters(learner: Learner, seed: int = 0) -> list[np.ndarray]:
    """Controlled values in every parameter (for a unit that makes its arrays itself, kept
    to be put in once it has made them); the values, in the parameters' order."""
    rng = np.random.default_rng(seed)
    values = []
    for parameter in learner.parameters:
        array = controlled(parameter.get(learner.root).shape, rng)
        parameter.set(learner.root, array.copy())
        values.append(array)
    learner.pending = [v.copy() for v in values]
    return values


def run_update(
    learner: Learner, setting: dict, gradient: Callable | None, seed: int = 0, batch: Any = None
):
    """Controlled parameters, one update with ``gradient`` in place of the learner's
    gradient computation (None: their own); (before, after). An epoch unit is given n
    examples in mini-batches of m. ``batch``: these examples instead of new ones."""
    before = set_parameters(learner, seed)
    count = setting["n"] if learner.unit.kind == "epoch" else setting["m"]
    if batch is None:
        batch = learner.make_batch(count, np.random.default_rng(seed + 1))
    replaced = learner.hook.replaced(gradient) if learner.hook else contextlib.nullcontext()
    with replaced, quietly():
        try:
            learner.call_update(batch, setting["eta"], setting["lmbda"], setting["n"], setting["m"])
        except Exception as error:  # noqa: BLE001 - their code may raise anything
            raise DoctorError(
                f"{learner.unit.name} raised {type(error).__name__}: {error} while probed "
                f"(network {learner.sizes}, {count} examples as {learner.unit.layout})"
            ) from None
    after = learner.snapshot()
    for b, a in zip(before, after):
        if a.shape != b.shape:
            raise DoctorError(f"the update changed a parameter's shape from {b.shape} to {a.shape}")
    spoiled = [p.label for p, a in zip(learner.parameters, after) if not np.all(np.isfinite(a))]
    if spoiled:
        raise DoctorError(_spoiled_message(learner, spoiled, setting, gradient, seed))
    return before, after


def _spoiled_message(learner: Learner, spoiled: list[str], setting, gradient, seed) -> str:
    line = _line_that_spoils(learner, setting, gradient, seed)
    where = ""
    if line is not None:
        label = learner.line_label(line[0])
        at = f"{learner.source.name}, line {label}" if isinstance(label, int) else label
        where = f" at {at}: {line[1]}"
    return (
        f"{learner.unit.name} turned {', '.join(spoiled)} into NaN or inf{where}, from finite "
        f"parameters and gradients (network {learner.sizes}, batch of {setting['m']}, "
        f"η = {setting['eta']}, λ = {setting['lmbda']}, n = {setting['n']}): an update that "
        "is not a number cannot be measured — fix that line first"
    )


def _line_that_spoils(learner: Learner, setting: dict, gradient, seed: int):
    """(line, its text) of the learner's file after which a parameter first holds NaN or
    inf, found by running the update again with a line tracer; None if not found there."""
    source = str(learner.source)
    found: list[int] = []
    last: dict[Any, int] = {}

    def spoiled() -> bool:
        try:
            arrays = [p.get(learner.root) for p in learner.parameters]
        except Exception:  # noqa: BLE001 - not made yet
            return False
        return not all(np.all(np.isfinite(a)) for a in arrays)

    def trace(frame, event, argument):
        if frame.f_code.co_filename != source:
            return None
        if event in ("line", "return") and not found and frame in last and spoiled():
            found.append(last[frame])
        if event == "line":
            last[frame] = frame.f_lineno
        return trace

    set_parameters(learner, seed)
    count = setting["n"] if learner.unit.kind == "epoch" else setting["m"]
    batch = learner.make_batch(count, np.random.default_rng(seed + 1))
    replaced = learner.hook.replaced(gradient) if learner.hook else contextlib.nullcontext()
    previous = sys.gettrace()
    with replaced, quietly(), contextlib.suppress(Exception):
        sys.settrace(trace)
        try:
            learner.unit.call(batch, setting["eta"], setting["lmbda"], setting["n"], setting["m"])
        finally:
            sys.settrace(previous)
    if not found:
        return None
    return found[0], linecache.getline(source, found[0]).strip()
