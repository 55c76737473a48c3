"""Methods with names of their own: the update is `gradient_descent_matrix` (found by its
signature: it takes a mini-batch and η) and the gradient method `matrix_gradients` (found
by what it does: the update calls it and it returns one array per weight and bias).
Vectorized, one example per column; correct L2.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Net:
    def __init__(self, sizes):
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]

    def forward_all(self, X):
        activations = [X]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        return activations

    def matrix_gradients(self, X, Y):
        """Gradients summed over the columns of X."""
        activations = self.forward_all(X)
        delta = activations[-1] - Y
        nabla_w, nabla_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, delta @ activations[layer].T)
            nabla_b.insert(0, delta.sum(axis=1, keepdims=True))
            if layer > 0:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1 - a)
        return nabla_b, nabla_w

    def gradient_descent_matrix(self, mini_batch, eta, lmbda, n):
        X = np.hstack([x for x, y in mini_batch])
        Y = np.hstack([y for x, y in mini_batch])
        m = X.shape[1]
        nabla_b, nabla_w = self.matrix_gradients(X, Y)
        for i in range(len(self.weights)):
            self.weights[i] = (1 - eta * lmbda / n) * self.weights[i] - (eta / m) * nabla_w[i]
            self.biases[i] = self.biases[i] - (eta / m) * nabla_b[i]
