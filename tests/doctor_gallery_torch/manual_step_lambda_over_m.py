"""No optimizer: the step is written by hand under `torch.no_grad()`, for every parameter,
with the L2 term λ/len(xb)·p in it.

The mistakes: λ is divided by the mini-batch size, and every parameter — biases included — is
decayed (line `p -= lr * (p.grad + lam / len(xb) * p)`).

planted: line 32
expect: exit=1 mistakes=biases-regularized,lambda-over-m
"""

import torch
from sklearn.datasets import load_digits
from torch import nn

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
X_train, y_train = X[:1000], y[:1000]
torch.manual_seed(5)
model = nn.Sequential(nn.Linear(64, 30), nn.Tanh(), nn.Linear(30, 10))
loss_fn = nn.CrossEntropyLoss()
lr = 0.1
lam = 5.0
bs = 20
for epoch in range(3):
    for i in range(0, len(X_train), bs):
        xb, yb = X_train[i : i + bs], y_train[i : i + bs]
        loss = loss_fn(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * (p.grad + lam / len(xb) * p)
                p.grad.zero_()
