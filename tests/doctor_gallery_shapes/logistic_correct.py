"""One output unit in a class: a binary classifier with one hidden layer and a logistic
(sigmoid) output. `LogisticMLP(n_features, n_hidden=16)` holds `W1` (n_features × n_hidden),
`b1` (n_hidden,), `w2` (n_hidden,) — a VECTOR of exactly the same shape as `b1` — and `b2`
(1,). Examples as rows, labels 0/1 as a vector. `gradients` returns batch means in the
order (W1, b1, w2, b2); the update is `step(self, X, y, lr, lam, n_train)`.
Correct L2: W1 and w2 decay with λ/n_train; b1 and b2 are not regularized.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class LogisticMLP:
    def __init__(self, n_features, n_hidden=16, seed=0):
        rng = np.random.default_rng(seed)
        self.W1 = rng.normal(0.0, 1.0 / np.sqrt(n_features), (n_features, n_hidden))
        self.b1 = np.zeros(n_hidden)
        self.w2 = rng.normal(0.0, 1.0 / np.sqrt(n_hidden), n_hidden)
        self.b2 = np.zeros(1)

    def predict_proba(self, X):
        h = np.tanh(X @ self.W1 + self.b1)
        return h, sigmoid(h @ self.w2 + self.b2)

    def gradients(self, X, y):
        """Mean gradients of the log-loss over the rows of X: (gW1, gb1, gw2, gb2)."""
        h, p = self.predict_proba(X)
        m = len(y)
        err = p - y  # (m,)
        gw2 = h.T @ err / m
        gb2 = np.array([err.mean()])
        dh = np.outer(err, self.w2) * (1 - h**2)
        gW1 = X.T @ dh / m
        gb1 = dh.mean(axis=0)
        return gW1, gb1, gw2, gb2

    def step(self, X, y, lr, lam, n_train):
        gW1, gb1, gw2, gb2 = self.gradients(X, y)
        self.W1 -= lr * (gW1 + lam / n_train * self.W1)
        self.b1 -= lr * gb1
        self.w2 -= lr * (gw2 + lam / n_train * self.w2)
        self.b2 -= lr * gb2

    def log_loss(self, X, y):
        _, p = self.predict_proba(X)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


if __name__ == "__main__":
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = LogisticMLP(X.shape[1])
    rng = np.random.default_rng(3)
    for epoch in range(5):
        order = rng.permutation(len(X))
        for k in range(0, len(X), 16):
            rows = order[k : k + 16]
            clf.step(X[rows], y[rows], lr=0.1, lam=1.0, n_train=len(X))
        acc = np.mean((clf.predict_proba(X)[1] > 0.5) == y)
        print(f"epoch {epoch}: log-loss {clf.log_loss(X, y):.4f}, accuracy {acc:.3f}")
