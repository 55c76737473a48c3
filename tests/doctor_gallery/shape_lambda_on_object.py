"""λ and n kept on the object (`self.lmbda`, `self.n`) and an update taking only
`(batch, eta)`: the doctor varies λ and n by setting those attributes. Correct L2.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes, lmbda=5.0, n=50_000):
        self.lmbda = lmbda
        self.n = n
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]

    def backprop(self, x, y):
        activations = [x]
        for w, b in zip(self.weights, self.biases):
            activations.append(sigmoid(w @ activations[-1] + b))
        delta = activations[-1] - y
        nabla_w, nabla_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_w.insert(0, delta @ activations[layer].T)
            nabla_b.insert(0, delta)
            if layer > 0:
                a = activations[layer]
                delta = (self.weights[layer].T @ delta) * a * (1 - a)
        return nabla_b, nabla_w

    def sgd_step(self, batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        decay = 1 - eta * self.lmbda / self.n
        self.weights = [decay * w - (eta / len(batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(batch)) * nb for b, nb in zip(self.biases, nabla_b)]
