"""The twin of weight_decay_plus_l2_penalty.py: the book's L2 term (λ/2n)·Σ‖W‖² in the loss,
and no `weight_decay` in the optimizer.

expect: exit=0
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
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5)
loader = DataLoader(data, batch_size=10, shuffle=True)
for epoch in range(3):
    for xb, yb in loader:
        penalty = lmbda / (2 * n) * sum(W.pow(2).sum() for W in weights)
        loss = criterion(model(xb), yb) + penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
