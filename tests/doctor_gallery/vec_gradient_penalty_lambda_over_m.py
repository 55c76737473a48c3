"""Vectorized, one example per column, as in course notes written for full-batch training:
the gradient method adds (λ/m)·W with m the number of columns — the mini-batch here.

expect: exit=1 mistakes=lambda-over-m notes=penalty-in-gradients
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        rng = np.random.default_rng(0)
        self.weights = [
            rng.normal(0, 1 / np.sqrt(x), (y, x)) for x, y in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [np.zeros((y, 1)) for y in sizes[1:]]

    def backward(self, X, Y, lambd):
        m = X.shape[1]
        A = [X]
        for W, b in zip(self.weights, self.biases):
            A.append(sigmoid(W @ A[-1] + b))
        dZ = A[-1] - Y
        dW, db = [None] * len(self.weights), [None] * len(self.weights)
        for l in reversed(range(len(self.weights))):
            dW[l] = 1.0 / m * dZ @ A[l].T + (lambd / m) * self.weights[l]
            db[l] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
            if l:
                dZ = (self.weights[l].T @ dZ) * A[l] * (1 - A[l])
        return dW, db

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.hstack([x for x, _ in mini_batch])
        Y = np.hstack([y for _, y in mini_batch])
        dW, db = self.backward(X, Y, lmbda)
        for l in range(len(self.weights)):
            self.weights[l] = self.weights[l] - eta * dW[l]
            self.biases[l] = self.biases[l] - eta * db[l]
