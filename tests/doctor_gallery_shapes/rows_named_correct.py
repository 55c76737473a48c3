"""Shape 1, variant: row-major matrices named in words — `weights_hidden` (n_in × n_hidden),
`bias_hidden` (1, n_hidden), `weights_output` (n_hidden × n_out), `bias_output` (1, n_out) —
built as `SimpleMLP(n_in, n_hidden, n_out)`; examples as rows; sigmoid units. The update
`train_batch(self, X, Y, lr, lam, n)` walks the parameters by name with `getattr`;
`gradients` returns a dict of batch means. A cost `loss(X, Y, lam, n)` with the right penalty.
Correct L2: the weights decay by (1 − lr·λ/n), the biases not at all.

expect: exit=0
"""

import numpy as np

WEIGHTS = ("weights_hidden", "weights_output")
BIASES = ("bias_hidden", "bias_output")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class SimpleMLP:
    def __init__(self, n_in, n_hidden, n_out):
        np.random.seed(42)
        self.weights_hidden = np.random.randn(n_in, n_hidden) / np.sqrt(n_in)
        self.bias_hidden = np.zeros((1, n_hidden))
        self.weights_output = np.random.randn(n_hidden, n_out) / np.sqrt(n_hidden)
        self.bias_output = np.zeros((1, n_out))

    def predict(self, X):
        hidden = sigmoid(X @ self.weights_hidden + self.bias_hidden)
        return hidden, sigmoid(hidden @ self.weights_output + self.bias_output)

    def gradients(self, X, Y):
        """Mean gradients of the cross-entropy over the rows of X, by parameter name."""
        hidden, output = self.predict(X)
        m = X.shape[0]
        delta_out = output - Y
        delta_hidden = (delta_out @ self.weights_output.T) * hidden * (1 - hidden)
        return {
            "weights_output": hidden.T @ delta_out / m,
            "bias_output": delta_out.mean(axis=0, keepdims=True),
            "weights_hidden": X.T @ delta_hidden / m,
            "bias_hidden": delta_hidden.mean(axis=0, keepdims=True),
        }

    def train_batch(self, X, Y, lr, lam, n):
        grads = self.gradients(X, Y)
        for name in WEIGHTS:
            param = getattr(self, name)
            param *= 1 - lr * lam / n  # weight decay
            param -= lr * grads[name]
        for name in BIASES:
            param = getattr(self, name)
            param -= lr * grads[name]

    def loss(self, X, Y, lam, n):
        _, output = self.predict(X)
        output = np.clip(output, 1e-12, 1 - 1e-12)
        data_loss = -np.sum(Y * np.log(output) + (1 - Y) * np.log(1 - output)) / len(X)
        penalty = lam / (2 * n) * sum(np.sum(getattr(self, name) ** 2) for name in WEIGHTS)
        return data_loss + penalty


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    X, labels = load_digits(return_X_y=True)
    X, Y = X[:800] / 16.0, np.eye(10)[labels[:800]]
    model = SimpleMLP(64, 32, 10)
    n = len(X)
    for epoch in range(3):
        for start in range(0, n, 20):
            model.train_batch(X[start : start + 20], Y[start : start + 20], 0.5, 1.0, n)
        print("epoch", epoch, "loss", round(model.loss(X, Y, 1.0, n), 4))
