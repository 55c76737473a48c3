"""``nnreg.network2`` against the book's per-example ``network2.py`` (tests/book_network2.py)."""

import json
import random
import re

import book_network2 as book
import numpy as np
import pytest

import nnreg.network2 as network2
from nnreg import mnist_loader


@pytest.fixture(scope="module")
def wrapped(mnist_folder):
    return mnist_loader.load_data_wrapper(mnist_folder.parent)


def twin_networks(seed=3, sizes=(784, 30, 10), cost="CrossEntropyCost"):
    """The same initial network from both modules: both draw from np.random's global state."""
    np.random.seed(seed)
    ours = network2.Network(list(sizes), cost=getattr(network2, cost))
    np.random.seed(seed)
    theirs = book.Network(list(sizes), cost=getattr(book, cost))
    return ours, theirs


def numbers(text):
    return [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)]


@pytest.mark.parametrize("cost", ["CrossEntropyCost", "QuadraticCost"])
def test_sgd_matches_the_books_per_example_code_after_two_epochs(wrapped, capsys, cost):
    training, validation = wrapped[0][:1000], wrapped[1][:300]
    ours, theirs = twin_networks(cost=cost)
    options = dict(
        lmbda=5.0,
        evaluation_data=validation,
        monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True,
        monitor_training_cost=True,
        monitor_training_accuracy=True,
    )
    random.seed(7)
    our_result = ours.SGD(training, 2, 10, 0.5, **options)
    our_output = capsys.readouterr().out
    random.seed(7)
    their_result = theirs.SGD(training, 2, 10, 0.5, **options)
    their_output = capsys.readouterr().out
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    for a, b in zip(our_result, their_result):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert [type(x) for x in our_result[1]] == [int, int]  # accuracies are counts
    # the same printed lines, numbers equal to print precision
    our_lines, their_lines = our_output.splitlines(), their_output.splitlines()
    assert [re.sub(r"[\d.e-]+", "#", line) for line in our_lines] == [
        re.sub(r"[\d.e-]+", "#", line) for line in their_lines
    ]
    np.testing.assert_allclose(numbers(our_output), numbers(their_output), rtol=1e-9)


def test_early_stopping_stops_at_the_same_epoch_as_the_book(wrapped, capsys):
    training, validation = wrapped[0][:300], wrapped[1][:100]
    ours, theirs = twin_networks(seed=1)
    random.seed(2)
    a = ours.SGD(
        training,
        30,
        10,
        0.5,
        lmbda=0.1,
        evaluation_data=validation,
        monitor_evaluation_accuracy=True,
        early_stopping_n=2,
    )
    random.seed(2)
    b = theirs.SGD(
        training,
        30,
        10,
        0.5,
        lmbda=0.1,
        evaluation_data=validation,
        monitor_evaluation_accuracy=True,
        early_stopping_n=2,
    )
    assert a[1] == b[1] and len(a[1]) < 30


def test_per_example_methods_match_the_book(wrapped):
    ours, theirs = twin_networks()
    x, y = wrapped[0][0]
    np.testing.assert_allclose(ours.feedforward(x), theirs.feedforward(x), rtol=1e-12)
    for a, b in zip(ours.backprop(x, y), theirs.backprop(x, y)):
        for p, q in zip(a, b):
            assert p.shape == q.shape
            np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-14)
    data = wrapped[1][:200]
    assert ours.accuracy(data) == theirs.accuracy(data)
    assert ours.accuracy(wrapped[0][:200], convert=True) == theirs.accuracy(
        wrapped[0][:200], convert=True
    )
    assert ours.total_cost(data, 5.0, convert=True) == pytest.approx(
        theirs.total_cost(data, 5.0, convert=True), rel=1e-12
    )
    batch = wrapped[0][:10]
    ours.update_mini_batch(batch, 0.5, 5.0, 50_000)
    theirs.update_mini_batch(batch, 0.5, 5.0, 50_000)
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_total_cost_keeps_the_books_len_data_quirk(wrapped):
    ours, _ = twin_networks()
    small, large = wrapped[1][:100], wrapped[1][:1000]
    squares = sum(np.sum(w * w) for w in ours.weights)
    penalty_small = ours.total_cost(small, 5.0, convert=True) - ours.total_cost(small, 0.0, True)
    penalty_large = ours.total_cost(large, 5.0, convert=True) - ours.total_cost(large, 0.0, True)
    assert penalty_small == pytest.approx(0.5 * 5.0 / 100 * squares)
    assert penalty_large == pytest.approx(0.5 * 5.0 / 1000 * squares)


def test_save_and_load_are_interchangeable_with_the_books_files(tmp_path):
    ours, theirs = twin_networks(sizes=(5, 4, 3), cost="QuadraticCost")
    ours.save(tmp_path / "ours.json")
    theirs.save(tmp_path / "theirs.json")
    assert json.loads((tmp_path / "ours.json").read_text()) == json.loads(
        (tmp_path / "theirs.json").read_text()
    )
    loaded_by_book = book.load(tmp_path / "ours.json")
    loaded_by_us = network2.load(tmp_path / "theirs.json")
    assert loaded_by_us.cost is network2.QuadraticCost
    for a, b in zip(
        loaded_by_us.weights + loaded_by_us.biases, loaded_by_book.weights + loaded_by_book.biases
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "system"}',
            "unknown cost 'system'",
        ),
        (
            '{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "__class__"}',
            "unknown cost",
        ),
        (
            '{"sizes": [2, 1], "weights": [[[1, 2, 3]]], "biases": [[[0]]], '
            '"cost": "CrossEntropyCost"}',
            "shapes do not match",
        ),
        (
            '{"sizes": [2, 1], "weights": [[[1, NaN]]], "biases": [[[0]]], '
            '"cost": "CrossEntropyCost"}',
            "non-finite",
        ),
        ('{"sizes": [2, 1]}', "not a saved network2 file"),
        ("not json at all", "not a saved network2 file"),
        ("[1, 2, 3]", "not a saved network2 file"),
    ],
)
def test_load_rejects_malformed_files_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "net.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        network2.load(path)


def test_regularization_keyword_reaches_the_engine(wrapped, capsys):
    np.random.seed(0)
    random.seed(0)
    net = network2.Network([784, 30, 10])
    net.SGD(
        wrapped[0][:2000],
        2,
        10,
        0.5,
        lmbda=200.0,
        regularization="L1-proximal",
        monitor_weights=True,
    )
    output = capsys.readouterr().out
    assert np.mean(net.weights[0] == 0) > 0.5
    assert "Layer 1 weights: L2 norm" in output and "exactly zero" in output
    assert len(net.weight_statistics) == 2 and net.weight_statistics[-1][0]["fraction_zero"] > 0.5
    with pytest.raises(ValueError, match="unknown regularization 'L3'"):
        net.SGD(wrapped[0][:20], 1, 10, 0.5, regularization="L3")


def test_mnist_loader_gives_the_books_formats(wrapped, mnist_folder):
    training, validation, test = wrapped
    assert (len(training), len(validation), len(test)) == (50_000, 10_000, 10_000)
    x, y = training[0]
    assert x.shape == (784, 1) and y.shape == (10, 1) and y.sum() == 1.0
    x, label = validation[0]
    assert x.shape == (784, 1) and isinstance(label, int)
    assert len(list(test)) == 10_000  # a list: iterable as often as needed
    raw = mnist_loader.load_data(mnist_folder.parent)
    assert raw[0][0].shape == (50_000, 784) and raw[0][0].dtype == np.float32
    assert raw[2][1].dtype == np.int64


class ScaledCrossEntropyCost:
    """A learner's own cost class, in the book's style: cross-entropy times 2."""

    @staticmethod
    def fn(a, y):
        return 2 * np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return 2 * (a - y)


def test_a_learners_own_cost_class_works_like_in_the_book(wrapped):
    np.random.seed(4)
    ours = network2.Network([784, 10, 10], cost=ScaledCrossEntropyCost)
    np.random.seed(4)
    theirs = book.Network([784, 10, 10], cost=ScaledCrossEntropyCost)
    batch = wrapped[0][:10]
    ours.update_mini_batch(batch, 0.5, 5.0, 50_000)
    theirs.update_mini_batch(batch, 0.5, 5.0, 50_000)
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    data = wrapped[1][:50]
    assert ours.total_cost(data, 5.0, convert=True) == pytest.approx(
        theirs.total_cost(data, 5.0, convert=True), rel=1e-12
    )


def test_sgd_gathers_from_the_loaders_matrix_without_copying_and_sees_changes(
    wrapped, capsys, monkeypatch
):
    """SGD gathers its mini-batches from the loader's matrix (a view: the list's columns
    are its rows), through the loader's list or a plain list of its pairs, and trains
    exactly as from a list of copies; a column changed in place is seen."""
    training = list(wrapped[0])[:3000]
    sources = []

    class RecordingGatherer(network2.BatchGatherer):
        def __init__(self, inputs, *rest):
            sources.append(inputs)
            super().__init__(inputs, *rest)

    monkeypatch.setattr(network2, "BatchGatherer", RecordingGatherer)
    results = []
    for data in (training, [(x.copy(), y.copy()) for x, y in training]):
        ours, _ = twin_networks()
        random.seed(5)
        ours.SGD(data, 2, 10, 0.5, lmbda=5.0)
        results.append(ours.weights + ours.biases)
    assert np.shares_memory(sources[0], training[0][0]) and sources[0].dtype == np.float64
    assert not np.shares_memory(sources[1], training[0][0])
    for from_the_loader, from_copies in zip(*results):
        assert np.array_equal(from_the_loader, from_copies)
    # a learner's in-place change to a column is trained on, as with the book's code
    changed = [(x.copy(), y) for x, y in list(wrapped[0])[:200]]
    loader_pairs = list(wrapped[0])[:200]
    original = loader_pairs[0][0].copy()
    try:
        loader_pairs[0][0][:] = 0.5
        changed[0][0][:] = 0.5
        finals = []
        for data in (loader_pairs, changed):
            ours, _ = twin_networks()
            random.seed(5)
            ours.SGD(data, 1, 10, 0.5, lmbda=5.0)
            finals.append(ours.weights[0])
        assert np.array_equal(*finals)
    finally:
        loader_pairs[0][0][:] = original
    capsys.readouterr()
