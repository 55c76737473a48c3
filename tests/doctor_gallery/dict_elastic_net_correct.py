"""Parameters in a dict (W1, b1, W2, b2), gradients from `compute_grads` (run the doctor
with --gradients compute_grads), elastic net with one λ for both parts: correct.

expect: exit=0 gradients=compute_grads notes=l1-crosses-zero
"""

import numpy as np


class TwoLayerNet:
    def __init__(self, sizes):
        n_in, n_hidden, n_out = sizes
        self.params = {
            "W1": np.random.randn(n_in, n_hidden) * 0.1,
            "b1": np.zeros(n_hidden),
            "W2": np.random.randn(n_hidden, n_out) * 0.1,
            "b2": np.zeros(n_out),
        }

    def compute_grads(self, X, Y):
        p = self.params
        h = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
        out = 1 / (1 + np.exp(-(h @ p["W2"] + p["b2"])))
        m = X.shape[0]
        d2 = (out - Y) / m
        d1 = (d2 @ p["W2"].T) * h * (1 - h)
        return {
            "W1": X.T @ d1,
            "b1": d1.sum(axis=0),
            "W2": h.T @ d2,
            "b2": d2.sum(axis=0),
        }

    def update_mini_batch(self, batch, lr, lam, n):
        X = np.vstack([x.T for x, _ in batch])
        Y = np.vstack([y.T for _, y in batch])
        grads = self.compute_grads(X, Y)
        for key in ("W1", "W2"):
            W = self.params[key]
            self.params[key] = W - lr * (grads[key] + lam / n * W + lam / n * np.sign(W))
        for key in ("b1", "b2"):
            self.params[key] = self.params[key] - lr * grads[key]
