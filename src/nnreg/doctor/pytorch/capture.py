"""Capture by running, for PyTorch: the learner's training script (or notebook) run as they run
it, watched until its first update — the first ``optimizer.step()``, or, for a step written by
hand, the first in-place change of the parameters after ``backward()``.

What is watched, by behaviour rather than names:

* every **top-level forward** of an ``nn.Module`` (global module hooks): the model is the
  module whose forward the loss depends on; its inputs give m, the mini-batch size;
* the **loss handed to** ``backward()``: before PyTorch runs it, the gradient of the loss is
  split in two — the part that flows through the model's outputs (the data gradient) and the
  rest, which does not depend on the batch (the penalty's gradient);
* every **torch function applied to a parameter outside a forward** (a ``TorchFunctionMode``):
  where the penalty reads the parameters (between which forwards: once per mini-batch or once
  per example) and where a hand-written step changes them;
* the **optimizer handed** ``step()`` (a global step hook): its class and parameter groups
  (lr, weight_decay, momentum, betas…), and the line where it was made.

At the first update the record is kept and the script is stopped there.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnreg.doctor.capture import learners_file, runner_for
from nnreg.doctor.importing import describe
from nnreg.doctor.replay import DoctorError
from nnreg.doctor.roles import ROLE_NAMES

HYPERPARAMETERS = (
    "lr", "weight_decay", "momentum", "dampening", "nesterov", "betas", "eps", "alpha",
    "centered", "amsgrad", "maximize", "decoupled_weight_decay",
)  # fmt: skip
"""The entries of an optimizer's parameter group the report shows."""


@dataclass
class ParameterRecord:
    """One parameter tensor at the first update."""

    name: str
    shape: tuple[int, ...]
    before: np.ndarray
    gradient: np.ndarray
    """The whole gradient ``backward()`` gave it."""
    data_gradient: np.ndarray
    """The part that flows through the model's outputs."""
    after: np.ndarray | None = None
    """Its value after a step written by hand."""
    group: int | None = None
    """The optimizer's parameter group it belongs to."""
    reads: list[int] = field(default_factory=list)
    """For each torch function applied to it outside a forward before ``backward()``: how
    many forwards had run (reads after different forwards: computed once per example)."""

    @property
    def penalty_gradient(self) -> np.ndarray:
        return self.gradient - self.data_gradient

    @property
    def is_weight(self) -> bool:
        """A matrix (or kernel) of weights; a vector is a bias or a normalization's scale."""
        return len(self.shape) >= 2


@dataclass
class OptimizerRecord:
    kind: type
    groups: list[dict[str, Any]]
    line: tuple[str, int] | None = None


@dataclass
class StepRecord:
    """The learner's first update, as observed."""

    parameters: list[ParameterRecord]
    optimizer: OptimizerRecord | None
    m: int
    n: int | None
    forwards: int
    numbers: dict[str, float]
    """Numbers in the training code's scope named like λ (``lam``, ``weight_decay``…)."""
    penalty_lines: list[tuple[str, int]] = field(default_factory=list)
    update_lines: list[tuple[str, int]] = field(default_factory=list)
    backward_line: tuple[str, int] | None = None
    reduction: str | None = None
    """The loss module's ``reduction`` (``mean``, ``sum``), when the loss came from one."""

    @property
    def by_hand(self) -> bool:
        return self.optimizer is None


class _Captured(BaseException):
    """Raised in the script at its first update, to stop it there."""


def uses_torch(path: Path) -> bool:
    """Whether the script (or the notebook's code) imports PyTorch — itself, or through a
    module of the learner's beside it (``from common import *``, ``from mynet import model``)."""
    return _imports_torch(Path(path), set())


TORCH_IMPORT = re.compile(r"^\s*(import torch\b|from torch\b)", re.M)
OWN_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", re.M)


def _imports_torch(path: Path, seen: set[Path]) -> bool:
    from nnreg.doctor.notebooks import NotebookError, read_notebook

    path = path.resolve()
    if path in seen or len(seen) > 50:
        return False
    seen.add(path)
    try:
        if path.suffix == ".ipynb":
            text = read_notebook(path, everything=True).text
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
    except (OSError, NotebookError):
        return False
    if TORCH_IMPORT.search(text):
        return True
    for name in OWN_IMPORT.findall(text):
        parts = name.split(".")
        for candidate in (
            path.parent.joinpath(*parts).with_suffix(".py"),
            path.parent.joinpath(*parts, "__init__.py"),
        ):
            if candidate.is_file() and _imports_torch(candidate, seen):
                return True
    return False


def import_torch():
    try:
        import torch
    except ImportError:
        raise DoctorError(
            "this script uses PyTorch, which is not installed here: install nnreg's torch "
            'extra (pip install "nnreg[torch]") and run the doctor again'
        ) from None
    return torch


def capture_step(path: Path, arguments: list[str], label: Callable = int) -> StepRecord:
    """Run ``path`` as ``__main__`` (``sys.argv = [path, *arguments]``) until its first update;
    the :class:`StepRecord`, or a :class:`DoctorError` saying why there was none."""
    path = Path(path).resolve()
    watcher = Watcher(import_torch(), path.parent)
    argv = sys.argv
    sys.argv = [str(path), *arguments]
    try:
        with watcher:
            runner_for(path)()
            watcher.at_the_end()
    except _Captured:
        pass
    except SystemExit as error:
        if watcher.record is None:
            raise DoctorError(
                f"{path.name} ended ({describe(error, path, label)}) before its first "
                "optimizer.step() — does it train when run like this?"
            ) from None
    except DoctorError:
        raise
    except Exception as error:  # noqa: BLE001 - their script may raise anything
        if watcher.record is None:
            raise DoctorError(
                f"{path.name} raised {describe(error, path, label)} before its first update: "
                "fix the error (run it with python as you usually do), then run the doctor again"
            ) from None
    finally:
        sys.argv = argv
    if watcher.record is None:
        raise DoctorError(watcher.why_none(path.name))
    return watcher.record


class Watcher:
    """The hooks, installed for the time of a ``with`` block (see the module's docstring)."""

    def __init__(self, torch, folder: Path) -> None:
        self.torch = torch
        self.folder = str(folder)
        self.depth = 0
        self.outputs: list[Any] = []
        self.inputs: list[Any] = []
        self.modules: list[Any] = []
        self.reads: dict[int, list[int]] = {}
        self.read_lines: list[tuple[str, int]] = []
        self.written_lines: list[tuple[str, int]] = []
        self.analysed: dict[str, Any] | None = None
        self.record: StepRecord | None = None
        self.backwards = 0
        self.handles: list[Any] = []
        self.files: dict[str, bool] = {}
        self.kept: list[bool] = []
        self.quiet = False
        """True while the watcher itself computes with the parameters."""

    # -- installing and removing the hooks ----------------------------------------------------
    def __enter__(self) -> Watcher:
        torch = self.torch
        from torch.nn.modules import module as modules
        from torch.optim import optimizer as optimizers

        self.handles = [
            modules.register_module_forward_pre_hook(self._before_forward),
            modules.register_module_forward_hook(self._after_forward, always_call=True),
            optimizers.register_optimizer_step_pre_hook(self._before_step),
        ]
        self.real_backward = torch.Tensor.backward
        watcher = self

        def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
            watcher._analyse(tensor)
            return watcher.real_backward(tensor, gradient, retain_graph, create_graph, inputs)

        torch.Tensor.backward = backward
        self.real_init = torch.optim.Optimizer.__init__

        def init(optimizer, *arguments, **keywords):
            watcher.real_init(optimizer, *arguments, **keywords)
            optimizer._nnreg_line = watcher._learners_line()

        torch.optim.Optimizer.__init__ = init
        self.mode = _ParameterReads(self)
        self.mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.mode.__exit__(None, None, None)
        for handle in self.handles:
            handle.remove()
        self.torch.Tensor.backward = self.real_backward
        self.torch.optim.Optimizer.__init__ = self.real_init

    # -- forwards ---------------------------------------------------------------------------
    def _before_forward(self, module, inputs) -> None:
        kept = (
            self.depth == 0
            and not self.quiet
            and self.torch.is_grad_enabled()  # not an evaluation under no_grad
            and bool(_named(module))  # a model (a loss module holds no parameters)
        )
        if kept:
            self._check_hand_written_update()
            self.modules.append(module)
            self.inputs.append(inputs)
        self.kept.append(kept)
        self.depth += 1

    def _after_forward(self, module, inputs, output) -> None:
        self.depth -= 1
        if self.kept.pop() if self.kept else False:
            self.outputs.append(output)

    # -- backward: the gradient split into the data's part and the penalty's --------------
    def _analyse(self, loss) -> None:
        self.backwards += 1
        if self.record is not None or self.analysed is not None:
            return
        if not self.outputs:
            self._forget()
            return
        self.quiet = True
        try:
            self._split(loss)
        finally:
            self.quiet = False

    def _split(self, loss) -> None:
        torch = self.torch
        if not (isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1):
            return
        model_parameters = _unique(p for m in self.modules for _, p in _named(m))
        names = {id(p): name for m in self.modules for name, p in _named(m)}
        parameters = [p for p in model_parameters if p.requires_grad]
        outputs = [o for o in _tensors(self.outputs) if o.requires_grad]
        if not parameters or not outputs:
            self._forget()
            return
        whole = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
        through = torch.autograd.grad(loss, outputs, retain_graph=True, allow_unused=True)
        pairs = [(o, g) for o, g in zip(outputs, through) if g is not None]
        data = (
            torch.autograd.grad(
                [o for o, _ in pairs], parameters, [g for _, g in pairs],
                retain_graph=True, allow_unused=True,
            )
            if pairs
            else [None] * len(parameters)
        )  # fmt: skip
        records = []
        for p, g, d in zip(parameters, whole, data):
            zero = np.zeros(tuple(p.shape))
            records.append(
                ParameterRecord(
                    names.get(id(p), "parameter"),
                    tuple(p.shape),
                    _numpy(p),
                    _numpy(g) if g is not None else zero,
                    _numpy(d) if d is not None else zero,
                    reads=list(self.reads.get(id(p), [])),
                )
            )
        self.analysed = {
            "parameters": parameters,
            "records": records,
            "versions": [p._version for p in parameters],
            "m": _batch_size(self.inputs),
            "forwards": len(self.outputs),
            "penalty_lines": list(dict.fromkeys(self.read_lines)),
            "backward_line": self._learners_line(),
            "scope": _scope_of_learner(self),
            "n": _training_size(self, self.inputs, _batch_size(self.inputs)),
        }
        self.written_lines.clear()

    def _forget(self) -> None:
        """A backward that was not the training's: what was seen before it does not count."""
        self.outputs.clear()
        self.inputs.clear()
        self.modules.clear()
        self.reads.clear()
        self.read_lines.clear()

    # -- the update: an optimizer's step, or one written by hand ----------------------------
    def _before_step(self, optimizer, arguments, keywords):
        if self.record is not None or self.analysed is None:
            return None
        self.quiet = True
        groups = [
            {k: group[k] for k in HYPERPARAMETERS if k in group} for group in optimizer.param_groups
        ]
        where = {
            id(p): i for i, group in enumerate(optimizer.param_groups) for p in group["params"]
        }
        for p, record in zip(self.analysed["parameters"], self.analysed["records"]):
            record.group = where.get(id(p))
        line = getattr(optimizer, "_nnreg_line", None)
        self._finish(OptimizerRecord(type(optimizer), groups, line), [])
        raise _Captured

    def _check_hand_written_update(self) -> None:
        """A step written by hand: the parameters changed in place since ``backward()``."""
        if self.record is not None or self.analysed is None:
            return
        parameters = self.analysed["parameters"]
        if all(p._version == v for p, v in zip(parameters, self.analysed["versions"])):
            return
        self.quiet = True
        for p, record in zip(parameters, self.analysed["records"]):
            record.after = _numpy(p)
        self._finish(None, list(dict.fromkeys(self.written_lines)))
        raise _Captured

    def at_the_end(self) -> None:
        """The script ended: a step written by hand after the last backward still counts."""
        self._check_hand_written_update()

    def _finish(self, optimizer: OptimizerRecord | None, update_lines: list) -> None:
        a = self.analysed
        self.record = StepRecord(
            a["records"], optimizer, a["m"], a["n"], a["forwards"],
            _lambda_numbers(a["scope"]), a["penalty_lines"], update_lines, a["backward_line"],
            _reduction(a["scope"]),
        )  # fmt: skip

    def why_none(self, name: str) -> str:
        if self.backwards == 0:
            return (
                f"{name} ran to its end without calling backward() on a loss that depends on a "
                "model's output: the doctor needs a script that trains (loss.backward(), then "
                "optimizer.step() or a step of your own)"
            )
        return (
            f"{name} called backward() but never changed the model's parameters (no "
            "optimizer.step(), no in-place update of the parameters): is the step missing?"
        )

    # -- where in the learner's code --------------------------------------------------------
    def theirs(self, filename: str) -> bool:
        if filename not in self.files:
            self.files[filename] = learners_file(filename, self.folder)
        return self.files[filename]

    def _learners_line(self) -> tuple[str, int] | None:
        frame = sys._getframe(1)
        while frame is not None:
            if self.theirs(frame.f_code.co_filename):
                return frame.f_code.co_filename, frame.f_lineno
            frame = frame.f_back
        return None

    def parameter_used(self, tensors: list, function, result) -> None:
        """A torch function applied to a parameter outside a forward (see _ParameterReads):
        after backward, perhaps a step by hand; before, a read by the penalty when what it
        computed carries a gradient (not a shape, not an initialization under no_grad)."""
        if self.depth != 0 or self.record is not None or self.quiet:
            return
        name = getattr(function, "__name__", "")
        if name in ("__get__", "__set__", "__delete__"):
            return  # an attribute (p.grad = None, p.shape): no computation with the values
        in_place = name.endswith("_") and not name.endswith("__") or name.startswith("__i")
        line = self._learners_line()
        if self.analysed is not None:  # after backward: a step written by hand
            if line and (in_place or name in ("copy_", "set_")):
                self.written_lines.append(line)
            return
        carries = [t for t in _tensors([result]) if t.requires_grad and not _is_parameter(t)]
        if not carries:
            return  # a shape, an initialization, a log under no_grad: nothing to differentiate
        for tensor in tensors:
            self.reads.setdefault(id(tensor), []).append(len(self.outputs))
        if line:
            self.read_lines.append(line)


class _ParameterReads:
    """A ``TorchFunctionMode`` telling the watcher of each torch function applied to an
    ``nn.Parameter`` (or a tensor that requires a gradient and is a leaf)."""

    def __new__(cls, watcher: Watcher):
        from torch.overrides import TorchFunctionMode

        class Mode(TorchFunctionMode):
            def __torch_function__(self, function, types, arguments=(), keywords=None):
                keywords = keywords or {}
                found = [t for t in _flat([*arguments, *keywords.values()]) if _is_parameter(t)]
                result = function(*arguments, **keywords)
                if found:
                    watcher.parameter_used(found, function, result)
                return result

        return Mode()


def _is_parameter(value: Any) -> bool:
    import torch

    return isinstance(value, torch.nn.Parameter) or (
        isinstance(value, torch.Tensor) and value.is_leaf and value.requires_grad
    )


def _flat(values: list) -> list:
    found = []
    for value in values:
        if isinstance(value, (list, tuple)):
            found += _flat(list(value))
        else:
            found.append(value)
    return found


def _named(module) -> list[tuple[str, Any]]:
    try:
        return list(module.named_parameters())
    except Exception:  # noqa: BLE001 - a module of theirs that breaks named_parameters
        return []


def _unique(values) -> list:
    seen, found = set(), []
    for value in values:
        if id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found


def _tensors(values: list) -> list:
    import torch

    found = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += _tensors(list(value))
        elif isinstance(value, dict):
            found += _tensors(list(value.values()))
    return found


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().to("cpu").double().numpy().copy()


def _batch_size(inputs: list) -> int:
    """m: the examples the step's forwards were given (one per forward of a single example)."""
    total = 0
    for arguments in inputs:
        tensors = _tensors(list(arguments))
        first = tensors[0] if tensors else None
        total += int(first.shape[0]) if first is not None and first.dim() >= 2 else 1
    return max(total, 1)


def _scope_of_learner(watcher: Watcher) -> dict[str, Any]:
    """The variables in scope in the learner's code that is running: the globals of its
    module, then the locals of its functions on the stack, the innermost last."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        if watcher.theirs(frame.f_code.co_filename):
            frames.append(frame)
        frame = frame.f_back
    if not frames:
        return {}
    scope = dict(frames[0].f_globals)
    for frame in reversed(frames):
        scope.update(frame.f_locals)
    return scope


def _lambda_numbers(scope: dict[str, Any]) -> dict[str, float]:
    names = {n.lower() for n in (*ROLE_NAMES["lmbda"], "wd", "decay", "l1_lambda", "l2_lambda",
                                 "lambda_l1", "lam_l1", "l1_lam", "l2_lam", "penalty")}  # fmt: skip
    found = {}
    for name, value in scope.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if name.lower() in names and number and math.isfinite(value) and value > 0:
            found[name] = float(value)
    return found


def _reduction(scope: dict[str, Any]) -> str | None:
    import torch

    losses = [v for v in scope.values() if isinstance(v, torch.nn.modules.loss._Loss)]
    reductions = {getattr(loss, "reduction", None) for loss in losses}
    return reductions.pop() if len(reductions) == 1 else None


def _training_size(watcher: Watcher, inputs: list, m: int) -> int | None:
    """n: the size of the training data the batches come from — a DataLoader's dataset, or
    the largest array or tensor in scope shaped like the inputs with more examples."""
    import torch

    scope = _scope_of_learner(watcher)
    loaders = [v for v in scope.values() if isinstance(v, torch.utils.data.DataLoader)]
    for loader in loaders:
        try:
            return len(loader.dataset)
        except TypeError:
            continue
    tensors = _tensors(list(inputs[0])) if inputs else []
    if not tensors:
        return None
    example = tuple(tensors[0].shape[1:]) if tensors[0].dim() >= 2 else tuple(tensors[0].shape)
    sizes = [
        int(value.shape[0])
        for value in scope.values()
        if isinstance(value, (torch.Tensor, np.ndarray))
        and value.ndim == len(example) + 1
        and tuple(value.shape[1:]) == example
        and value.shape[0] > m
    ]
    return max(sizes) if sizes else None
