"""Stochastic gradient descent with L2 regularization, as free functions of a `Network`.

Rule: w ← (1 − ηλ/n)·w − (η/m)·Σ∇C_x, b ← b − (η/m)·Σ∇C_x.
"""

import random

import numpy as np

from mynet.network import feedforward, sigmoid, sigmoid_prime


def backprop(network, x, y):
    """Gradients (nabla_b, nabla_w) of the cross-entropy cost of one example."""
    activation, activations, zs = x, [x], []
    for w, b in zip(network.weights, network.biases):
        zs.append(w @ activation + b)
        activation = sigmoid(zs[-1])
        activations.append(activation)
    nabla_b = [np.zeros(b.shape) for b in network.biases]
    nabla_w = [np.zeros(w.shape) for w in network.weights]
    delta = activations[-1] - y
    nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T
    for l in range(2, len(network.sizes)):
        delta = (network.weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
        nabla_b[-l], nabla_w[-l] = delta, delta @ activations[-l - 1].T
    return nabla_b, nabla_w


def update_mini_batch(network, mini_batch, eta, lmbda, n):
    nabla_b = [np.zeros(b.shape) for b in network.biases]
    nabla_w = [np.zeros(w.shape) for w in network.weights]
    for x, y in mini_batch:
        delta_b, delta_w = backprop(network, x, y)
        nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
        nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
    m = len(mini_batch)
    # derivative of the penalty (λ/2n)·Σw² is (λ/n)·w
    network.weights = [
        (1 - eta * lmbda / n) * w - (eta / m) * nw for w, nw in zip(network.weights, nabla_w)
    ]
    network.biases = [b - (eta / m) * nb for b, nb in zip(network.biases, nabla_b)]


def evaluate(network, test_data):
    return sum(int(np.argmax(feedforward(network, x)) == y) for x, y in test_data)


def sgd(network, training_data, epochs, mini_batch_size, eta, lmbda, test_data=None):
    n = len(training_data)
    for epoch in range(epochs):
        random.shuffle(training_data)
        for k in range(0, n, mini_batch_size):
            update_mini_batch(network, training_data[k : k + mini_batch_size], eta, lmbda, n)
        if test_data:
            print(f"Epoch {epoch}: {evaluate(network, test_data)} / {len(test_data)}")
