"""Vectorized; L2 in the gradient and as a decay.

expect: exit=1 mistakes=penalty-twice
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]

    def backprop(self, X, Y):
        """Gradients summed over the columns (examples) of X."""
        activations = [X]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        delta = activations[-1] - Y
        nabla_w, nabla_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, delta @ activations[layer].T)
            nabla_b.insert(0, delta.sum(axis=1, keepdims=True))
            if layer > 0:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1 - a)
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.hstack([x for x, y in mini_batch])
        Y = np.hstack([y for x, y in mini_batch])
        m = X.shape[1]
        nabla_b, nabla_w = self.backprop(X, Y)
        for i in range(len(self.weights)):
            grad = nabla_w[i] / m + (lmbda / n) * self.weights[i]
            self.weights[i] = (1 - eta * lmbda / n) * self.weights[i] - eta * grad
            self.biases[i] -= (eta / m) * nabla_b[i]
