"""The network is only its parameters; everything that uses them is a free function."""

import numpy as np


class Network:
    """Weights (n_out, n_in) and biases (n_out, 1) per layer, as in the book."""

    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.weights = [
            rng.standard_normal((y, x)) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def feedforward(network, a):
    for w, b in zip(network.weights, network.biases):
        a = sigmoid(w @ a + b)
    return a
