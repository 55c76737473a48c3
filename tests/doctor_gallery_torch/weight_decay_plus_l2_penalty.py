"""SGD with momentum and `weight_decay` on the weights' group, and — copied from the book — the
L2 term (λ/2n)·Σ‖W‖² added to the loss as well.

The mistake: two L2 penalties on the same weights (lines `optimizer = torch.optim.SGD(` and
`penalty = lmbda / (2 * n) * sum(W.pow(2).sum() for W in weights)`).

planted: lines 28, 34
expect: exit=1 mistakes=penalty-twice notes=weight-decay-is-lambda-over-n
"""

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

digits = load_digits()
data = TensorDataset(
    torch.tensor(digits.data[:1500] / 16.0, dtype=torch.float32),
    torch.tensor(digits.target[:1500]),
)
n = len(data)
lmbda = 5.0
torch.manual_seed(2)
model = nn.Sequential(nn.Linear(64, 30), nn.Sigmoid(), nn.Linear(30, 10))
weights = [m.weight for m in model if isinstance(m, nn.Linear)]
biases = [m.bias for m in model if isinstance(m, nn.Linear)]
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(
    [{"params": weights, "weight_decay": lmbda / n}, {"params": biases}], lr=0.5, momentum=0.5
)
loader = DataLoader(data, batch_size=10, shuffle=True)
for epoch in range(3):
    for xb, yb in loader:
        penalty = lmbda / (2 * n) * sum(W.pow(2).sum() for W in weights)
        loss = criterion(model(xb), yb) + penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
