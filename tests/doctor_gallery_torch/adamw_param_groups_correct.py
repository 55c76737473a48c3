"""The twin of adam_weight_decay.py: AdamW, whose `weight_decay` is a true decay
(w ← w − lr·wd·w, then Adam's step), on the weights' group only.

expect: exit=0 notes=weight-decay-is-lambda-over-n
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_in=64, n_hidden=48, n_out=10):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


digits = load_digits()
X_train = torch.tensor(digits.data[:1200] / 16.0, dtype=torch.float32)
y_train = torch.tensor(digits.target[:1200])
torch.manual_seed(1)
model = MLP()
weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
optimizer = torch.optim.AdamW(
    [{"params": weights, "weight_decay": 1e-2}, {"params": biases, "weight_decay": 0}], lr=1e-3
)
batch_size = 32
rng = np.random.default_rng(0)
for epoch in range(3):
    order = torch.tensor(rng.permutation(len(X_train)))
    for start in range(0, len(X_train), batch_size):
        idx = order[start : start + batch_size]
        logits = model(X_train[idx])
        loss = F.cross_entropy(logits, y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
