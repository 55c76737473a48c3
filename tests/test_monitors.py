import math

import numpy as np
import pytest
from reference import backprop

import nnreg
from nnreg.monitors import GradientShareMonitor, WeightMonitor, weight_statistics
from nnreg.runs import read_run
from nnreg.session import TrainSettings, run_training
from nnreg.training import Callback


class SaveWeights(Callback):
    """Copies of the weights at the end of every epoch, independent of any monitor."""

    def __init__(self, network):
        self.saved = [[w.copy() for w in network.weights]]

    def on_epoch_end(self, record, network):
        self.saved.append([w.copy() for w in network.weights])


@pytest.fixture(scope="module")
def l1_training(digits):
    network = nnreg.Network([64, 20, 10], rng=1)
    saver = SaveWeights(network)
    history = nnreg.train(
        network,
        digits["training"],
        epochs=3,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=nnreg.make_regularizer("l1", 2.0),
        evaluation_data={"test": digits["test"]},
        rng=2,
        callbacks=[saver],
    )
    return history, saver.saved


def test_layer_statistics_equal_direct_computation_from_saved_weights(l1_training):
    history, saved = l1_training
    for epoch, record in enumerate(history.records, start=1):
        for stats, w in zip(record["weights"]["layers"], saved[epoch]):
            assert stats["l1_norm"] == pytest.approx(sum(abs(x) for x in w.ravel()), rel=1e-12)
            assert stats["l2_norm"] == pytest.approx(math.sqrt(sum(x * x for x in w.ravel())))
            assert stats["rms"] == pytest.approx(math.sqrt(np.mean(w**2)))
            assert stats["max_abs"] == pytest.approx(max(abs(x) for x in w.ravel()))
            assert stats["mean"] == pytest.approx(sum(w.ravel()) / w.size)
            assert stats["fraction_zero"] == sum(x == 0 for x in w.ravel()) / w.size
            small = record["weights"]["small"]
            assert stats["fraction_small"] == sum(abs(x) < small for x in w.ravel()) / w.size
            assert stats["reference_rms"] == pytest.approx(1 / math.sqrt(w.shape[1]))


def test_sign_flips_count_weights_whose_sign_differs_between_two_saved_epochs(l1_training):
    history, saved = l1_training
    flips_seen = 0
    for epoch, record in enumerate(history.records, start=1):
        for layer, stats in enumerate(record["weights"]["layers"]):
            before, after = saved[epoch - 1][layer].ravel(), saved[epoch][layer].ravel()
            expected = sum((b > 0 and a < 0) or (b < 0 and a > 0) for b, a in zip(before, after))
            assert stats["sign_flips"] == expected
            flips_seen += expected
    # subgradient L1 at this λ makes small weights cross zero: the count is not trivially 0
    assert flips_seen > 0


def test_whole_network_statistics_pool_all_layers_with_reference_one_over_sqrt_n(l1_training):
    history, saved = l1_training
    record, weights = history.last, saved[-1]
    pooled = np.concatenate([w.ravel() for w in weights])
    assert record["weights"]["count"] == pooled.size == 64 * 20 + 20 * 10
    assert record["weights"]["rms"] == pytest.approx(math.sqrt(np.mean(pooled**2)))
    assert record["weights"]["reference_rms"] == pytest.approx(1 / math.sqrt(pooled.size))
    assert record["weights"]["sign_flips"] == sum(
        s["sign_flips"] for s in record["weights"]["layers"]
    )


def test_weight_statistics_of_a_known_array():
    w = np.array([[0.0, -2.0], [0.0005, 3.0]])
    stats = weight_statistics(w, small=1e-3)
    assert stats == pytest.approx(
        {
            "l1_norm": 5.0005,
            "l2_norm": math.sqrt(13.00000025),
            "rms": math.sqrt(13.00000025 / 4),
            "max_abs": 3.0,
            "mean": 1.0005 / 4,
            "fraction_zero": 0.25,
            "fraction_small": 0.5,
        }
    )


@pytest.mark.parametrize("reg_name", ["l2", "l1", "none"])
def test_gradient_share_compares_penalty_gradient_with_per_example_data_gradient(reg_name, digits):
    network = nnreg.Network([64, 8, 10], rng=4)
    regularizer = nnreg.make_regularizer(reg_name, 3.0) if reg_name != "none" else None
    regularizer = regularizer or nnreg.make_regularizer("none")
    training = digits["training"].head(50)
    n = 1000
    context = nnreg.monitors.EpochContext(network, regularizer, n, {"training": training})
    shares = GradientShareMonitor(sample_size=40).measure(context)["gradient_share"]
    inputs = training.float_inputs()[:40]
    biases = [b.reshape(-1, 1) for b in network.biases]
    per_example = [
        backprop(
            network.weights, biases, x.reshape(-1, 1), y.reshape(-1, 1), "sigmoid", "cross-entropy"
        )[0]
        for x, y in zip(inputs, training.targets[:40])
    ]
    for layer, (share, w) in enumerate(zip(shares, network.weights)):
        data_gradient = np.mean([g[layer] for g in per_example], axis=0)
        penalty_gradient = {"l2": 3.0 / n * w, "l1": 3.0 / n * np.sign(w), "none": 0 * w}[reg_name]
        assert share["data_gradient_norm"] == pytest.approx(np.linalg.norm(data_gradient))
        assert share["penalty_gradient_norm"] == pytest.approx(np.linalg.norm(penalty_gradient))
        assert share["ratio"] == pytest.approx(
            np.linalg.norm(penalty_gradient) / np.linalg.norm(data_gradient)
        )


def test_run_folder_metrics_match_its_saved_parameters(tmp_path):
    result = run_training(
        TrainSettings(epochs=2, reg="l1-proximal", lmbda=5.0), out=tmp_path / "run"
    )
    run = read_run(result.folder)
    assert len(run["metrics"]) == 2
    (initial_weights, _), (final_weights, _) = run["initial_parameters"], run["parameters"]
    last = run["metrics"][-1]["weights"]
    for stats, w in zip(last["layers"], final_weights):
        assert stats["fraction_zero"] == pytest.approx(np.mean(w == 0))
        assert stats["l2_norm"] == pytest.approx(np.linalg.norm(w))
    assert run["metrics"][-1] == result.history.last
    # the initial parameters are the seeded initial network's
    network = nnreg.Network([64, 30, 10], rng=np.random.default_rng(0))
    for saved, fresh in zip(initial_weights, network.weights):
        np.testing.assert_array_equal(saved, fresh)


def test_weight_monitor_without_begin_epoch_reports_no_sign_flips(digits):
    network = nnreg.Network([64, 5, 10], rng=0)
    context = nnreg.monitors.EpochContext(
        network, nnreg.make_regularizer("none"), 100, {"training": digits["training"]}
    )
    record = WeightMonitor().measure(context)["weights"]
    assert record["sign_flips"] is None
    assert all(layer["sign_flips"] is None for layer in record["layers"])
