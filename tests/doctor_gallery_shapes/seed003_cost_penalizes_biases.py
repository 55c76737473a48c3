"""Shape 8 ("seed-003", the learner whose reported cost grows), second try. Lists `self.weight` and
`self.bias` (singular names): `self.weight[i]` is (n_out, n_in) as in the book, but
`self.bias[i]` is a ROW, (1, n_out); the forward pass stacks the examples as rows
(`np.vstack`) and multiplies by the transpose, `np.dot(a, self.weight[i].T)`. Data: the
book loader's (x, y) column pairs. The update is correct L2, and the cost
`total_cost(self, data, lmbda, n)` now divides its penalty by n — but the mistake: it sums
the squares of every parameter, `self.weight + self.bias`, so the biases are penalized in
the reported cost (line
`cost += 0.5 * (lmbda / n) * sum(np.sum(p**2) for p in self.weight + self.bias)`).

planted: line 64
expect: exit=1 mistakes=cost-penalizes-biases
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        np.random.seed(3)
        self.sizes = sizes
        self.weight = [np.random.randn(j, i) / np.sqrt(i) for i, j in zip(sizes[:-1], sizes[1:])]
        self.bias = [np.random.randn(1, j) for j in sizes[1:]]

    def feedforward(self, a):
        """a: one example per row."""
        for w, b in zip(self.weight, self.bias):
            a = sigmoid(np.dot(a, w.T) + b)
        return a

    def backprop(self, X, Y):
        """Gradients summed over the rows of X."""
        activations = [X]
        for w, b in zip(self.weight, self.bias):
            activations.append(sigmoid(np.dot(activations[-1], w.T) + b))
        delta = activations[-1] - Y
        nabla_w, nabla_b = [None] * len(self.weight), [None] * len(self.bias)
        for i in reversed(range(len(self.weight))):
            nabla_w[i] = np.dot(delta.T, activations[i])
            nabla_b[i] = delta.sum(axis=0, keepdims=True)
            if i > 0:
                delta = np.dot(delta, self.weight[i]) * activations[i] * (1 - activations[i])
        return nabla_w, nabla_b

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        X = np.vstack([x.T for x, _ in mini_batch])
        Y = np.vstack([y.T for _, y in mini_batch])
        nabla_w, nabla_b = self.backprop(X, Y)
        m = len(mini_batch)
        self.weight = [
            (1 - eta * lmbda / n) * w - eta / m * nw for w, nw in zip(self.weight, nabla_w)
        ]
        self.bias = [b - eta / m * nb for b, nb in zip(self.bias, nabla_b)]

    def total_cost(self, data, lmbda, n):
        X = np.vstack([x.T for x, _ in data])
        Y = np.vstack([y.T for _, y in data])
        A = self.feedforward(X)
        cost = np.sum(np.nan_to_num(-Y * np.log(A) - (1 - Y) * np.log(1 - A))) / len(data)
        cost += 0.5 * (lmbda / n) * sum(np.sum(p**2) for p in self.weight + self.bias)
        return cost

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda, evaluation_data):
        n = len(training_data)
        for epoch in range(epochs):
            np.random.shuffle(training_data)
            for k in range(0, n, mini_batch_size):
                self.update_mini_batch(training_data[k : k + mini_batch_size], eta, lmbda, n)
            cost = self.total_cost(evaluation_data, lmbda, n)
            print(f"Epoch {epoch}: cost on evaluation data {cost:.4f}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    pairs = [
        (x.reshape(-1, 1) / 16.0, np.eye(10)[t].reshape(-1, 1))
        for x, t in zip(digits.data, digits.target)
    ]
    net = Network([64, 30, 10])
    net.SGD(pairs[:500], 3, 10, 0.5, 5.0, evaluation_data=pairs[1700:])
