"""Shape 2: the whole update written inline in `SGD(self, training_data, epochs,
mini_batch_size, eta, lmbda, evaluation_data=None)` — the mini-batch loop, the summing of
gradients and the step, no update method. `backward(x, y)` returns the gradients of one
example (book layout: columns, `weights[l]` of shape (n_out, n_in), biases (n_out, 1)).
Data: a list of (x, y) column pairs; evaluation data: (x, label) pairs.
Correct L2: after the loop over the mini-batch, w ← (1 − ηλ/n)·w − (η/m)·Σ∇C_x.

expect: exit=0
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

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(w @ a + b)
        return a

    def backward(self, x, y):
        """Gradients (grad_b, grad_w) of the cross-entropy cost of one example."""
        activations = [x]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        grad_b = [None] * len(self.biases)
        grad_w = [None] * len(self.weights)
        delta = activations[-1] - y
        for l in range(len(self.weights) - 1, -1, -1):
            grad_b[l] = delta
            grad_w[l] = delta @ activations[l].T
            if l > 0:
                delta = (self.weights[l].T @ delta) * activations[l] * (1 - activations[l])
        return grad_b, grad_w

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda, evaluation_data=None):
        n = len(training_data)
        for epoch in range(epochs):
            random.shuffle(training_data)
            for k in range(0, n, mini_batch_size):
                mini_batch = training_data[k : k + mini_batch_size]
                nabla_b = [np.zeros(b.shape) for b in self.biases]
                nabla_w = [np.zeros(w.shape) for w in self.weights]
                for x, y in mini_batch:
                    delta_b, delta_w = self.backward(x, y)
                    for l in range(len(self.weights)):
                        nabla_b[l] += delta_b[l]
                        nabla_w[l] += delta_w[l]
                for l in range(len(self.weights)):
                    self.weights[l] *= 1 - eta * lmbda / n  # weight decay
                    self.weights[l] -= eta / len(mini_batch) * nabla_w[l]
                    self.biases[l] -= eta / len(mini_batch) * nabla_b[l]
            if evaluation_data:
                correct = sum(int(np.argmax(self.feedforward(x)) == y) for x, y in evaluation_data)
                print(f"Epoch {epoch}: {correct} / {len(evaluation_data)}")


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    digits = load_digits()
    pairs = [(x.reshape(64, 1) / 16.0, label) for x, label in zip(digits.data, digits.target)]
    training_data = [(x, np.eye(10)[label].reshape(10, 1)) for x, label in pairs[:500]]
    net = Network([64, 30, 10])
    net.SGD(training_data, 2, 10, 0.5, 5.0, evaluation_data=pairs[1500:])
