"""nnreg's L2 SGD step against PyTorch's ``torch.optim.SGD(weight_decay=λ/n)``.

This is the README's conversion rule, checked: nnreg's λ with training-set size n is
PyTorch's ``weight_decay = λ/n`` on a parameter group holding the weights only.
"""

import numpy as np
import pytest

import nnreg
from nnreg.training import TrainingState, training_step

torch = pytest.importorskip("torch")


def torch_model(network):
    layers = []
    for w, b in zip(network.weights, network.biases):
        linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers[:-1])  # logits out; the loss applies the sigmoid


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_sgd_steps_match_torch_sgd_with_weight_decay_lambda_over_n(momentum):
    rng = np.random.default_rng(0)
    eta, lmbda, n, m = 0.5, 5.0, 1000, 10
    network = nnreg.Network([8, 6, 4], rng=rng)
    model = torch_model(network)
    weights = [layer.weight for layer in model if isinstance(layer, torch.nn.Linear)]
    biases = [layer.bias for layer in model if isinstance(layer, torch.nn.Linear)]
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": lmbda / n}, {"params": biases, "weight_decay": 0.0}],
        lr=eta,
        momentum=momentum,
    )
    ours = nnreg.make_optimizer(eta, momentum)
    regularizer = nnreg.L2(lmbda)
    state = TrainingState(
        ours.init_state(network.weights + network.biases),
        regularizer.init_state(network.weights, network.biases),
        rng,
    )
    for _ in range(3):
        inputs = rng.normal(size=(m, 8))
        targets = np.eye(4)[rng.integers(0, 4, size=m)]
        training_step(network, inputs, targets, ours, regularizer, n, state)
        optimizer.zero_grad()
        # Cross-entropy on sigmoid outputs, summed over output units, mean over the batch.
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(
                model(torch.from_numpy(inputs)), torch.from_numpy(targets), reduction="sum"
            )
            / m
        )
        loss.backward()
        optimizer.step()
    for ours_w, theirs in zip(network.weights + network.biases, weights + biases):
        np.testing.assert_allclose(ours_w, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
