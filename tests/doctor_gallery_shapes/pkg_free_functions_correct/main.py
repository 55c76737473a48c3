"""Shape 4: a package. `mynet/network.py` holds a plain `Network` class (weights and
biases only); `mynet/training.py` has the free functions `update_mini_batch(network,
mini_batch, eta, lmbda, n)` and `backprop(network, x, y)`; this script imports
`from mynet.training import sgd`, builds 400 examples of scikit-learn's digits and trains
2 epochs. Correct L2 (in mynet/training.py: `(1 - eta * lmbda / n) * w - (eta / m) * nw`).

run: main.py
expect: exit=0
"""

import random

import numpy as np
from mynet import Network
from mynet.training import sgd
from sklearn.datasets import load_digits

random.seed(12)
digits = load_digits()
examples = [(x.reshape(-1, 1) / 16.0, label) for x, label in zip(digits.data, digits.target)]
training_data = [(x, np.eye(10)[label].reshape(-1, 1)) for x, label in examples[:400]]
test_data = examples[1400:1600]

net = Network([64, 30, 10])
sgd(net, training_data, epochs=2, mini_batch_size=10, eta=0.5, lmbda=5.0, test_data=test_data)
