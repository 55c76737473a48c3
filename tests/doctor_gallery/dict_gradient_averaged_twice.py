"""Dict of parameters (w1, b1, …); the gradient method already averages over the batch
and the update divides by the batch size again.

expect: exit=1 mistakes=gradient-averaged-twice
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class Net:
    def __init__(self, sizes):
        self.p = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.p[f"w{i}"] = np.random.randn(b, a) / np.sqrt(a)
            self.p[f"b{i}"] = np.random.randn(b, 1)

    def backprop(self, X, Y):
        """Mean gradients over the columns of X."""
        m = X.shape[1]
        h = sigmoid(self.p["w1"] @ X + self.p["b1"])
        out = sigmoid(self.p["w2"] @ h + self.p["b2"])
        d2 = out - Y
        d1 = (self.p["w2"].T @ d2) * h * (1 - h)
        return {
            "w1": d1 @ X.T / m,
            "b1": d1.mean(axis=1, keepdims=True),
            "w2": d2 @ h.T / m,
            "b2": d2.mean(axis=1, keepdims=True),
        }

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.column_stack([x for x, _ in mini_batch])
        Y = np.column_stack([y for _, y in mini_batch])
        g = self.backprop(X, Y)
        m = len(mini_batch)
        for k in ("w1", "w2"):
            self.p[k] = (1 - eta * lmbda / n) * self.p[k] - (eta / m) * g[k]
        for k in ("b1", "b2"):
            self.p[k] = self.p[k] - (eta / m) * g[k]
