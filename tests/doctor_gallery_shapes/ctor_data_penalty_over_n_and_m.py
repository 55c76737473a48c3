"""Shape 9: a constructor that takes the data and every setting:
`Network(sizes, train_images, train_labels, epochs=10, batch_size=10, eta=0.5, lmbda=5.0)`
keeps the images (one per row, n × n_in) and integer labels, and sets `self.n`; the update
`update_mini_batch(self, batch)` takes a tuple (images, labels) and reads η, λ and n from
`self`. Row-major weights `self.weights[i]` (n_in × n_out), biases (n_out,); `backprop`
returns sums over the batch. The mistake: the whole parenthesis, penalty included, is
divided by the batch size — "average everything over the batch" — so the penalty step is
ηλ/(n·m)·W (line
`self.weights[i] -= self.eta * (grads_w[i] + self.lmbda / self.n * self.weights[i]) / m`).

planted: line 64
expect: exit=1 mistakes=penalty-over-n-and-m
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(
        self, sizes, train_images, train_labels, epochs=10, batch_size=10, eta=0.5, lmbda=5.0
    ):
        self.sizes = sizes
        self.train_images = train_images
        self.train_labels = train_labels
        self.epochs = epochs
        self.batch_size = batch_size
        self.eta = eta
        self.lmbda = lmbda
        self.n = len(train_images)
        rng = np.random.default_rng(2024)
        self.weights = [
            rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [np.zeros(b) for b in sizes[1:]]

    def feedforward(self, images):
        a = images
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(a @ w + b)
        return a

    def backprop(self, images, targets):
        acts = [images]
        for w, b in zip(self.weights, self.biases):
            acts.append(sigmoid(acts[-1] @ w + b))
        delta = acts[-1] - targets
        grads_w, grads_b = [], []
        for i in range(len(self.weights) - 1, -1, -1):
            grads_w.insert(0, acts[i].T @ delta)
            grads_b.insert(0, delta.sum(axis=0))
            delta = (delta @ self.weights[i].T) * acts[i] * (1 - acts[i])
        return grads_w, grads_b

    def update_mini_batch(self, batch):
        images, labels = batch
        targets = np.eye(self.sizes[-1])[labels]
        m = len(images)
        grads_w, grads_b = self.backprop(images, targets)
        for i in range(len(self.weights)):
            self.weights[i] -= self.eta * (grads_w[i] + self.lmbda / self.n * self.weights[i]) / m
            self.biases[i] -= self.eta * grads_b[i] / m

    def train(self):
        rng = np.random.default_rng(1)
        for epoch in range(self.epochs):
            order = rng.permutation(self.n)
            for k in range(0, self.n, self.batch_size):
                rows = order[k : k + self.batch_size]
                self.update_mini_batch((self.train_images[rows], self.train_labels[rows]))
            predicted = self.feedforward(self.train_images).argmax(axis=1)
            print(f"epoch {epoch}: {np.mean(predicted == self.train_labels):.3f}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    net = Network(
        [64, 30, 10], digits.images[:800].reshape(800, -1) / 16.0, digits.target[:800], epochs=3
    )
    net.train()
