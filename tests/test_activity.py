import json

import numpy as np
import pytest
from reference import finite_difference_gradient

import nnreg
from nnreg.activity import ActivityRegularizer
from nnreg.combined import Combined
from nnreg.dropout import Dropout
from nnreg.monitors import CostMonitor, EpochContext
from nnreg.network import Workspace


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("l1, l2", [(0.3, 0.0), (0.0, 0.7), (0.2, 0.5)])
def test_activity_penalty_gradient_matches_finite_differences(activation, l1, l2, rng):
    network = nnreg.Network([4, 6, 5, 3], activation, "cross-entropy", rng=rng)
    inputs = rng.normal(size=(7, 4))
    targets = np.eye(3)[rng.integers(0, 3, size=7)]
    activity = ActivityRegularizer(l1, l2)

    def total_cost():
        weighted_inputs, activations = network.forward(inputs)
        data_cost = np.mean(network.cost.fn(weighted_inputs[-1], activations[-1], targets))
        return data_cost + activity.activation_penalty(activations[1:-1])

    workspace = Workspace(network, 7)
    network.backprop(inputs, targets, workspace, activity, {})
    weight_grads, bias_grads = network.gradients_from(workspace)
    numeric = finite_difference_gradient(total_cost, network.weights + network.biases)
    for ours, theirs in zip(weight_grads + bias_grads, numeric):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)


def test_activity_penalty_is_the_mean_over_examples_of_the_summed_norms():
    a = [np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[1.0], [-3.0]])]
    penalty = ActivityRegularizer(l1=0.1, l2=0.2).activation_penalty(a)
    l1 = 0.5 + 1 + 2 + 1 + 3
    l2 = 0.25 + 1 + 4 + 1 + 9
    assert penalty == pytest.approx((0.1 * l1 + 0.1 * l2) / 2)
    only_second = ActivityRegularizer(l1=1.0, layers=[2]).activation_penalty(a)
    assert only_second == pytest.approx(4 / 2)


def test_cost_monitor_reports_the_activity_penalty_and_adds_it_to_the_total(digits):
    network = nnreg.Network([64, 10, 10], rng=0)
    activity = ActivityRegularizer(l2=0.5)
    context = EpochContext(network, activity, 100, {"test": digits["test"]})
    record = CostMonitor().measure(context)["test"]
    _, activations = network.forward(digits["test"].float_inputs())
    expected = activity.activation_penalty(activations[1:-1])
    assert record["activity_penalty"] == pytest.approx(expected)
    assert record["total_cost"] == pytest.approx(record["data_cost"] + expected)


def test_unknown_hidden_layer_and_negative_strength_are_rejected():
    with pytest.raises(ValueError, match="hidden layer 3"):
        ActivityRegularizer(l1=1.0, layers=[3]).check_layers(3)
    with pytest.raises(ValueError, match="activity l2 must be >= 0"):
        ActivityRegularizer(l2=-1.0)


@pytest.mark.parametrize("activity_first", [True, False], ids=["before-dropout", "after-dropout"])
def test_activity_penalty_with_dropout_matches_finite_differences(activity_first, rng):
    """With ``Combined``, a part sees the activations as the parts before it left them:
    the activity penalty falls on the activations before dropout when it comes first and
    on the dropped ones when it comes after; either way the gradient is that objective's."""
    network = nnreg.Network([4, 6, 5, 3], "sigmoid", "cross-entropy", rng=rng)
    inputs = rng.normal(size=(7, 4))
    targets = np.eye(3)[rng.integers(0, 3, size=7)]
    activity, dropout = ActivityRegularizer(0.3, 0.7), Dropout(0.4, seed=5)
    combined = Combined([activity, dropout] if activity_first else [dropout, activity])
    workspace = Workspace(network, 7)
    network.backprop(inputs, targets, workspace, combined, combined.init_state([], []))
    weight_grads, bias_grads = network.gradients_from(workspace)
    masks = dict(dropout._masks)
    assert set(masks) == {0, 1} and all((mask == 0).any() for mask in masks.values())

    def total_cost():
        a, penalized = inputs, []
        for layer, (w, b) in enumerate(zip(network.weights, network.biases)):
            z = a @ w.T + b
            if layer == network.num_layers - 1:
                data_cost = np.mean(network.cost.fn(z, network.cost.output(z), targets))
                return data_cost + activity.activation_penalty(penalized)
            a = network.activation.fn(z)
            if activity_first:
                penalized.append(a)
            a = a * masks[layer]
            if not activity_first:
                penalized.append(a)

    numeric = finite_difference_gradient(total_cost, network.weights + network.biases)
    for ours, theirs in zip(weight_grads + bias_grads, numeric):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)


def test_nnreg_train_penalizes_the_activations_before_dropout(tmp_path):
    from click.testing import CliRunner

    from nnreg.cli import main

    folder = tmp_path / "run"
    options = ["--dropout", "0.3", "--activity-l1", "1e-3", "--max-norm", "3", "--quiet"]
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--out", str(folder), *options])
    assert result.exit_code == 0, result.output
    parts = json.loads((folder / "config.json").read_text())["regularizer"]["parts"]
    assert [part["name"] for part in parts] == ["l2", "activity", "dropout", "max-norm"]
