"""Correct update; the cost divides the penalty by the mini-batch size kept from SGD.

expect: exit=1 mistakes=cost-fixed-scale
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes, mini_batch_size=10):
        self.sizes = sizes
        self.mini_batch_size = mini_batch_size
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(w @ a + b)
        return a

    def backprop(self, x, y):
        zs, activations = [], [x]
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        delta = activations[-1] - y
        nabla_b, nabla_w = [delta], [delta @ activations[-2].T]
        a = activations[1]
        delta = (self.weights[1].T @ delta) * a * (1 - a)
        nabla_b.insert(0, delta)
        nabla_w.insert(0, delta @ activations[0].T)
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        sum_b = [np.zeros(b.shape) for b in self.biases]
        sum_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            db, dw = self.backprop(x, y)
            sum_b = [s + d for s, d in zip(sum_b, db)]
            sum_w = [s + d for s, d in zip(sum_w, dw)]
        k = eta / len(mini_batch)
        self.weights = [(1 - eta * lmbda / n) * w - k * g for w, g in zip(self.weights, sum_w)]
        self.biases = [b - k * g for b, g in zip(self.biases, sum_b)]

    def total_cost(self, data, lmbda):
        cost = sum(
            np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))
            for a, y in ((self.feedforward(x), y) for x, y in data)
        ) / len(data)
        return cost + lmbda / (2 * self.mini_batch_size) * sum((w**2).sum() for w in self.weights)
