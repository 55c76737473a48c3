"""Shape 7 ("seed-004", the learner whose L2 gave 11% accuracy), fixed. `NeuralNet(layer_sizes)`
keeps its parameters in `self.params = {"W1": (n_in, n_hidden), "b1": (n_hidden,), "W2":
(n_hidden, n_out), "b2": (n_out,)}` — row-major, examples as rows; ReLU hidden layer,
softmax output. `update(self, x, y, lr, lambd, n)` takes a mini-batch of rows x (m × n_in)
and one-hot y; the fix was to pass n, the training-set size, as a new last argument (`train`
passes len(X)). Correct L2: W ← W − lr·(mean gradient + (λ/n)·W).

expect: exit=0
"""

import numpy as np


class NeuralNet:
    def __init__(self, layer_sizes):
        rng = np.random.default_rng(4)
        self.params = {}
        for i, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
            self.params[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out))
            self.params[f"b{i}"] = np.zeros(fan_out)
        self.num_layers = len(layer_sizes) - 1

    def forward(self, x):
        cache = {"a0": x}
        a = x
        for i in range(1, self.num_layers + 1):
            z = a @ self.params[f"W{i}"] + self.params[f"b{i}"]
            if i < self.num_layers:
                a = np.maximum(z, 0)
            else:
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            cache[f"z{i}"], cache[f"a{i}"] = z, a
        return a, cache

    def backward(self, y, cache):
        """Gradients of the mean cross-entropy over the batch."""
        grads = {}
        m = y.shape[0]
        dz = (cache[f"a{self.num_layers}"] - y) / m
        for i in range(self.num_layers, 0, -1):
            grads[f"W{i}"] = cache[f"a{i - 1}"].T @ dz
            grads[f"b{i}"] = dz.sum(axis=0)
            if i > 1:
                dz = (dz @ self.params[f"W{i}"].T) * (cache[f"z{i - 1}"] > 0)
        return grads

    def update(self, x, y, lr, lambd, n):
        _, cache = self.forward(x)
        grads = self.backward(y, cache)
        for key in self.params:
            if key.startswith("W"):
                grads[key] = grads[key] + lambd / n * self.params[key]
            self.params[key] -= lr * grads[key]

    def train(self, X, Y, epochs=5, batch_size=32, lr=0.1, lambd=5.0):
        rng = np.random.default_rng(0)
        for epoch in range(epochs):
            order = rng.permutation(len(X))
            for start in range(0, len(X), batch_size):
                idx = order[start : start + batch_size]
                self.update(X[idx], Y[idx], lr, lambd, len(X))
            acc = np.mean(self.forward(X)[0].argmax(axis=1) == Y.argmax(axis=1))
            print(f"epoch {epoch}: accuracy {acc:.2%}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    X, labels = load_digits(return_X_y=True)
    NeuralNet([64, 32, 10]).train(X[:1000] / 16.0, np.eye(10)[labels[:1000]], epochs=3)
