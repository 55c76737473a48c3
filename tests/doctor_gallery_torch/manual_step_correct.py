"""The twin of manual_step_lambda_over_m.py: the step by hand decays the weight matrices only,
by λ/n with n the training-set size.

expect: exit=0
"""

import torch
from sklearn.datasets import load_digits
from torch import nn

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
X_train, y_train = X[:1000], y[:1000]
n = len(X_train)
torch.manual_seed(5)
model = nn.Sequential(nn.Linear(64, 30), nn.Tanh(), nn.Linear(30, 10))
loss_fn = nn.CrossEntropyLoss()
lr = 0.1
lam = 5.0
bs = 20
for epoch in range(3):
    for i in range(0, n, bs):
        xb, yb = X_train[i : i + bs], y_train[i : i + bs]
        loss = loss_fn(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim > 1:
                    p -= lr * (p.grad + lam / n * p)
                else:
                    p -= lr * p.grad
                p.grad.zero_()
