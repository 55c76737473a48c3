"""Shape 2, variant: everything inline in `SGD(self, training_data, epochs, mini_batch_size,
eta, lmbda, evaluation_data=None)` — forward pass, backpropagation and step computed in the
loop over mini-batches, no other method touches a gradient. Data as two arrays:
`training_data = (X, labels)`, one example per row, integer labels; `self.W[i]` is
(n_in × n_out), `self.b[i]` is (n_out,). The learner's chapter-3 L1 exercise, with the
mistake: the sign step is divided by the mini-batch size, λ/m with m = len(rows), instead
of λ/n (line `self.W[i] -= eta * (grad_W + lmbda / len(rows) * np.sign(self.W[i]))`).

planted: line 49
expect: exit=1 mistakes=lambda-over-m notes=l1-crosses-zero
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class L1Net:
    def __init__(self, sizes, seed=7):
        self.rng = np.random.default_rng(seed)
        self.W = [self.rng.normal(0, 1 / np.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b) for b in sizes[1:]]

    def predict(self, X):
        for W, b in zip(self.W, self.b):
            X = sigmoid(X @ W + b)
        return X.argmax(axis=1)

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda, evaluation_data=None):
        X, labels = training_data
        n = len(X)
        Y = np.eye(self.W[-1].shape[1])[labels]
        for epoch in range(epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, mini_batch_size):
                rows = order[start : start + mini_batch_size]
                acts = [X[rows]]
                for W, b in zip(self.W, self.b):
                    acts.append(sigmoid(acts[-1] @ W + b))
                delta = acts[-1] - Y[rows]  # cross-entropy with sigmoid outputs
                for i in reversed(range(len(self.W))):
                    grad_W = acts[i].T @ delta / len(rows)
                    grad_b = delta.mean(axis=0)
                    if i > 0:
                        delta = (delta @ self.W[i].T) * acts[i] * (1 - acts[i])
                    # L1: constant-size step towards zero, averaged over the batch
                    self.W[i] -= eta * (grad_W + lmbda / len(rows) * np.sign(self.W[i]))
                    self.b[i] -= eta * grad_b
            if evaluation_data is not None:
                X_eval, labels_eval = evaluation_data
                print(f"epoch {epoch}: {np.mean(self.predict(X_eval) == labels_eval):.3f}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    net = L1Net([64, 40, 10])
    net.SGD((X[:1200], y[:1200]), 3, 10, 0.5, 2.0, evaluation_data=(X[1200:], y[1200:]))
