"""Shape 2, variant: a method named `backward` that returns nothing and does the whole
update. `forward(X)` caches the activations on the object (`self.cache`);
`backward(self, Y, eta, lmbda, n)` backpropagates from that cache and changes `self.W` and
`self.b` in place, layer by layer. Examples as columns: X is (n_in × m), `self.W[l]` is
(n_out × n_in), `self.b[l]` is (n_out, 1). `fit` calls forward then backward per mini-batch.
The mistake: the penalty's step is not multiplied by η — the parenthesis closes after dW
(line `self.W[l] -= eta * dW + lmbda / n * self.W[l]`).

planted: line 44
expect: exit=1 mistakes=no-eta
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Net:
    def __init__(self, sizes, seed=42):
        rng = np.random.default_rng(seed)
        self.W = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros((b, 1)) for b in sizes[1:]]
        self.cache = None

    def forward(self, X):
        activations = [X]
        for W, b in zip(self.W, self.b):
            activations.append(sigmoid(W @ activations[-1] + b))
        self.cache = activations
        return activations[-1]

    def backward(self, Y, eta, lmbda, n):
        activations = self.cache
        m = Y.shape[1]
        delta = activations[-1] - Y  # sigmoid + cross-entropy
        for l in reversed(range(len(self.W))):
            dW = delta @ activations[l].T / m
            db = delta.mean(axis=1, keepdims=True)
            if l > 0:  # propagate with the weights before they change
                a = activations[l]
                delta = (self.W[l].T @ delta) * a * (1 - a)
            self.W[l] -= eta * dW + lmbda / n * self.W[l]
            self.b[l] -= eta * db

    def fit(self, X, Y, epochs=5, batch_size=16, eta=0.5, lmbda=1.0):
        n = X.shape[1]
        rng = np.random.default_rng(0)
        for epoch in range(epochs):
            cols = rng.permutation(n)
            for k in range(0, n, batch_size):
                batch = cols[k : k + batch_size]
                self.forward(X[:, batch])
                self.backward(Y[:, batch], eta, lmbda, n)
            accuracy = np.mean(self.forward(X).argmax(axis=0) == Y.argmax(axis=0))
            print(f"epoch {epoch + 1}/{epochs}  accuracy {accuracy:.3f}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data[:600].T / 16.0  # (64, 600): one example per column
    Y = np.eye(10)[digits.target[:600]].T
    Net([64, 25, 10]).fit(X, Y, epochs=3)
