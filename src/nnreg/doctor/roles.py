"""What each argument of a learner's function is for: the mini-batch, η, λ, n, the number of
epochs, the network… read from the names learners use (a table of names per role), then
checked by what varying the argument does (see :mod:`~nnreg.doctor.find`).

Names are hints: an argument no table knows is given a neutral value (a momentum μ = 0, a
flag False) and the report says so.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "batch": (
        "mini_batch", "minibatch", "batch", "data", "mb", "batch_data", "training_data",
        "train_data", "training_set", "train_set", "dataset", "examples", "train",
    ),
    "x": (
        "X", "x", "X_train", "x_train", "inputs", "input", "features", "train_images", "images",
        "X_batch", "x_batch", "xs", "train_x", "train_X", "x_batch_train", "X_tr", "data_x",
    ),
    "y": (
        "Y", "y", "Y_train", "y_train", "targets", "target", "labels", "label", "train_labels",
        "y_batch", "Y_batch", "ys", "train_y", "t", "y_true", "Y_tr", "data_y", "y_onehot",
    ),
    "eta": ("eta", "lr", "learning_rate", "alpha", "step_size", "rate", "learningrate"),
    "lmbda": (
        "lmbda", "lmbd", "lam", "lamda", "lambda_", "lambd", "reg", "reg_lambda", "l2", "lmb",
        "l2_lambda", "reg_strength", "l2_reg", "weight_decay", "l1", "l1_lambda", "reg_param",
        "lambda_reg", "regularization", "l2_penalty", "reg_rate", "lambda_l2", "lambda1",
    ),
    "n": (
        "n", "n_train", "training_set_size", "n_total", "N", "n_samples", "n_training",
        "num_examples", "n_examples", "dataset_size", "total", "train_size", "n_data",
    ),
    "epochs": (
        "epochs", "n_epochs", "num_epochs", "iterations", "num_iterations", "n_iter",
        "n_iterations", "max_iter", "iters", "num_iters", "nb_epoch", "training_epochs",
    ),
    "batch_size": (
        "mini_batch_size", "batch_size", "minibatch_size", "batchsize", "mb_size", "bs",
        "batch_sz", "size_of_batch",
    ),
    "batches": ("splits", "n_batches", "num_batches", "batches", "n_splits", "num_splits"),
    "evaluation": (
        "evaluation_data", "test_data", "validation_data", "X_test", "Y_test", "x_test",
        "y_test", "X_val", "y_val", "Y_val", "x_val", "X_valid", "y_valid", "test_x", "test_y",
        "val_data", "valid_data", "X_validation", "y_validation", "test_images",
        "test_labels", "X_dev", "Y_dev", "validation",
    ),
    "momentum": ("mu", "momentum", "beta", "beta1", "gamma", "rho", "friction"),
    "seed": ("seed", "random_state", "rng", "random_seed"),
}  # fmt: skip
"""Names learners give each argument (and attribute) of an update or training function."""

SIZE_NAMES: dict[str, tuple[str, ...]] = {
    "sizes": (
        "sizes", "layers", "layer_sizes", "layer_dims", "layers_dims", "architecture", "shape",
        "dims", "topology", "nodes", "neurons", "layer_dimensions", "net_sizes", "structure",
    ),
    "n_in": (
        "n_input", "n_inputs", "input_size", "input_dim", "n_features", "num_inputs",
        "in_features", "n_in", "nx", "n_x", "input_nodes", "inputnodes", "num_features",
        "input_layer_size", "n_feature", "inputs_size", "input_units", "d_in",
    ),
    "n_hidden": (
        "n_hidden", "hidden_units", "hidden_size", "hidden_dim", "num_hidden", "n_h", "nh",
        "hidden", "hidden_nodes", "hiddennodes", "hidden_layer_size", "n_hidden_units",
        "num_hidden_units", "hidden_neurons", "d_hidden",
    ),
    "n_out": (
        "n_output", "n_outputs", "output_size", "output_dim", "n_classes", "num_classes",
        "n_out", "n_y", "ny", "output_nodes", "outputnodes", "output_layer_size", "num_outputs",
        "classes", "output_units", "d_out",
    ),
}  # fmt: skip
"""Names of a network constructor's size arguments."""

FLAG_PREFIXES = ("print", "verbose", "monitor", "plot", "show", "debug", "log", "display")


def role_of(name: str, roles: Iterable[str] | None = None) -> str | None:
    """The role a name has in the table (``lr`` → ``eta``), or None."""
    for role in roles or ROLE_NAMES:
        if name in ROLE_NAMES[role] or name.lower() in {n.lower() for n in ROLE_NAMES[role]}:
            return role
    return None


def signature_parameters(function: Callable) -> list[inspect.Parameter]:
    """The named parameters of ``function`` (``self`` and ``*args``/``**kwargs`` left out)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in parameters if p.kind in kinds and p.name != "self"]


def required(parameter: inspect.Parameter) -> bool:
    return parameter.default is inspect.Parameter.empty


@dataclass
class Binding:
    """Which of a function's arguments (or of its object's attributes) plays each role; the
    values given to its other arguments, and notes on what the doctor chose."""

    arguments: dict[str, str] = field(default_factory=dict)
    """role → the function's argument name."""
    attributes: dict[str, str] = field(default_factory=dict)
    """role → an attribute of the object the function belongs to (``self.lmbda``)."""
    fixed: dict[str, Any] = field(default_factory=dict)
    """the function's other arguments → the value they are given."""
    evaluation: list[str] = field(default_factory=list)
    """Required arguments for data to evaluate on (``X_test``): given the training data."""
    notes: list[str] = field(default_factory=list)

    def has(self, role: str) -> bool:
        return role in self.arguments or role in self.attributes


def bind(function: Callable, owner: Any = None, skip: int = 0) -> Binding:
    """Roles of ``function``'s arguments by their names; λ, n, η, epochs and the batch size
    may instead be attributes of ``owner``. The first ``skip`` arguments are left out (the
    network, passed by the caller). Unknown required arguments get a neutral value."""
    parameters = signature_parameters(function)[skip:]
    binding = Binding()
    taken: set[str] = set()
    for parameter in parameters:
        role = role_of(parameter.name)
        if role is not None and role not in binding.arguments and role != "evaluation":
            binding.arguments[role] = parameter.name
            taken.add(parameter.name)
    if "batch" in binding.arguments and ("x" in binding.arguments) != ("y" in binding.arguments):
        binding.arguments.pop("x", None)  # one of (x, y) beside a batch: the batch is the data
        binding.arguments.pop("y", None)
    for role in ("lmbda", "n", "eta", "epochs", "batch_size"):
        if role not in binding.arguments and owner is not None:
            attribute = numeric_attribute(owner, ROLE_NAMES[role])
            if attribute:
                binding.attributes[role] = attribute
    for parameter in parameters:
        if parameter.name in taken:
            continue
        if role_of(parameter.name, ("evaluation",)) and required(parameter):
            binding.evaluation.append(parameter.name)
            continue
        value = neutral_value(parameter)
        if value is not _KEEP_DEFAULT:
            binding.fixed[parameter.name] = value
    return binding


_KEEP_DEFAULT = object()


def neutral_value(parameter: inspect.Parameter) -> Any:
    """What an argument no role claims is given: its default when it has one (a flag is
    turned off, evaluation data left out); a required one 0 (a momentum μ = 0 means plain
    SGD), or None for data."""
    name = parameter.name
    if name.lower().startswith(FLAG_PREFIXES):
        return False if isinstance(parameter.default, bool) or required(parameter) else 0
    if role_of(name, ("momentum",)):
        return 0.0
    if role_of(name, ("seed",)):
        return 0 if required(parameter) else _KEEP_DEFAULT
    if role_of(name, ("evaluation",)):
        return None
    if not required(parameter):
        return _KEEP_DEFAULT
    return 0.0


def numeric_attribute(owner: Any, aliases: Iterable[str]) -> str | None:
    for attribute in aliases:
        value = getattr(owner, attribute, None)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return attribute
    return None
