"""Shape 1: a class with row-major matrices and names of its own — `self.Wh` (n_in × n_hidden),
`self.Bh` (n_hidden,), `self.Wo` (n_hidden × n_out), `self.Bo` (n_out,) — built as
`TwoLayerNet(n_in, n_hidden, n_out)`; examples as rows. The update is
`train_batch(self, X, Y, lr, lam, n)` on a mini-batch X (m × n_in) with one-hot Y; `backward`
returns the gradients summed over the rows. The mistake: λ is divided by the mini-batch
size m = len(X) instead of n (line `self.Wh -= lr * (dWh / m + lam / m * self.Wh)` and the
same for `self.Wo`); `n` is passed in and never used.

planted: lines 46, 47
expect: exit=1 mistakes=lambda-over-m
"""

import numpy as np


class TwoLayerNet:
    def __init__(self, n_in, n_hidden, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.Wh = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_hidden))
        self.Bh = np.zeros(n_hidden)
        self.Wo = rng.normal(0.0, 1.0 / np.sqrt(n_hidden), size=(n_hidden, n_out))
        self.Bo = np.zeros(n_out)

    def forward(self, X):
        H = np.tanh(X @ self.Wh + self.Bh)
        logits = H @ self.Wo + self.Bo
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        P = np.exp(logits)
        return H, P / P.sum(axis=1, keepdims=True)

    def backward(self, X, Y):
        """Gradients of the softmax cross-entropy, summed over the rows of X."""
        H, P = self.forward(X)
        d_out = P - Y
        dWo = H.T @ d_out
        dBo = d_out.sum(axis=0)
        d_hidden = (d_out @ self.Wo.T) * (1 - H**2)
        dWh = X.T @ d_hidden
        dBh = d_hidden.sum(axis=0)
        return dWh, dBh, dWo, dBo

    def train_batch(self, X, Y, lr, lam, n):
        m = len(X)
        dWh, dBh, dWo, dBo = self.backward(X, Y)
        # L2 on the weights only, averaged over the batch like the gradient
        self.Wh -= lr * (dWh / m + lam / m * self.Wh)
        self.Wo -= lr * (dWo / m + lam / m * self.Wo)
        self.Bh -= lr * dBh / m
        self.Bo -= lr * dBo / m

    def accuracy(self, X, labels):
        return np.mean(self.forward(X)[1].argmax(axis=1) == labels)


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, labels = digits.data[:1000] / 16.0, digits.target[:1000]
    Y = np.eye(10)[labels]
    net = TwoLayerNet(64, 30, 10)
    n = len(X)
    rng = np.random.default_rng(1)
    for epoch in range(3):
        order = rng.permutation(n)
        for start in range(0, n, 10):
            rows = order[start : start + 10]
            net.train_batch(X[rows], Y[rows], lr=0.1, lam=5.0, n=n)
        print(f"epoch {epoch}: training accuracy {net.accuracy(X, labels):.3f}")
