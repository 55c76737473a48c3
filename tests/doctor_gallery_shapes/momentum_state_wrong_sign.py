"""Shape 6: state set only in the training method. `SGD(self, training_data, epochs,
mini_batch_size, eta, lmbda=0.0, mu=0.9)` stores `self.mu`, `self.lmbda` and
`self.n = len(training_data)`, then calls `self.update_mini_batch(mini_batch, eta)`, which
reads them from `self`: before SGD runs, the object has no `lmbda`, `n` or `mu` at all.
Momentum: velocities `self.v` (weights) and `self.v_b` (biases), made in `__init__`.
Book layout (columns). The mistake: the L2 term has the wrong sign in the gradient — the
learner "subtracts the decay" (line
`grad = nabla_w[l] / m - (self.lmbda / self.n) * self.weights[l]`), so with μ = 0 the
weights grow by (1 + ηλ/n) per step instead of shrinking.

planted: line 54
expect: exit=1 mistakes=wrong-sign
"""

import random

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.sizes = sizes
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.v = [np.zeros_like(w) for w in self.weights]
        self.v_b = [np.zeros_like(b) for b in self.biases]

    def backprop(self, x, y):
        activations = [x]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        nabla_b, nabla_w = [], []
        delta = activations[-1] - y
        for l in range(len(self.weights) - 1, -1, -1):
            nabla_b.insert(0, delta)
            nabla_w.insert(0, delta @ activations[l].T)
            if l > 0:
                delta = (self.weights[l].T @ delta) * activations[l] * (1 - activations[l])
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta):
        m = len(mini_batch)
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_b, delta_w = self.backprop(x, y)
            nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
            nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
        for l in range(len(self.weights)):
            grad = nabla_w[l] / m - (self.lmbda / self.n) * self.weights[l]  # minus: decay
            self.v[l] = self.mu * self.v[l] - eta * grad
            self.weights[l] = self.weights[l] + self.v[l]
            self.v_b[l] = self.mu * self.v_b[l] - eta * nabla_b[l] / m
            self.biases[l] = self.biases[l] + self.v_b[l]

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, mu=0.9):
        self.mu = mu
        self.lmbda = lmbda
        self.n = len(training_data)
        for epoch in range(epochs):
            random.shuffle(training_data)
            for k in range(0, self.n, mini_batch_size):
                self.update_mini_batch(training_data[k : k + mini_batch_size], eta)
            hits = sum(int(self.predict(x) == y.argmax()) for x, y in training_data)
            print(f"epoch {epoch}: {hits}/{self.n} right")

    def predict(self, x):
        for w, b in zip(self.weights, self.biases):
            x = sigmoid(w @ x + b)
        return int(np.argmax(x))


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    np.random.seed(6)
    digits = load_digits()
    data = [
        (x.reshape(-1, 1) / 16, np.eye(10)[t].reshape(-1, 1))
        for x, t in zip(digits.data, digits.target)
    ]
    net = Network([64, 30, 10])
    net.SGD(data[:600], 3, 10, 0.1, lmbda=5.0, mu=0.9)
