"""Argument names no table knows: the update is `step(self, X, Y, lr, decay_strength,
total_examples)`, examples as columns. The doctor finds λ and n by what changing them does.
The mistake: the decay divides `decay_strength` by the mini-batch size m (line 33).

planted: line 33
expect: exit=1 mistakes=lambda-over-m
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class Net:
    def __init__(self, sizes):
        rng = np.random.default_rng(0)
        self.w = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros((b, 1)) for b in sizes[1:]]

    def step(self, X, Y, lr, decay_strength, total_examples):
        m = X.shape[1]
        acts = [X]
        for w, b in zip(self.w, self.b):
            acts.append(sigmoid(w @ acts[-1] + b))
        delta = acts[-1] - Y
        for i in reversed(range(len(self.w))):
            gw = delta @ acts[i].T / m
            gb = delta.mean(axis=1, keepdims=True)
            if i:
                delta = (self.w[i].T @ delta) * acts[i] * (1 - acts[i])
            self.w[i] = self.w[i] - lr * (gw + decay_strength / m * self.w[i])
            self.b[i] = self.b[i] - lr * gb


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data.T / 16.0
    Y = np.eye(10)[digits.target].T
    net = Net([64, 30, 10])
    for start in range(0, 500, 10):
        net.step(X[:, start : start + 10], Y[:, start : start + 10], 0.5, 5.0, 500)
