"""Vectorized, one example per row: the weight gradient is summed over the batch (no / m)
while the bias gradient is averaged, and the update uses both as if averaged.

expect: exit=1 mistakes=gradient-not-averaged
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class MLP:
    def __init__(self, sizes):
        rng = np.random.default_rng(0)
        self.weights = [
            rng.normal(0, 1 / np.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [np.zeros(b) for b in sizes[1:]]

    def backprop(self, X, Y):
        acts = [X]
        for W, b in zip(self.weights, self.biases):
            acts.append(sigmoid(acts[-1] @ W + b))
        delta = acts[-1] - Y
        grads_W, grads_b = [None] * len(self.weights), [None] * len(self.weights)
        for l in reversed(range(len(self.weights))):
            grads_W[l] = acts[l].T @ delta
            grads_b[l] = delta.mean(axis=0)
            if l:
                delta = (delta @ self.weights[l].T) * acts[l] * (1 - acts[l])
        return grads_b, grads_W

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.array([x.ravel() for x, _ in mini_batch])
        Y = np.array([y.ravel() for _, y in mini_batch])
        grads_b, grads_W = self.backprop(X, Y)
        for l in range(len(self.weights)):
            self.weights[l] -= eta * (grads_W[l] + (lmbda / n) * self.weights[l])
            self.biases[l] -= eta * grads_b[l]
