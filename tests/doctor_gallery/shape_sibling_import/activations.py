"""The sibling module: the learner's network imports it as `import activations`, as
`python network.py` run from this folder would."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))
