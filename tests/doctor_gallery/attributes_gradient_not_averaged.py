"""Parameters as attributes W1, b1, W2, b2; the batch gradient is a sum and the update
forgets to divide it by m.

expect: exit=1 mistakes=gradient-not-averaged
"""

import numpy as np


class Network:
    def __init__(self, sizes):
        self.W1 = np.random.randn(sizes[1], sizes[0]) / np.sqrt(sizes[0])
        self.b1 = np.zeros((sizes[1], 1))
        self.W2 = np.random.randn(sizes[2], sizes[1]) / np.sqrt(sizes[1])
        self.b2 = np.zeros((sizes[2], 1))

    def backprop(self, X, Y):
        H = np.tanh(self.W1 @ X + self.b1)
        A = 1 / (1 + np.exp(-(self.W2 @ H + self.b2)))
        D2 = A - Y
        D1 = (self.W2.T @ D2) * (1 - H**2)
        return D1 @ X.T, D1.sum(axis=1, keepdims=True), D2 @ H.T, D2.sum(axis=1, keepdims=True)

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.hstack([x for x, _ in mini_batch])
        Y = np.hstack([y for _, y in mini_batch])
        dW1, db1, dW2, db2 = self.backprop(X, Y)
        self.W1 = self.W1 * (1 - eta * lmbda / n) - eta * dW1
        self.b1 = self.b1 - eta * db1
        self.W2 = self.W2 * (1 - eta * lmbda / n) - eta * dW2
        self.b2 = self.b2 - eta * db2
