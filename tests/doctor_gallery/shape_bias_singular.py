"""Biases kept as `self.bias` (singular), weights as `self.weights`; correct L2, with the
book's cost.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.bias = [np.random.randn(y, 1) for y in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights, self.bias):
            a = sigmoid(w @ a + b)
        return a

    def backprop(self, x, y):
        activations = [x]
        for w, b in zip(self.weights, self.bias):
            activations.append(sigmoid(w @ activations[-1] + b))
        delta = activations[-1] - y
        nabla_w, nabla_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, delta @ activations[layer].T)
            nabla_b.insert(0, delta)
            if layer > 0:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1 - a)
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = [np.zeros(b.shape) for b in self.bias]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        m = len(mini_batch)
        self.weights = [
            (1 - eta * (lmbda / n)) * w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)
        ]
        self.bias = [b - (eta / m) * nb for b, nb in zip(self.bias, nabla_b)]

    def total_cost(self, data, lmbda, n):
        cost = 0.0
        for x, y in data:
            a = self.feedforward(x)
            cost += np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))) / len(data)
        return cost + 0.5 * (lmbda / n) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
