"""Imports a sibling file (`activations.py` in the same folder); book-style correct L2.

expect: exit=0
"""

import activations
import numpy as np
from activations import sigmoid_prime


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = activations.sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, all_activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = activations.sigmoid(z)
            all_activations.append(activation)
        delta = all_activations[-1] - y
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, all_activations[-2].transpose())
        for layer in range(2, self.num_layers):
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sigmoid_prime(zs[-layer])
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, all_activations[-layer - 1].transpose())
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [
            (1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
            for w, nw in zip(self.weights, nabla_w)
        ]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]
