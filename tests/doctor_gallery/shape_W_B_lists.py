"""Parameters kept as lists `self.W` and `self.B`, updated in place; gradient method
`grads` (found by what it does). Correct L2.

expect: exit=0
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class MLP:
    def __init__(self, sizes):
        self.W = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.B = [np.zeros((y, 1)) for y in sizes[1:]]

    def grads(self, x, y):
        activations = [x]
        for W, B in zip(self.W, self.B):
            activations.append(sigmoid(W @ activations[-1] + B))
        delta = activations[-1] - y
        dW, dB = [None] * len(self.W), [None] * len(self.B)
        for layer in reversed(range(len(self.W))):
            dW[layer] = delta @ activations[layer].T
            dB[layer] = delta
            if layer > 0:
                a = activations[layer]
                delta = (self.W[layer].T @ delta) * a * (1 - a)
        return dW, dB

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        m = len(mini_batch)
        sum_dW = [np.zeros_like(W) for W in self.W]
        sum_dB = [np.zeros_like(B) for B in self.B]
        for x, y in mini_batch:
            dW, dB = self.grads(x, y)
            for layer in range(len(self.W)):
                sum_dW[layer] += dW[layer]
                sum_dB[layer] += dB[layer]
        for layer in range(len(self.W)):
            self.W[layer] *= 1 - eta * lmbda / n
            self.W[layer] -= (eta / m) * sum_dW[layer]
            self.B[layer] -= (eta / m) * sum_dB[layer]
