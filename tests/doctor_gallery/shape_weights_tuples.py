"""`self.weights` and `self.biases` kept as tuples (rebuilt by each update, never changed
in place). Correct L2.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.weights = tuple(
            np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])
        )
        self.biases = tuple(np.random.randn(y, 1) for y in sizes[1:])

    def backprop(self, x, y):
        activations = [x]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        delta = activations[-1] - y
        nabla_w, nabla_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, delta @ activations[layer].T)
            nabla_b.insert(0, delta)
            if layer > 0:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1 - a)
        return tuple(nabla_b), tuple(nabla_w)

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = tuple(np.zeros(b.shape) for b in self.biases)
        nabla_w = tuple(np.zeros(w.shape) for w in self.weights)
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = tuple(nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b))
            nabla_w = tuple(nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w))
        m = len(mini_batch)
        self.weights = tuple(
            (1 - eta * (lmbda / n)) * w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)
        )
        self.biases = tuple(b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b))
