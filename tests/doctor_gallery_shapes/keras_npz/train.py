"""A learner's script on Keras's data file: it reads `data/mnist.npz` as
`keras.datasets.mnist.load_data` does (four uint8 arrays) and trains a [784, 30, 10] network on
its first 1,000 images. Offline the file is missing: `nnreg data export --format keras --out
data` writes it. Correct L2.

run: train.py
expect: exit=0
"""

import random

import numpy as np

with np.load("data/mnist.npz", allow_pickle=True) as f:
    x_train, y_train = f["x_train"], f["y_train"]

images, labels = x_train.reshape(-1, 784) / 255.0, y_train
examples = [(x.reshape(784, 1), np.eye(10)[y].reshape(10, 1)) for x, y in zip(images, labels)]
examples = examples[:1000]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes):
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        for x, y in mini_batch:
            activations = [x]
            for w, b in zip(self.weights, self.biases):
                activations.append(sigmoid(w @ activations[-1] + b))
            delta = activations[-1] - y
            for layer in range(len(self.weights) - 1, -1, -1):
                nabla_w[layer] += delta @ activations[layer].T
                nabla_b[layer] += delta
                if layer:
                    a = activations[layer]
                    delta = (self.weights[layer].T @ delta) * a * (1 - a)
        m = len(mini_batch)
        self.weights = [
            (1 - eta * lmbda / n) * w - eta / m * nw for w, nw in zip(self.weights, nabla_w)
        ]
        self.biases = [b - eta / m * nb for b, nb in zip(self.biases, nabla_b)]


net = Network([784, 30, 10])
for _ in range(2):
    random.shuffle(examples)
    for k in range(0, len(examples), 10):
        net.update_mini_batch(examples[k : k + 10], 0.5, 5.0, len(examples))
