"""A learner's chapter-3 L1 exercise, trained on scikit-learn's digits for 30 epochs.

`nnreg doctor --run train.py` runs it until its first update and diagnoses that call.

expect: exit=1 mistakes=update-cost-mismatch notes=l1-crosses-zero
"""

import random

import numpy as np
from network import Network
from sklearn.datasets import load_digits

digits = load_digits()
inputs = digits.data / 16.0
targets = np.eye(10)[digits.target]
training_data = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(inputs, targets)][:1500]

net = Network([64, 30, 10])
eta, lmbda, mini_batch_size = 0.5, 5.0, 10
n = len(training_data)
for epoch in range(30):
    random.shuffle(training_data)
    for k in range(0, n, mini_batch_size):
        net.update_mini_batch(training_data[k : k + mini_batch_size], eta, lmbda, n)
    cost = net.total_cost(training_data, lmbda, n)
    print(f"epoch {epoch}: cost {cost:.4f}")
