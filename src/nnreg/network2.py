"""A drop-in for the book's ``network2.py`` (Python 3), on nnreg's vectorized engine.

Replace ``import network2`` with ``import nnreg.network2 as network2`` and keep the rest
of the book's code: the same classes, methods, arguments, return values, printed lines,
JSON save format and shapes (weights (n_out, n_in), biases (n_out, 1)). A mini-batch
goes through the network as one matrix instead of one example at a time.

Randomness is the book's too: initial weights come from NumPy's global generator
(``np.random.seed``) and the mini-batch order from Python's ``random.shuffle``
(``random.seed``), so the same seeds give the same network and the same mini-batches
as the book's own code.

Beyond the book, off by default: ``regularization=`` chooses the regularizer (``"L2"``,
the book's; ``"L1"``, the book's subgradient rule; ``"L1-proximal"``, ``"L1-cumulative"``,
``"elastic-net"``, ``"decoupled"``, or any :class:`nnreg.Regularizer`), and
``monitor_weights=True`` prints and keeps per-layer weight statistics each epoch, and
``dropout=p`` (one rate, or one per hidden layer) applies inverted dropout to the hidden
layers during training, its masks seeded from Python's ``random``.
"""

from __future__ import annotations

import json
import random

import numpy as np

from nnreg import example_rows, kernels
from nnreg.activations import get_activation
from nnreg.combined import Combined
from nnreg.costs import CrossEntropyCost as _EngineCrossEntropy
from nnreg.costs import QuadraticCost as _EngineQuadratic
from nnreg.dropout import Dropout
from nnreg.monitors import BLOCK
from nnreg.network import Network as _EngineNetwork
from nnreg.optimizers import SGD as _SGD
from nnreg.regularizers import Regularizer, make_regularizer
from nnreg.training import BatchGatherer, TrainingState, training_step
from nnreg.validation import check_parameter_memory, check_sizes

#### Costs, as in the book: fn(a, y) and delta(z, a, y) on column vectors (or matrices of them)


class QuadraticCost:
    @staticmethod
    def fn(a, y):
        """The cost ½‖a − y‖² of an output ``a`` for the desired output ``y``."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The output error δᴸ = (a − y) ⊙ σ'(z)."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    @staticmethod
    def fn(a, y):
        """The cross-entropy −Σ[y ln a + (1 − y) ln(1 − a)], with the book's ``nan_to_num``."""
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        """The output error δᴸ = a − y (the σ'(z) factor cancels)."""
        return a - y


COSTS = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}
"""The cost names a saved file may name; nothing else is ever looked up."""


class _BookCost:
    """Adapts a book-style cost class (sigmoid outputs) to the engine's cost interface."""

    name = "book"

    def __init__(self, cost) -> None:
        self.book_cost = cost

    def output(self, z, out=None):
        return get_activation("sigmoid").fn(z, out=out)

    def fn(self, z, a, y):
        return np.array([self.book_cost.fn(a[i : i + 1].T, y[i : i + 1].T) for i in range(len(a))])

    def delta(self, z, a, y, out=None):
        delta = self.book_cost.delta(z.T, a.T, y.T).T
        if out is None:
            return delta
        out[...] = delta
        return out


def _engine_cost(cost):
    """The engine's own (faster, overflow-safe) cost for the book's classes, else an adapter."""
    if cost is CrossEntropyCost:
        return _EngineCrossEntropy()
    if cost is QuadraticCost:
        return _EngineQuadratic(get_activation("sigmoid"))
    return _BookCost(cost)


REGULARIZATIONS = {
    "L2": "l2",
    "L1": "l1",
    "L1-proximal": "l1-proximal",
    "L1-cumulative": "l1-cumulative",
    "elastic-net": "elastic-net",
    "decoupled": "decoupled",
    "none": "none",
}


#### Main Network class
class Network:
    def __init__(self, sizes, cost=CrossEntropyCost):
        """``sizes`` lists the neurons per layer, e.g. [784, 30, 10]; weights are initialized
        with :meth:`default_weight_initializer`."""
        self.num_layers = len(sizes)
        self.sizes = check_sizes(sizes)
        check_parameter_memory(self.sizes)
        self.default_weight_initializer()
        self.cost = cost

    def default_weight_initializer(self):
        """Weights N(0, 1/n_in), biases N(0, 1), from NumPy's global generator (the book's)."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [
            np.random.randn(y, x) / np.sqrt(x) for x, y in zip(self.sizes[:-1], self.sizes[1:])
        ]

    def large_weight_initializer(self):
        """Weights and biases N(0, 1), from NumPy's global generator (the book's chapter 1)."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    # -- the engine behind the book's interface -----------------------------------------
    def _engine(self) -> _EngineNetwork:
        """An engine network whose parameters *share memory* with ``weights`` and ``biases``."""
        self.weights = [np.ascontiguousarray(w, dtype=np.float64) for w in self.weights]
        self.biases = [np.ascontiguousarray(b, dtype=np.float64) for b in self.biases]
        # reshape(-1) of a contiguous (n, 1) array is a view: engine updates reach self.biases
        biases = [b.reshape(-1) for b in self.biases]
        return _EngineNetwork.from_parameters(
            self.weights, biases, "sigmoid", _engine_cost(self.cost)
        )

    def feedforward(self, a):
        """The network's output for input ``a``: a column (n_in, 1) or columns (n_in, k)."""
        return self._engine().feedforward(np.asarray(a, dtype=np.float64).T).T

    def SGD(
        self,
        training_data,
        epochs,
        mini_batch_size,
        eta,
        lmbda=0.0,
        evaluation_data=None,
        monitor_evaluation_cost=False,
        monitor_evaluation_accuracy=False,
        monitor_training_cost=False,
        monitor_training_accuracy=False,
        early_stopping_n=0,
        *,
        regularization="L2",
        monitor_weights=False,
        dropout=0.0,
    ):
        """Mini-batch stochastic gradient descent, as in the book.

        ``training_data`` is a list of (x, y) with x (n_in, 1) and y one-hot (n_out, 1);
        ``evaluation_data`` has integer labels. λ is divided by n = len(training_data).
        Returns (evaluation costs, evaluation accuracies, training costs, training
        accuracies), accuracies as counts, each list filled only when monitored.
        """
        if not isinstance(training_data, ExampleList):
            training_data = list(training_data)
        n = len(training_data)
        # the matrices once per call, without copying when the columns are the loader's rows
        inputs, targets, located = _examples(training_data, self.sizes[-1], one_hot=True)
        if evaluation_data:
            evaluation_data = list(evaluation_data)
            n_data = len(evaluation_data)
        engine = self._engine()
        regularizer = self._regularizer(regularization, lmbda)
        if np.any(np.asarray(dropout) > 0):
            regularizer = Combined([regularizer, Dropout(dropout, seed=random.getrandbits(32))])
        regularizer.check_layers(engine.num_layers)
        optimizer = _SGD(eta)
        state = TrainingState({}, regularizer.init_state(engine.weights, engine.biases), None)
        self.weight_statistics = []
        best_accuracy = 1
        no_accuracy_change = 0
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        # mini-batches gathered from the matrix's rows (a view of the loader's when the list
        # is in its order): the same numbers as stacking, and a change made to a column in
        # place is seen, as it would be by the book's code
        gather = BatchGatherer(inputs, targets)
        evaluation = None
        kernels.start_if_worth(epochs * n * kernels.SHUFFLE_SAVING_PER_ITEM)
        rows = np.arange(n)
        for j in range(epochs):
            # the permutation the book's random.shuffle(training_data) makes, same generator
            kernels.shuffle_as_random_does(rows)
            for k in range(0, n, mini_batch_size):
                batch = rows[k : k + mini_batch_size]
                training_step(engine, *gather(batch), optimizer, regularizer, n, state)
            print("Epoch %s training complete" % j)
            # one forward pass per data set and epoch gives both its cost and its accuracy
            outputs = None
            if monitor_training_cost or monitor_training_accuracy:
                outputs = _outputs(engine, inputs)
            if monitor_training_cost:
                cost = self._book_cost(outputs, targets, lmbda)
                training_cost.append(cost)
                print("Cost on training data: {}".format(cost))
            if monitor_training_accuracy:
                accuracy = _correct(outputs, targets)
                training_accuracy.append(accuracy)
                print("Accuracy on training data: {} / {}".format(accuracy, n))
            if (monitor_evaluation_cost or monitor_evaluation_accuracy) and evaluation is None:
                evaluation = _examples(evaluation_data, self.sizes[-1], one_hot=False)
            outputs = None
            if monitor_evaluation_cost or monitor_evaluation_accuracy:
                outputs = _outputs(engine, evaluation[0])
            if monitor_evaluation_cost:
                cost = self._book_cost(outputs, evaluation[1], lmbda)
                evaluation_cost.append(cost)
                print("Cost on evaluation data: {}".format(cost))
            if monitor_evaluation_accuracy:
                accuracy = _correct(outputs, evaluation[1])
                evaluation_accuracy.append(accuracy)
                print("Accuracy on evaluation data: {} / {}".format(accuracy, n_data))
            if monitor_weights:
                self._report_weights(j)
            if early_stopping_n > 0:
                if accuracy > best_accuracy:
                    best_accuracy = accuracy
                    no_accuracy_change = 0
                else:
                    no_accuracy_change += 1
                if no_accuracy_change == early_stopping_n:
                    return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    def _regularizer(self, regularization, lmbda) -> Regularizer:
        if isinstance(regularization, Regularizer):
            return regularization
        if regularization not in REGULARIZATIONS:
            raise ValueError(
                f"unknown regularization {regularization!r}: choose one of "
                f"{', '.join(REGULARIZATIONS)}, or pass an nnreg regularizer object"
            )
        return make_regularizer(REGULARIZATIONS[regularization], lmbda)

    def _report_weights(self, epoch):
        statistics = []
        for layer, w in enumerate(self.weights, start=1):
            row = {
                "epoch": epoch,
                "layer": layer,
                "l2_norm": float(np.linalg.norm(w)),
                "rms": float(np.sqrt(np.mean(w * w))),
                "max_abs": float(np.abs(w).max()),
                "fraction_zero": float(np.mean(w == 0)),
            }
            statistics.append(row)
            print(
                "Layer {layer} weights: L2 norm {l2_norm:.4f}, RMS {rms:.5f} (1/sqrt(n_in) = "
                "{ref:.5f}), max |w| {max_abs:.4f}, exactly zero {fraction_zero:.2%}".format(
                    ref=1 / np.sqrt(w.shape[1]), **row
                )
            )
        self.weight_statistics.append(statistics)

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One gradient step on ``mini_batch`` (a list of (x, y)), the whole batch at once:
        w ← (1 − ηλ/n)·w − (η/m)·Σ∇C_x, b ← b − (η/m)·Σ∇C_x."""
        mini_batch = list(mini_batch)
        inputs, targets = _stack(mini_batch, self.sizes[-1], one_hot=True)
        engine = self._engine()
        regularizer = make_regularizer("l2", lmbda)
        state = TrainingState({}, {}, None)
        training_step(engine, inputs, targets, _SGD(eta), regularizer, n, state)

    def backprop(self, x, y):
        """(∇_b C_x, ∇_w C_x) for one example, layer by layer, in the book's shapes."""
        engine = self._engine()
        x = np.asarray(x, dtype=np.float64).reshape(1, -1)
        y = np.asarray(y, dtype=np.float64).reshape(1, -1)
        weight_grads, bias_grads = engine.gradients(x, y)
        return [g.reshape(-1, 1) for g in bias_grads], weight_grads

    def accuracy(self, data, convert=False):
        """How many inputs of ``data`` the network classifies right. ``convert=False`` for
        integer labels (validation/test data), ``True`` for one-hot labels (training data)."""
        data = list(data)
        if not data:
            return 0
        inputs, targets, _ = _examples(data, self.sizes[-1], one_hot=convert)
        return _correct(_outputs(self._engine(), inputs), targets)

    def total_cost(self, data, lmbda, convert=False):
        """The book's total cost: Σ_x C_x/len(data) + ½(λ/len(data))·Σ‖w‖².

        ``convert=True`` for integer labels. Known quirk, kept for compatibility: the
        penalty is divided by the size of *this* data set, not of the training set, so the
        same weights give a different penalty on validation and on training data. nnreg's
        own monitors report data cost and penalty apart, always with the training n.
        """
        data = list(data)
        inputs, targets, _ = _examples(data, self.sizes[-1], one_hot=not convert)
        return self._book_cost(_outputs(self._engine(), inputs), targets, lmbda)

    def _book_cost(self, outputs, targets, lmbda):
        """The book's total cost of outputs (one example per row) against targets."""
        cost = self.cost.fn(outputs.T, targets.T) / len(outputs)
        cost += 0.5 * (lmbda / len(outputs)) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        return cost

    def save(self, filename):
        """Save the network to ``filename`` in the book's JSON format."""
        data = {
            "sizes": self.sizes,
            "weights": [w.tolist() for w in self.weights],
            "biases": [b.tolist() for b in self.biases],
            "cost": str(self.cost.__name__),
        }
        with open(filename, "w") as f:
            json.dump(data, f)


#### Loading a Network
def load(filename):
    """Load a network saved by :meth:`Network.save` (or by the book's own code).

    The cost is looked up by name in a fixed table (``QuadraticCost``,
    ``CrossEntropyCost``): a file cannot make this call anything else.
    """
    try:
        with open(filename) as f:
            data = json.load(f)
        cost = COSTS.get(data["cost"]) if isinstance(data.get("cost"), str) else None
        if cost is None:
            raise ValueError(
                f"unknown cost {data.get('cost')!r}: expected one of {', '.join(COSTS)}"
            )
        sizes = check_sizes(data["sizes"])
        weights = [np.array(w, dtype=np.float64) for w in data["weights"]]
        biases = [np.array(b, dtype=np.float64) for b in data["biases"]]
    except (
        json.JSONDecodeError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
        OverflowError,
    ) as error:
        raise ValueError(f"{filename} is not a saved network2 file: {error!r}") from None
    except ValueError as error:
        raise ValueError(f"{filename} is not a saved network2 file: {error}") from None
    # Check the declared sizes against the arrays the file holds before building anything,
    # so a lying header cannot make us allocate more than the file contains.
    expected_w = [(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
    if (
        len(sizes) < 2
        or min(sizes) < 1
        or [w.shape for w in weights] != expected_w
        or [b.shape for b in biases] != [(y, 1) for y in sizes[1:]]
    ):
        raise ValueError(f"{filename}: weight or bias shapes do not match sizes {sizes}")
    net = Network(sizes, cost=cost)
    if not all(np.all(np.isfinite(p)) for p in weights + biases):
        raise ValueError(f"{filename}: contains non-finite weights or biases")
    net.weights, net.biases = weights, biases
    return net


#### Miscellaneous functions
def vectorized_result(j):
    """A (10, 1) unit vector with 1.0 in position j: a digit as the desired output."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


def sigmoid(z):
    """The sigmoid function."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function."""
    return sigmoid(z) * (1 - sigmoid(z))


class ExampleList(list):
    """A list of (x, y) pairs that also holds them as two matrices, one example per row.

    ``mnist_loader.load_data_wrapper`` returns these, so that ``SGD`` can use the matrices
    instead of copying 50,000 columns at each call. It is an ordinary list otherwise; if
    its pairs are changed, ``SGD`` notices and copies them as usual.
    """

    def __init__(
        self,
        pairs,
        inputs: np.ndarray,
        targets: np.ndarray,
        codes: np.ndarray | None = None,
        divisor: float = 1.0,
    ) -> None:
        super().__init__(pairs)
        self.inputs, self.targets = inputs, targets
        # accepted for compatibility, no longer used: SGD gathers from ``inputs``, which
        # sees any change made to a column in place (integer codes would not)
        self.codes, self.divisor = codes, divisor
        self._original = tuple(self)

    def unchanged(self) -> bool:
        return len(self) == len(self._original) and all(
            a is b for a, b in zip(self, self._original)
        )


def _outputs(engine, inputs) -> np.ndarray:
    """The network's outputs for every row of ``inputs``, computed a block of rows at a
    time (the same numbers as all at once) so memory stays bounded on large data sets."""
    if len(inputs) <= BLOCK:
        return engine.feedforward(inputs)
    return np.concatenate(
        [
            engine.feedforward(inputs[start : start + BLOCK])
            for start in range(0, len(inputs), BLOCK)
        ]
    )


def _correct(outputs, targets) -> int:
    """How many rows of ``outputs`` have their largest value where ``targets`` has its."""
    return int(np.sum(np.argmax(outputs, axis=1) == np.argmax(targets, axis=1)))


def _examples(data, outputs: int, one_hot: bool):
    """(inputs, targets, located): ``data``'s pairs (x, y) as a matrix of inputs, one
    example per row, and a matrix of one-hot targets. When the x are rows of a matrix the
    loader registered (see :mod:`nnreg.example_rows`), ``located`` says where, and the
    inputs are that matrix (a view, in order) or a gather of its rows; else they are
    stacked (and ``located`` is None)."""
    if isinstance(data, ExampleList) and data.unchanged():
        # its own matrices (and bytes), as a caller built them
        located = example_rows.Rows(data.inputs, np.arange(len(data)), True)
        return data.inputs, data.targets if one_hot else _one_hot(data, outputs), located
    try:
        located = example_rows.find_rows([x for x, _ in data])
    except (TypeError, ValueError):
        located = None
    if located is None:
        return (*_stack(data, outputs, one_hot), None)
    if one_hot:
        found = example_rows.find_rows([y for _, y in data])
        targets = found.inputs() if found is not None else _stack(data, outputs, True)[1]
    else:
        targets = _one_hot(data, outputs)
    return located.inputs(), targets, located


def _one_hot(data, outputs: int) -> np.ndarray:
    try:
        labels = np.array([y for _, y in data], dtype=np.int64)
        targets = np.zeros((len(data), outputs))
        targets[np.arange(len(data)), labels] = 1.0
    except (ValueError, TypeError, IndexError) as error:
        raise ValueError(
            "data must be a list of (x, y) pairs with y an integer label here, as the book's "
            f"mnist_loader gives for validation and test data: {error}"
        ) from None
    return targets


def _stack(data, outputs: int, one_hot: bool):
    """Examples (x, y) as a matrix of inputs (rows) and a matrix of one-hot targets."""
    if isinstance(data, ExampleList) and one_hot and data.unchanged():
        return data.inputs, data.targets
    try:
        # np.array on a list of equal-shape arrays copies in C, with no per-example call
        inputs = np.array([x for x, _ in data], dtype=np.float64).reshape(len(data), -1)
        if one_hot:
            targets = np.array([y for _, y in data], dtype=np.float64).reshape(len(data), -1)
        else:
            targets = np.zeros((len(data), outputs))
            targets[np.arange(len(data)), np.array([y for _, y in data], dtype=np.int64)] = 1.0
    except (ValueError, TypeError, IndexError) as error:
        raise ValueError(
            "data must be a list of (x, y) pairs with x an (n_in, 1) array and y a one-hot "
            f"(n_out, 1) array or an integer label, as the book's mnist_loader gives: {error}"
        ) from None
    return inputs, targets


__all__ = [
    "CrossEntropyCost",
    "Network",
    "QuadraticCost",
    "load",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
]
