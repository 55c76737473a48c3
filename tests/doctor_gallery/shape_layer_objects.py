"""A list of layer objects, each holding its own `W` and `b`; the network's gradient
method returns one (dW, db) pair per layer. Correct L2.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Dense:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_out, n_in) / np.sqrt(n_in)
        self.b = np.zeros((n_out, 1))

    def forward(self, a):
        return sigmoid(self.W @ a + self.b)


class Network:
    def __init__(self, sizes):
        self.layers = [Dense(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    def backprop(self, x, y):
        activations = [x]
        for layer in self.layers:
            activations.append(layer.forward(activations[-1]))
        delta = activations[-1] - y
        grads = [None] * len(self.layers)
        for i in reversed(range(len(self.layers))):
            grads[i] = (delta @ activations[i].T, delta)
            if i > 0:
                a = activations[i]
                delta = (self.layers[i].W.T @ delta) * a * (1 - a)
        return grads

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        m = len(mini_batch)
        sums = [(np.zeros_like(layer.W), np.zeros_like(layer.b)) for layer in self.layers]
        for x, y in mini_batch:
            grads = self.backprop(x, y)
            sums = [(sw + dw, sb + db) for (sw, sb), (dw, db) in zip(sums, grads)]
        for layer, (dW, db) in zip(self.layers, sums):
            layer.W = (1 - eta * lmbda / n) * layer.W - (eta / m) * dW
            layer.b = layer.b - (eta / m) * db
