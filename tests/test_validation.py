"""Bad input raises ``ValueError`` saying what was wrong and what to do, through the public API.

Every case is built on one tiny valid setup (12 random examples, 3 inputs, 2 classes, a
[3, 4, 2] network) with a single thing broken, so the error comes from that thing alone;
``test_tiny_valid_setup_trains`` checks the unbroken setup works.
"""

import math

import numpy as np
import pytest

import nnreg

N_EXAMPLES, N_INPUTS, N_CLASSES = 12, 3, 2
SIZES = (N_INPUTS, 4, N_CLASSES)
NAN, INF = float("nan"), float("inf")


def tiny_inputs(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N_EXAMPLES, N_INPUTS))


def tiny_labels(seed: int = 1) -> np.ndarray:
    labels = np.random.default_rng(seed).integers(0, N_CLASSES, N_EXAMPLES)
    labels[:N_CLASSES] = np.arange(N_CLASSES)  # every class present
    return labels


def inputs_with(value: float, where: tuple[int, int] = (4, 1)) -> np.ndarray:
    inputs = tiny_inputs()
    inputs[where] = value
    return inputs


def labels_with(value, where: int = 5) -> np.ndarray:
    labels = tiny_labels().astype(type(value))
    labels[where] = value
    return labels


def one_hot(labels: np.ndarray, width: int) -> np.ndarray:
    return np.eye(width)[labels]


def train_tiny(
    sizes=SIZES,
    training_data=None,
    epochs=1,
    batch_size=4,
    optimizer=None,
    regularizer=None,
    evaluation_data=None,
    training_set_size=None,
):
    """``nnreg.train`` on the tiny setup, with any argument replaced."""
    network = nnreg.Network(sizes, rng=np.random.default_rng(2))
    if training_data is None:
        training_data = (tiny_inputs(), tiny_labels())
    return nnreg.train(
        network,
        training_data,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer if optimizer is not None else nnreg.SGD(0.1),
        regularizer=regularizer,
        evaluation_data=evaluation_data,
        rng=np.random.default_rng(3),
        training_set_size=training_set_size,
    )


def test_tiny_valid_setup_trains():
    history = train_tiny(
        epochs=2,
        regularizer=nnreg.L2([0.1, 0.2]),
        evaluation_data={"validation": (tiny_inputs(4), tiny_labels(5))},
    )
    assert [record["epoch"] for record in history.records] == [1, 2]
    assert all(
        math.isfinite(history.last[name]["total_cost"]) for name in ("training", "validation")
    )


def test_training_on_digits_works_for_valid_input():
    data = nnreg.load_digits()
    network = nnreg.Network([64, 30, 10], rng=np.random.default_rng(0))
    history = nnreg.train(
        network,
        data["training"],
        epochs=2,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=nnreg.L2(0.1),
        evaluation_data={"test": data["test"]},
        rng=np.random.default_rng(0),
    )
    assert len(history.records) == 2
    assert not any(record["diverged"] for record in history.records)
    assert history.last["test"]["accuracy"] > 0.5
    for name in ("training", "test"):
        costs = history.last[name]
        assert costs["total_cost"] == pytest.approx(costs["data_cost"] + costs["penalty"])


NON_FINITE = r"contains 1 non-finite value\(s\) \(NaN or inf\): clean or drop those examples"

TRAIN_CASES = [
    # sizes that do not match the data
    pytest.param(
        {"sizes": (4, 4, 2)},
        r"training data has 3 input features but the network's input layer has 4 units: "
        r"make sizes\[0\] = 3",
        id="input-width",
    ),
    pytest.param(
        {"sizes": (3, 4, 2), "training_data": nnreg.make_dataset(tiny_inputs(), tiny_labels(), 3)},
        r"training data has targets of length 3 but the network has 2 output units: "
        r"make sizes\[-1\] = 3",
        id="outputs-dataset",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), one_hot(tiny_labels(), 3))},
        r"targets must be labels of shape \(n,\) or vectors of shape \(n, 2\) "
        r"to match the 2 output units, got shape \(12, 3\)",
        id="outputs-one-hot",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), labels_with(5))},
        r"labels run from 0 to 5 but the network has 2 output units: "
        r"make the last layer size at least 6",
        id="label-too-large",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), labels_with(-1))},
        r"labels run from -1 to 1 but the network has 2 output units",
        id="label-negative",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), labels_with(0.5))},
        r"labels must be whole numbers \(class indices\)",
        id="label-fractional",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), tiny_labels()[:-1])},
        r"12 inputs but 11 labels/targets: give one per example",
        id="label-count",
    ),
    pytest.param(
        {"training_data": (tiny_inputs()[:, 0], tiny_labels())},
        r"inputs must be a 2-D array with one example per row, got shape \(12,\); "
        r"reshape images with X.reshape\(len\(X\), -1\)",
        id="inputs-1d",
    ),
    pytest.param(
        {"training_data": (np.zeros((0, 3)), np.zeros(0, dtype=int))},
        r"training data is empty: give at least one example",
        id="no-examples",
    ),
    pytest.param(
        {"training_data": tiny_inputs()},
        r"training data must be a Dataset or a pair \(inputs, labels\)",
        id="not-a-pair",
    ),
    # non-finite data
    pytest.param(
        {"training_data": (inputs_with(NAN), tiny_labels())},
        "training data inputs " + NON_FINITE,
        id="nan-input",
    ),
    pytest.param(
        {"training_data": (inputs_with(INF), tiny_labels())},
        "training data inputs " + NON_FINITE,
        id="inf-input",
    ),
    pytest.param(
        {"training_data": (inputs_with(-INF), tiny_labels())},
        "training data inputs " + NON_FINITE,
        id="minus-inf-input",
    ),
    pytest.param(
        {"training_data": (tiny_inputs(), np.where(one_hot(tiny_labels(), 2) == 1, NAN, 0.0))},
        r"training data targets contains 12 non-finite value\(s\)",
        id="nan-targets",
    ),
    pytest.param(
        {"evaluation_data": {"validation": (inputs_with(NAN), tiny_labels())}},
        "evaluation data 'validation' inputs " + NON_FINITE,
        id="nan-evaluation-input",
    ),
    pytest.param(
        {"evaluation_data": {"validation": (tiny_inputs()[:, :2], tiny_labels())}},
        r"evaluation data 'validation' has 2 input features but the network's input layer "
        r"has 3 units",
        id="evaluation-input-width",
    ),
    pytest.param(
        {"evaluation_data": {"training": (tiny_inputs(), tiny_labels())}},
        r"'training' is reserved for the training data: name evaluation sets otherwise",
        id="evaluation-named-training",
    ),
    # epochs, batch size, n
    *[
        pytest.param(
            {"epochs": epochs},
            rf"epochs must be >= 1, got {epochs}: the number of passes over the data",
            id=f"epochs-{epochs}",
        )
        for epochs in (0, -1)
    ],
    pytest.param({"epochs": 2.5}, r"epochs must be a whole number, got 2.5", id="epochs-2.5"),
    *[
        pytest.param(
            {"batch_size": size},
            rf"batch_size must be >= 1, got {size}: m is the mini-batch size, "
            r"between 1 and the 12 training examples",
            id=f"batch-size-{size}",
        )
        for size in (0, -4)
    ],
    pytest.param(
        {"batch_size": 13},
        r"batch_size must be <= 12, got 13: m is the mini-batch size, "
        r"between 1 and the 12 training examples",
        id="batch-size-above-n",
    ),
    pytest.param(
        {"training_set_size": 0},
        r"training_set_size must be >= 1, got 0: n is the training-set size used in every λ/n",
        id="training-set-size-0",
    ),
    # per-layer λ lists that do not match the 2 weight layers
    pytest.param(
        {"regularizer": nnreg.L2([0.1, 0.1, 0.1])},
        r"lmbda has 3 values but the network has 2 weight layers: "
        r"give one λ for every layer, or a single number for all",
        id="lambda-list-too-long",
    ),
    pytest.param(
        {"regularizer": nnreg.L1([0.1], method="proximal")},
        r"lmbda has 1 values but the network has 2 weight layers",
        id="lambda-list-too-short",
    ),
    pytest.param(
        {"regularizer": nnreg.ElasticNet(0.1, [1.0, 2.0, 3.0])},
        r"l2_lmbda has 3 values but the network has 2 weight layers",
        id="elastic-net-l2-list",
    ),
    pytest.param(
        {"regularizer": nnreg.make_regularizer("decoupled", [0.1, 0.2, 0.3])},
        r"lmbda has 3 values but the network has 2 weight layers",
        id="decoupled-list",
    ),
]


@pytest.mark.parametrize("arguments, message", TRAIN_CASES)
def test_train_rejects_bad_input_with_a_message_saying_what_to_do(arguments, message):
    with pytest.raises(ValueError, match=message):
        train_tiny(**arguments)


LAMBDA_NEGATIVE = r"must be >= 0, got -1: λ is the regularization strength; use 0 for no regular"
LAMBDA_NOT_FINITE = r"must be finite, got (nan|inf): λ is the regularization strength"
ETA = r"eta must be > 0, got {}: η is the learning rate, try 0.1 to 3"
MOMENTUM = r"momentum must be {}, got {}: μ is the momentum coefficient, 0 for none"

CONSTRUCTOR_CASES = [
    # λ < 0 and NaN/inf λ, for every regularizer and through make_regularizer
    pytest.param(lambda: nnreg.L2(-1), "lmbda " + LAMBDA_NEGATIVE, id="l2-negative"),
    pytest.param(lambda: nnreg.L1(-1), "lmbda " + LAMBDA_NEGATIVE, id="l1-negative"),
    pytest.param(
        lambda: nnreg.ElasticNet(-1, 0.1), "l1_lmbda " + LAMBDA_NEGATIVE, id="elastic-l1-negative"
    ),
    pytest.param(
        lambda: nnreg.ElasticNet(0.1, -1), "l2_lmbda " + LAMBDA_NEGATIVE, id="elastic-l2-negative"
    ),
    pytest.param(
        lambda: nnreg.DecoupledWeightDecay(-1), "lmbda " + LAMBDA_NEGATIVE, id="decoupled-negative"
    ),
    pytest.param(lambda: nnreg.L2([0.1, -1]), "lmbda " + LAMBDA_NEGATIVE, id="l2-list-negative"),
    *[
        pytest.param(
            lambda name=name: nnreg.make_regularizer(name, -1),
            LAMBDA_NEGATIVE,
            id=f"make-{name}-negative",
        )
        for name in ("none", "l2", "l1", "l1-proximal", "l1-cumulative", "elastic-net", "decoupled")
    ],
    pytest.param(
        lambda: nnreg.make_regularizer("elastic-net", 0.1, l2_lmbda=-1),
        "l2_lmbda " + LAMBDA_NEGATIVE,
        id="make-elastic-net-l2-negative",
    ),
    pytest.param(lambda: nnreg.L2(NAN), "lmbda " + LAMBDA_NOT_FINITE, id="l2-nan"),
    pytest.param(lambda: nnreg.L1(INF), "lmbda " + LAMBDA_NOT_FINITE, id="l1-inf"),
    pytest.param(lambda: nnreg.L2([0.1, NAN]), "lmbda " + LAMBDA_NOT_FINITE, id="l2-list-nan"),
    pytest.param(
        lambda: nnreg.make_regularizer("l1-proximal", NAN), LAMBDA_NOT_FINITE, id="make-l1-nan"
    ),
    pytest.param(
        lambda: nnreg.L2([]),
        r"lmbda is an empty list: give one λ, or one per weight layer",
        id="l2-empty-list",
    ),
    pytest.param(
        lambda: nnreg.L2("strong"),
        r"lmbda must be a number, got 'strong': λ is the regularization strength",
        id="l2-not-a-number",
    ),
    # η ≤ 0 (and not finite)
    pytest.param(lambda: nnreg.SGD(0), ETA.format("0"), id="sgd-eta-0"),
    pytest.param(lambda: nnreg.SGD(-1), ETA.format("-1"), id="sgd-eta-negative"),
    pytest.param(lambda: nnreg.MomentumSGD(0, 0.9), ETA.format("0"), id="momentum-eta-0"),
    pytest.param(lambda: nnreg.MomentumSGD(-0.5, 0.9), ETA.format("-0.5"), id="momentum-eta-neg"),
    pytest.param(
        lambda: nnreg.SGD(NAN), r"eta must be finite, got nan: η is the learning rate", id="eta-nan"
    ),
    # momentum outside [0, 1)
    pytest.param(lambda: nnreg.MomentumSGD(0.1, 1.0), MOMENTUM.format("< 1", "1"), id="mu-1"),
    pytest.param(lambda: nnreg.MomentumSGD(0.1, 1.5), MOMENTUM.format("< 1", "1.5"), id="mu-1.5"),
    pytest.param(
        lambda: nnreg.MomentumSGD(0.1, -0.1), MOMENTUM.format(">= 0", "-0.1"), id="mu-negative"
    ),
    pytest.param(
        lambda: nnreg.MomentumSGD(0.1, NAN),
        r"momentum must be finite, got nan: μ is the momentum coefficient",
        id="mu-nan",
    ),
    # unknown names
    pytest.param(
        lambda: nnreg.make_regularizer("nonsense", 0.1),
        r"unknown regularizer 'nonsense': choose one of none, l2, l1, l1-proximal, "
        r"l1-cumulative, elastic-net, decoupled",
        id="unknown-regularizer",
    ),
    pytest.param(
        lambda: nnreg.make_regularizer("L2", 0.1),
        r"unknown regularizer 'L2': choose one of",
        id="regularizer-name-is-case-sensitive",
    ),
    pytest.param(
        lambda: nnreg.L1(0.1, method="lasso"),
        r"unknown L1 method 'lasso': choose one of subgradient, proximal, cumulative",
        id="unknown-l1-method",
    ),
    pytest.param(
        lambda: nnreg.Network(SIZES, activation="softplus"),
        r"unknown activation 'softplus': choose one of relu, sigmoid, tanh",
        id="unknown-activation",
    ),
    pytest.param(
        lambda: nnreg.Network(SIZES, cost="hinge"),
        r"unknown cost 'hinge': choose one of quadratic, cross-entropy, log-likelihood",
        id="unknown-cost",
    ),
    pytest.param(
        lambda: nnreg.Network(SIZES, initializer="zeros"),
        r"unknown initializer 'zeros': choose one of default, large",
        id="unknown-initializer",
    ),
    pytest.param(
        lambda: nnreg.Network(SIZES, dtype="float16"),
        r"unknown dtype 'float16': choose one of float64, float32",
        id="unknown-dtype",
    ),
    # malformed sizes
    pytest.param(
        lambda: nnreg.Network([3]),
        r"sizes must list at least two whole numbers \(input and output units\), got \[3\]",
        id="one-layer",
    ),
    pytest.param(
        lambda: nnreg.Network([]), r"sizes must list at least two whole numbers", id="no-layers"
    ),
    pytest.param(
        lambda: nnreg.Network([3, 0, 2]),
        r"every layer needs at least one unit, got sizes \[3, 0, 2\]",
        id="zero-units",
    ),
    pytest.param(
        lambda: nnreg.Network([3, 4, -2]),
        r"every layer needs at least one unit, got sizes \[3, 4, -2\]",
        id="negative-units",
    ),
    pytest.param(
        lambda: nnreg.Network([3, 2.5, 2]),
        r"sizes must list at least two whole numbers \(input and output units\), got \[3, 2.5, 2\]",
        id="fractional-units",
    ),
    pytest.param(
        lambda: nnreg.Network(["three", 2]),
        r"sizes must be a list of integers such as \[784, 30, 10\]",
        id="sizes-not-numbers",
    ),
    # make_dataset on its own
    pytest.param(
        lambda: nnreg.make_dataset(inputs_with(NAN), tiny_labels(), N_CLASSES, "data"),
        "data inputs " + NON_FINITE,
        id="make-dataset-nan",
    ),
    pytest.param(
        lambda: nnreg.make_dataset(tiny_inputs(), labels_with(2), N_CLASSES, "data"),
        r"data: labels run from 0 to 2 but the network has 2 output units: "
        r"make the last layer size at least 3",
        id="make-dataset-label-range",
    ),
    pytest.param(
        lambda: nnreg.make_dataset(tiny_inputs().astype(str), tiny_labels(), N_CLASSES, "data"),
        r"data: inputs must be real numbers, got dtype <U",
        id="make-dataset-strings",
    ),
]


@pytest.mark.parametrize("build, message", CONSTRUCTOR_CASES)
def test_constructors_reject_bad_arguments_with_a_message_saying_what_to_do(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("eta", [0.1, 3.0])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.999])
def test_momentum_in_zero_one_and_positive_eta_are_accepted(eta, momentum):
    optimizer = nnreg.MomentumSGD(eta, momentum)
    assert optimizer.config() == {"name": "momentum", "learning_rate": eta, "momentum": momentum}


@pytest.mark.parametrize(
    "name", ["none", "l2", "l1", "l1-proximal", "l1-cumulative", "elastic-net", "decoupled"]
)
def test_every_regularizer_accepts_zero_lambda_and_per_layer_lists(name):
    assert isinstance(nnreg.make_regularizer(name, 0.0), nnreg.Regularizer)
    train_tiny(regularizer=nnreg.make_regularizer(name, [0.0, 0.5]))


@pytest.mark.parametrize(
    "layers, message",
    [
        ([1, 1], "names weight layer 1 more than once"),
        ([2, 1, 2], "names weight layer 2 more than once"),
        ([1.5], "must be a whole number, got 1.5"),
        ([0], "must be >= 1"),
        ([], "is an empty list"),
        ("12", "must be a list of weight layer numbers"),
    ],
)
def test_a_layers_mask_names_each_weight_layer_once(layers, message):
    with pytest.raises(ValueError, match=message):
        nnreg.L1(1.0, layers=layers)


def test_reg_layers_with_a_repeat_is_refused_by_the_command(tmp_path):
    from click.testing import CliRunner

    from nnreg.cli import main

    result = CliRunner().invoke(
        main, ["train", "--reg-layers", "1,1", "--out", str(tmp_path / "r"), "--quiet"]
    )
    assert result.exit_code == 2
    assert "--reg-layers: layers names weight layer 1 more than once" in result.output
    assert not (tmp_path / "r").exists()
