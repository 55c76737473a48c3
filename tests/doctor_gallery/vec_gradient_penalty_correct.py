"""Vectorized, one example per column; the L2 term is added inside the gradient method,
with λ/n, and the update subtracts η times the gradient.

expect: exit=0 notes=penalty-in-gradients
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

    def gradients(self, X, Y, lmbda, n):
        m = X.shape[1]
        activations = [X]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        delta = activations[-1] - Y
        grad_w, grad_b = [None] * len(self.weights), [None] * len(self.weights)
        for l in reversed(range(len(self.weights))):
            grad_w[l] = delta @ activations[l].T / m + (lmbda / n) * self.weights[l]
            grad_b[l] = delta.sum(axis=1, keepdims=True) / m
            if l:
                delta = (self.weights[l].T @ delta) * activations[l] * (1 - activations[l])
        return grad_w, grad_b

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.hstack([x for x, _ in mini_batch])
        Y = np.hstack([y for _, y in mini_batch])
        grad_w, grad_b = self.gradients(X, Y, lmbda, n)
        self.weights = [w - eta * gw for w, gw in zip(self.weights, grad_w)]
        self.biases = [b - eta * gb for b, gb in zip(self.biases, grad_b)]
