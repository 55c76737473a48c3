"""With ``--run`` each consequence is put in numbers for the script's own η, λ, n and m (as its
first update was called), not the book's η = 0.5, λ = 5, n = 50,000, m = 10; without a run,
for the book's."""

import json
import re
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.doctor.formulas import SETTING
from nnreg.doctor.roles import bind
from nnreg.doctor.setting import (
    completed,
    example_count,
    recorded_setting,
    role_values,
    setting_text,
)

# A learner's network in the book's shape, with the λ/m mistake, trained on 200 examples
SCRIPT = textwrap.dedent(
    """
    import numpy as np

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    class Network:
        def __init__(self, sizes):
            rng = np.random.default_rng(1)
            self.sizes = sizes
            self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
            self.weights = [rng.standard_normal((y, x)) / np.sqrt(x)
                            for x, y in zip(sizes[:-1], sizes[1:])]

        def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda):
            for epoch in range(epochs):
                for k in range(0, len(training_data), mini_batch_size):
                    self.update_mini_batch(training_data[k:k + mini_batch_size], eta, lmbda)

        def update_mini_batch(self, mini_batch, eta, lmbda):
            nabla_b = [np.zeros(b.shape) for b in self.biases]
            nabla_w = [np.zeros(w.shape) for w in self.weights]
            for x, y in mini_batch:
                db, dw = self.backprop(x, y)
                nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
                nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
            m = len(mini_batch)
            self.weights = [(1 - eta * lmbda / m) * w - (eta / m) * nw
                            for w, nw in zip(self.weights, nabla_w)]
            self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]

        def backprop(self, x, y):
            activation, activations, zs = x, [x], []
            for b, w in zip(self.biases, self.weights):
                z = w @ activation + b
                zs.append(z)
                activation = sigmoid(z)
                activations.append(activation)
            delta = activations[-1] - y
            db = [None] * len(self.weights)
            dw = [None] * len(self.weights)
            db[-1], dw[-1] = delta, delta @ activations[-2].T
            for layer in range(2, len(self.sizes)):
                s = sigmoid(zs[-layer])
                delta = (self.weights[-layer + 1].T @ delta) * s * (1 - s)
                db[-layer], dw[-layer] = delta, delta @ activations[-layer - 1].T
            return db, dw

    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        data = [(rng.random((8, 1)), np.eye(3)[:, [i % 3]]) for i in range(200)]
        Network([8, 5, 3]).SGD(data, 30, 8, 0.25, 3.0)
    """
)


def doctor(*arguments):
    return CliRunner().invoke(main, ["doctor", *map(str, arguments)])


def lambda_over_m(report: dict) -> dict:
    return next(f for f in report["findings"] if f["code"] == "lambda-over-m")


def test_a_run_puts_the_consequence_in_numbers_for_the_scripts_own_setting(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = doctor("--run", script, "--json")
    assert result.exit_code == 1, result.output
    consequence = lambda_over_m(json.loads(result.output))["consequence"]
    assert "for your η = 0.25, λ = 3, n = 200, m = 8" in consequence
    assert "50,000" not in consequence
    eta, lmbda, n, m = 0.25, 3.0, 200, 8
    assert f"about {n / m:,.0f}× faster" in consequence  # (ηλ/m) / (ηλ/n) = n/m
    per_epoch = float(re.search(r"multiplies them by ([\d.e+-]+)", consequence).group(1))
    assert per_epoch == pytest.approx((1 - eta * lmbda / m) ** (n / m), rel=1e-2)


def test_without_a_run_the_consequence_is_for_the_books_setting(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = doctor(script, "--json")
    assert result.exit_code == 1, result.output
    consequence = lambda_over_m(json.loads(result.output))["consequence"]
    assert SETTING in consequence
    assert "about 5,000× faster" in consequence  # n/m = 50,000/10


def test_the_setting_of_a_step_comes_from_its_arguments_and_its_mini_batch():
    def update(mini_batch, eta, lmbda, n):
        pass

    binding = bind(update)
    arguments = {"mini_batch": [(1, 2)] * 10, "eta": 0.1, "lmbda": 2, "n": 300}
    own = role_values(binding, arguments, {})
    count = example_count(binding, arguments)
    assert recorded_setting("step", False, own, count, []) == {
        "eta": 0.1, "lmbda": 2.0, "n": 300.0, "m": 10.0
    }  # fmt: skip


def test_a_step_without_n_takes_the_enclosing_loops_training_set_size():
    def step(X, Y, lr, lam):
        pass

    binding = bind(step)
    x, y = np.zeros((16, 7)), np.zeros((16, 3))  # 16 examples in rows
    own = role_values(binding, {"X": x, "Y": y, "lr": 0.5, "lam": 1.0}, {})
    count = example_count(binding, {"X": x, "Y": y})
    setting = recorded_setting("step", False, own, count, [{"examples": 1234.0, "eta": 9.0}])
    assert setting == {"eta": 0.5, "lmbda": 1.0, "n": 1234.0, "m": 16.0}


def test_examples_in_columns_are_counted_along_the_columns():
    def step(X, Y, lr, lam):
        pass

    binding = bind(step)
    x, y = np.zeros((64, 25)), np.zeros((10, 25))  # Coursera's layout: one example per column
    assert example_count(binding, {"X": x, "Y": y}) == 25


def test_a_full_batch_training_loop_has_m_equal_to_n():
    def model(X, Y, learning_rate, lambd, num_iterations):
        pass

    binding = bind(model)
    x, y = np.zeros((5, 40)), np.zeros((1, 40))
    arguments = {"X": x, "Y": y, "learning_rate": 0.3, "lambd": 0.7, "num_iterations": 100}
    own = role_values(binding, arguments, {})
    setting = recorded_setting("epoch", True, own, example_count(binding, arguments), [])
    assert setting == {"eta": 0.3, "lmbda": 0.7, "n": 40.0, "m": 40.0}


def test_attributes_are_read_as_they_were_at_the_call():
    class Net:
        def step(self, batch):
            pass

    net = Net()
    net.lr, net.lmbda = 0.2, 4.0
    binding = bind(net.step, net)
    own = role_values(binding, {"batch": [0] * 5}, {"lr": 0.2, "lmbda": 4.0})
    assert own == {"eta": 0.2, "lmbda": 4.0}


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf"), True, "5", None])
def test_a_value_that_is_no_positive_number_is_the_books_and_the_text_says_so(bad):
    def update(mini_batch, eta, lmbda, n):
        pass

    binding = bind(update)
    arguments = {"mini_batch": [0] * 10, "eta": 0.1, "lmbda": bad, "n": 300}
    own = recorded_setting("step", False, role_values(binding, arguments, {}), 10, [])
    assert "lmbda" not in own
    assert completed(own)["lmbda"] == 5.0
    assert setting_text(own) == "for your η = 0.1, n = 300, m = 10, and the book's λ = 5"


def test_an_iterator_is_not_counted_so_it_is_not_used_up():
    def update(mini_batch, eta):
        pass

    batch = iter([1, 2, 3])
    assert example_count(bind(update), {"mini_batch": batch}) is None
    assert list(batch) == [1, 2, 3]


def test_no_setting_found_is_the_books_setting():
    assert setting_text({}) == SETTING
    assert completed({}) == {"eta": 0.5, "lmbda": 5.0, "n": 50_000, "m": 10}
