"""The training loop: epochs, seeded shuffling, mini-batches, monitors and callbacks.

It knows no regularizer or optimizer by name: each mini-batch step is

1. backpropagation of the batch, which gives g = (1/m)·Σ_x ∇C_x in factored form
   (∂C₀/∂Wˡ = δˡᵀ·Aˡ⁻¹), the regularizer's ``coupled_decay`` c (L2's λ/n) and its
   ``gradient_terms`` h (subgradient L1's (λ/n)·sgn(w)), all at the current weights;
2. ``regularizer.before_step`` (e.g. decoupled weight decay);
3. ``optimizer.step`` with the gradient g + h + c·w (SGD, momentum);
4. ``regularizer.after_step`` (e.g. the L1 soft-threshold),

with n the training-set size, m the mini-batch size. When the optimizer's step is linear,
w ← β·w + α·(g + h) (plain SGD), the g part is one BLAS call per parameter straight from
the factors, so the gradient array is never formed; and when no ``before_step`` acts, the
term h joins the weights first, as w ← w + (α/β)·h (``add_gradient_terms``, one pass for
L1), since β·(w + (α/β)·h) + α·g is the same step. Every path is tested against the same
per-example reference.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnreg import kernels
from nnreg.datasets.dataset import (
    Dataset,
    division_in_dtype_is_exact,
    make_dataset,
)
from nnreg.monitors import EpochContext, Monitor, default_monitors
from nnreg.network import Network, Workspace
from nnreg.optimizers import Optimizer
from nnreg.regularizers import NoRegularization, Regularizer
from nnreg.validation import check_int


class TrainingDiverged(RuntimeError):
    """Training produced NaN or inf. ``history`` holds every epoch's metrics so far."""

    def __init__(self, message: str, epoch: int, history: History) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history


@dataclass
class History:
    """Per-epoch records, each a dict: ``epoch``, one entry per data set (``data_cost``,
    ``penalty``, ``total_cost``, ``accuracy``), ``weights`` (per-layer norms, sparsity and
    sign flips), ``gradient_share`` (see :mod:`nnreg.monitors`), ``diverged``, and ``time``:
    wall-clock seconds of the epoch's ``training_steps`` (the mini-batch updates only),
    its ``monitors`` and the whole ``epoch``; a run folder adds the ``checkpoint`` it wrote
    (and counts it in ``epoch``)."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def series(self, *path: str) -> list[Any]:
        """One value per epoch, e.g. ``history.series("validation", "accuracy")``."""
        values = []
        for record in self.records:
            value: Any = record
            for key in path:
                value = value[key]
            values.append(value)
        return values

    @property
    def last(self) -> dict[str, Any]:
        return self.records[-1]


class Callback:
    """Hooks the loop calls; override what you need. Library code never prints: the CLI's
    progress bar and per-epoch lines are callbacks. A callback that sets
    ``stop_training = True`` in ``on_epoch_end`` ends training after that epoch."""

    stop_training = False

    def on_train_begin(self, epochs: int, steps_per_epoch: int) -> None: ...

    def on_steps(self, steps: int) -> None:
        """``steps`` more mini-batches done (called a few dozen times per epoch)."""

    def on_epoch_end(self, record: dict[str, Any], network: Network) -> None: ...

    def on_train_end(self, history: History, network: Network) -> None:
        """After the last epoch, also when a callback stopped training early."""

    def on_interrupt(self, history: History, network: Network) -> None:
        """Training is stopping between two steps (a :class:`StopFlag` was set)."""

    def on_abort(self) -> None:
        """An exception is cutting training short — a ``KeyboardInterrupt`` (Ctrl-C in a
        script, a notebook's interrupt), possibly inside a step, or an error such as a full
        disk: the parameters may be half-updated, so save nothing; let go of what is held
        (a run folder's lock, a progress display)."""


@dataclass
class TrainingState:
    """Everything that changes during training besides the network's parameters."""

    optimizer_state: dict
    regularizer_state: dict
    rng: np.random.Generator
    epoch: int = 0
    # an epoch stopped part-way (by a signal): its shuffled order and the next position,
    # and what the monitors noted at its start ("<monitor index>.<name>": array)
    order: np.ndarray | None = None
    position: int = 0
    monitor_state: dict = field(default_factory=dict)
    # gradient buffers reused by every step (scratch, not part of a checkpoint)
    scratch: dict = field(default_factory=dict, repr=False)


class StopFlag:
    """Set ``requested`` (e.g. from a signal handler) to stop training after the current
    mini-batch step; ``train`` then raises :class:`TrainingInterrupted`."""

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""


class TrainingInterrupted(RuntimeError):
    """Training stopped between two steps because a :class:`StopFlag` was set; the
    training state records where (``state.order``, ``state.position``) so it can resume."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def _monitor_state(monitors) -> dict[str, np.ndarray]:
    """What the monitors noted at the start of the epoch, keyed "<index>.<name>"."""
    state = {}
    for index, monitor in enumerate(monitors):
        epoch_state = getattr(monitor, "epoch_state", None)
        if epoch_state is not None:
            state.update({f"{index}.{name}": a for name, a in epoch_state().items()})
    return state


def _restore_monitors(monitors, monitor_state: dict[str, np.ndarray]) -> None:
    for index, monitor in enumerate(monitors):
        restore = getattr(monitor, "restore_epoch_state", None)
        if restore is not None:
            prefix = f"{index}."
            restore({k[len(prefix) :]: a for k, a in monitor_state.items() if k.startswith(prefix)})


class _DivergedInEpoch(Exception):
    def __init__(self, step: int) -> None:
        self.step = step


class BatchGatherer:
    """Copies the rows of a mini-batch into buffers reused from one batch to the next.

    Integer-coded inputs (see :class:`~nnreg.datasets.Dataset`) are gathered as codes and
    divided into a float buffer of ``dtype`` — in one pass with the compiled kernel of
    :mod:`nnreg.kernels` when it is loaded, the same numbers either way.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        input_divisor: float = 1.0,
        dtype=None,
    ) -> None:
        self.inputs, self.targets = inputs, targets
        self.input_divisor = input_divisor
        self.dtype = np.dtype(dtype or targets.dtype)
        self.coded = inputs.dtype.kind in "ui"
        # the divisor's type sets the arithmetic of the one-pass gather: as in to_float
        exact = self.coded and division_in_dtype_is_exact(
            inputs.dtype, float(input_divisor), self.dtype
        )
        self.typed_divisor = (self.dtype if exact else np.dtype(np.float64)).type(input_divisor)
        self.buffers: dict[int, tuple[np.ndarray, ...]] = {}

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = len(rows)
        if m not in self.buffers:
            width = self.inputs.shape[1]
            self.buffers[m] = (
                np.empty((m, width), self.inputs.dtype),
                np.empty((m, width), self.dtype) if self.coded else None,
                np.empty((m, self.targets.shape[1]), self.targets.dtype),
            )
        raw, x, y = self.buffers[m]
        # rows come from a permutation of range(n): in bounds, so skip the bounds checks
        np.take(self.targets, rows, axis=0, out=y, mode="clip")
        if not self.coded:
            np.take(self.inputs, rows, axis=0, out=raw, mode="clip")
            return raw, y
        if kernels.gather_divided(self.inputs, rows, self.typed_divisor, x):
            return x, y
        np.take(self.inputs, rows, axis=0, out=raw, mode="clip")
        # the division in the divisor's type, as the kernel and to_float do
        return np.divide(raw, self.typed_divisor, out=x), y


def training_step(
    network: Network,
    inputs: np.ndarray,
    targets: np.ndarray,
    optimizer: Optimizer,
    regularizer: Regularizer,
    training_set_size: int,
    state: TrainingState,
) -> None:
    """One mini-batch update of ``network`` in place (see the module docstring)."""
    weights, biases = network.weights, network.biases
    eta, n = optimizer.learning_rate, training_set_size
    workspace = state.scratch.get(len(inputs))
    if workspace is None:
        workspace = state.scratch[len(inputs)] = Workspace(network, len(inputs))
    network.backprop(inputs, targets, workspace, regularizer, state.regularizer_state)
    decays = regularizer.coupled_decay(len(weights), n)
    linear = optimizer.linear_form(decays)
    if linear is not None and not regularizer.acts_before_step and all(b for _, b in linear):
        # w ← β·w + α·(g + h) = β·(w + (α/β)·h) + α·g: the term h, taken at the current
        # weights, joins them in place; then one BLAS call per parameter, no gradient array
        scales = [alpha / beta for alpha, beta in linear]
        regularizer.add_gradient_terms(weights, biases, n, scales)
        network.apply_linear_update(workspace, linear)
    else:
        terms = regularizer.gradient_terms(weights, biases, n)
        regularizer.before_step(weights, biases, eta, n, state.regularizer_state)
        if linear is None:
            grads = network.gradients_from(workspace, _buffers(network, state))
            grads = grads[0] + grads[1]
            for g, h in zip(grads, terms):
                if h is not None:
                    g += h
            optimizer.step(weights + biases, grads, decays, state.optimizer_state)
        else:
            network.apply_linear_update(workspace, linear)
            for p, h, (alpha, _) in zip(weights + biases, terms, linear):
                if h is not None:
                    kernels.add_scaled(p, h, alpha)  # p ← p + α·h in place, one pass
    regularizer.after_step(weights, biases, eta, n, state.regularizer_state)


def _buffers(network: Network, state: TrainingState) -> tuple[list, list]:
    """Gradient arrays shaped like the parameters, made once and reused."""
    if "gradients" not in state.scratch:
        state.scratch["gradients"] = (
            [np.empty_like(w) for w in network.weights],
            [np.empty_like(b) for b in network.biases],
        )
    return state.scratch["gradients"]


def _as_dataset(data: Dataset | Sequence, network: Network, name: str) -> Dataset:
    if not isinstance(data, Dataset):
        try:
            inputs, outputs = data
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a Dataset or a pair (inputs, labels)") from None
        data = make_dataset(inputs, outputs, network.sizes[-1], name)
    if data.inputs.shape[1] != network.sizes[0]:
        raise ValueError(
            f"{name} has {data.inputs.shape[1]} input features but the network's input layer "
            f"has {network.sizes[0]} units: make sizes[0] = {data.inputs.shape[1]}"
        )
    if data.targets.shape[1] != network.sizes[-1]:
        raise ValueError(
            f"{name} has targets of length {data.targets.shape[1]} but the network has "
            f"{network.sizes[-1]} output units: make sizes[-1] = {data.targets.shape[1]}"
        )
    return data.astype(network.dtype)


def _train_one_epoch(
    network: Network,
    training: Dataset,
    batch_size: int,
    optimizer: Optimizer,
    regularizer: Regularizer,
    n: int,
    state: TrainingState,
    callbacks: list[Callback],
    report_every: int,
    stop: StopFlag | None = None,
) -> None:
    """Shuffle with the state's generator, then one step per mini-batch; an epoch stopped
    part-way continues from ``state.order`` and ``state.position``.

    Mini-batches are gathered by index, so the data set is never copied whole. The
    parameters are checked for NaN and inf at every progress report (a few dozen times an
    epoch), so a diverging run stops within the epoch.
    """
    if state.order is None:
        state.order, state.position = state.rng.permutation(len(training)), 0
    order = state.order
    gather = BatchGatherer(training.inputs, training.targets, training.input_divisor, network.dtype)
    pending = 0
    for start in range(state.position, len(training), batch_size):
        inputs, targets = gather(order[start : start + batch_size])
        training_step(network, inputs, targets, optimizer, regularizer, n, state)
        pending += 1
        if pending == report_every:
            _report_steps(callbacks, pending)
            pending = 0
            if not _finite(network):
                raise _DivergedInEpoch(start // batch_size + 1)
        if stop is not None and stop.requested:
            state.position = start + batch_size
            if state.position >= len(training):
                break  # the epoch is complete anyway: finish it normally
            raise TrainingInterrupted(stop.reason or "training was interrupted", History())
    _report_steps(callbacks, pending)
    state.order, state.position = None, 0


def _finite(network: Network) -> bool:
    return all(np.isfinite(p).all() for p in network.weights + network.biases)


def _report_steps(callbacks: list[Callback], steps: int) -> None:
    if steps:
        for callback in callbacks:
            callback.on_steps(steps)


def _end_diverged(record, problem, network, history, callbacks, optimizer, advice) -> None:
    """Record the diverged epoch (the run folder keeps the last good parameters and
    checkpoint), end training and raise :class:`TrainingDiverged`."""
    history.records.append(record)
    for callback in callbacks:
        callback.on_epoch_end(record, network)
    for callback in callbacks:
        callback.on_train_end(history, network)
    raise TrainingDiverged(
        f"training diverged in epoch {record['epoch']}: {problem}. {advice}; the metrics of "
        "every epoch so far and the last good checkpoint are kept",
        record["epoch"],
        history,
    )


class UnstableDecayWarning(UserWarning):
    """The weight decay alone makes training unstable (1 − ηλ/n ≤ 0)."""


def unstable_decay(optimizer: Optimizer, regularizer: Regularizer, layers: int, n: int):
    """What is wrong when the weight decay alone makes every step unstable, else None.

    L2's step is w ← (1 − ηλ/n)·w − η·∂C₀/∂w: with 1 − ηλ/n ≤ 0 each step flips the sign of
    every weight, and below −1 makes it larger, whatever the data say."""
    eta = optimizer.learning_rate
    worst = max(regularizer.coupled_decay(layers, n)[:layers], default=0.0)
    if eta * worst < 1.0:
        return None
    factor, lmbda = 1.0 - eta * worst, worst * n
    return (
        f"the weight decay makes every step unstable: 1 − ηλ/n = 1 − {eta:g}·{lmbda:g}/{n} "
        f"= {factor:.3g} ≤ 0, so each step flips the sign of the weights"
        + (" and makes them larger" if factor < -1 else "")
        + f". Keep ηλ/n well below 1: λ under {_rounded(n / eta)} at this η, or η under "
        f"{_rounded(n / lmbda)} at this λ (ηλ/n ≈ 0.01 or less is usual)"
    )


def _rounded(value: float) -> str:
    """Three significant digits, without an exponent in the usual range: 11970 → 12000."""
    return f"{float(f'{value:.3g}'):g}"


def divergence_advice(optimizer: Optimizer, regularizer: Regularizer, layers: int, n: int) -> str:
    """What to change after a divergence: the unstable weight decay with its numbers when
    that is the cause (:func:`unstable_decay`), else the usual causes."""
    problem = unstable_decay(optimizer, regularizer, layers, n)
    if problem:
        return problem[0].upper() + problem[1:]
    return f"Try a smaller learning rate η (now {optimizer.learning_rate:g}) or a larger mini-batch"


def _divergence(record: dict[str, Any], network: Network) -> str | None:
    """What went non-finite in this epoch, or None."""
    costs = record.get("training", {})
    for key in ("data_cost", "penalty"):
        if key in costs and not math.isfinite(costs[key]):
            return f"the training {key.replace('_', ' ')} is {costs[key]}"
    if not all(np.all(np.isfinite(p)) for p in network.weights + network.biases):
        return "the weights contain NaN or inf"
    return None


def train(
    network: Network,
    training_data: Dataset | Sequence,
    *,
    epochs: int,
    batch_size: int,
    optimizer: Optimizer,
    regularizer: Regularizer | None = None,
    evaluation_data: dict[str, Dataset | Sequence] | None = None,
    rng: np.random.Generator | int | None = None,
    training_set_size: int | None = None,
    monitors: Iterable[Monitor] | None = None,
    callbacks: Iterable[Callback] = (),
    state: TrainingState | None = None,
    history: History | None = None,
    stop: StopFlag | None = None,
    progress: bool | str = False,
) -> History:
    """Train ``network`` in place by mini-batch SGD; return the per-epoch :class:`History`.

    Parameters
    ----------
    training_data : Dataset or (inputs, labels)
        Inputs of shape (n, sizes[0]); labels as class indices or one-hot rows.
    epochs, batch_size : int
        Passes over the data, and m, the examples per mini-batch (the last batch of an
        epoch is smaller when m does not divide n).
    optimizer : Optimizer
        ``SGD(η)`` or ``MomentumSGD(η, μ)``.
    regularizer : Regularizer, optional
        Any object of :mod:`nnreg.regularizers`; none by default.
    evaluation_data : dict of name -> Dataset or (inputs, labels), optional
        Measured at the end of every epoch besides the training data.
    rng : Generator or int or None
        Source of the shuffling; an int is a seed.
    training_set_size : int, optional
        n in every λ/n; by default the number of training examples. Override it when
        training on a subset but regularizing as for the full set.
    monitors, callbacks
        Measurements merged into each epoch's record; hooks for progress and saving.
    state : TrainingState, optional
        Optimizer/regularizer state and generator to continue from (e.g. a checkpoint).
    history : History, optional
        Records of the epochs already trained, continued by this call.
    stop : StopFlag, optional
        When its ``requested`` becomes true, training stops after the current step:
        callbacks' ``on_interrupt`` run (e.g. a checkpoint is written) and
        :class:`TrainingInterrupted` is raised.
    progress : bool or "epochs"
        Show a progress bar (in a terminal, or one output updated in place in a notebook);
        ``"epochs"`` also prints a line per epoch. See :mod:`nnreg.callbacks` for more
        (early stopping, η halving, a live figure in a notebook).

    Raises
    ------
    ValueError
        For arguments that cannot work, with what to do instead.
    TrainingDiverged
        When a cost or a weight becomes NaN or inf (checked a few dozen times per epoch and
        at its end); its ``history`` keeps every epoch so far.
    TrainingInterrupted
        When ``stop`` was requested.
    """
    regularizer = regularizer if regularizer is not None else NoRegularization()
    training = _as_dataset(training_data, network, "training data")
    evaluation = {
        name: _as_dataset(data, network, f"evaluation data {name!r}")
        for name, data in (evaluation_data or {}).items()
    }
    if "training" in evaluation:
        raise ValueError(
            "'training' is reserved for the training data: name evaluation sets otherwise"
        )
    n_examples = len(training)
    epochs = check_int("epochs", epochs, minimum=1, hint=": the number of passes over the data")
    batch_size = check_int(
        "batch_size",
        batch_size,
        minimum=1,
        maximum=n_examples,
        hint=f": m is the mini-batch size, between 1 and the {n_examples} training examples",
    )
    n = (
        n_examples
        if training_set_size is None
        else check_int(
            "training_set_size",
            training_set_size,
            minimum=1,
            hint=": n is the training-set size used in every λ/n",
        )
    )
    regularizer.check_layers(network.num_layers)
    if state is None:
        state = TrainingState(
            optimizer.init_state(network.weights + network.biases),
            regularizer.init_state(network.weights, network.biases),
            np.random.default_rng(rng),
        )
    if training.coded:
        kernels.start_if_worth(epochs * n_examples * kernels.GATHER_SAVING_PER_ROW)
    monitors = list(default_monitors() if monitors is None else monitors)
    callbacks = list(callbacks)
    if progress:
        from nnreg.callbacks import ProgressBar

        callbacks.append(ProgressBar(epoch_lines=progress == "epochs"))
    context = EpochContext(network, regularizer, n, {"training": training, **evaluation})
    steps_per_epoch = -(-n_examples // batch_size)
    report_every = max(1, steps_per_epoch // 40)
    advice = divergence_advice(optimizer, regularizer, network.num_layers, n)
    problem = unstable_decay(optimizer, regularizer, network.num_layers, n)
    if problem:
        warnings.warn(problem[0].upper() + problem[1:], UnstableDecayWarning, stacklevel=2)
    for callback in callbacks:
        bind = getattr(callback, "bind", None)
        if bind is not None:  # a callback that needs to know the run (e.g. RunFolder)
            bind(network, optimizer, regularizer, state, training, evaluation, batch_size,
                 epochs, n, callbacks=callbacks)  # fmt: skip
    try:
        for callback in callbacks:
            callback.on_train_begin(epochs, steps_per_epoch)

        history = history if history is not None else History()
        # Overflow is detected and reported as divergence below, not as NumPy warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(epochs):
                if state.order is None:  # a new epoch (not one resumed part-way)
                    state.monitor_state = {}
                    for monitor in monitors:
                        begin_epoch = getattr(monitor, "begin_epoch", None)
                        if begin_epoch is not None:
                            begin_epoch(context)
                else:
                    _restore_monitors(monitors, state.monitor_state)
                started = time.perf_counter()
                try:
                    _train_one_epoch(
                        network,
                        training,
                        batch_size,
                        optimizer,
                        regularizer,
                        n,
                        state,
                        callbacks,
                        report_every,
                        stop,
                    )
                except _DivergedInEpoch as diverged:
                    elapsed = time.perf_counter() - started
                    record = {
                        "epoch": state.epoch + 1,
                        "time": {"training_steps": elapsed, "epoch": elapsed},
                        "diverged": True,
                    }
                    problem = f"the weights contain NaN or inf after step {diverged.step}"
                    _end_diverged(record, problem, network, history, callbacks, optimizer, advice)
                except TrainingInterrupted as interrupted:
                    state.monitor_state = _monitor_state(monitors)
                    for callback in callbacks:
                        callback.on_interrupt(history, network)
                    raise TrainingInterrupted(str(interrupted), history) from None
                state.epoch += 1
                trained = time.perf_counter()
                record: dict[str, Any] = {"epoch": state.epoch}
                context.new_measurement()
                for monitor in monitors:
                    record.update(monitor.measure(context))
                measured = time.perf_counter()
                record["time"] = {
                    "training_steps": trained - started,
                    "monitors": measured - trained,
                    "epoch": measured - started,
                }
                problem = _divergence(record, network)
                record["diverged"] = problem is not None
                if problem:
                    _end_diverged(record, problem, network, history, callbacks, optimizer, advice)
                history.records.append(record)
                for callback in callbacks:
                    callback.on_epoch_end(record, network)
                if any(getattr(callback, "stop_training", False) for callback in callbacks):
                    break
        for callback in callbacks:
            callback.on_train_end(history, network)
    except (TrainingInterrupted, TrainingDiverged):
        raise  # the callbacks were told (on_interrupt, on_train_end)
    except BaseException:
        for callback in callbacks:
            with contextlib.suppress(Exception):
                getattr(callback, "on_abort", lambda: None)()
        raise
    return history
