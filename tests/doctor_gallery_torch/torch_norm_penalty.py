"""An L2 penalty written with `torch.norm`: `lam / (2 * n) * sum(torch.norm(W) for W in ...)`
over the weight matrices of a three-layer model, Adam-free plain SGD, a DataLoader.

The mistake: `torch.norm(W)` is ‖W‖, not ‖W‖² — its gradient is W/‖W‖, not W (line
`reg = lam / (2 * n) * sum(torch.norm(W) for W in matrices)`).

planted: line 33
expect: exit=1 mistakes=norm-not-squared
"""

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

digits = load_digits()
train_set = TensorDataset(
    torch.tensor(digits.data[:1600] / 16.0, dtype=torch.float32),
    torch.tensor(digits.target[:1600]),
)
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
n = len(train_set)
lam = 5.0

torch.manual_seed(3)
model = nn.Sequential(nn.Linear(64, 50), nn.ReLU(), nn.Linear(50, 25), nn.ReLU(), nn.Linear(25, 10))
matrices = [p for p in model.parameters() if p.dim() == 2]
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for images, labels in train_loader:
        opt.zero_grad()
        outputs = model(images)
        reg = lam / (2 * n) * sum(torch.norm(W) for W in matrices)
        loss = nn.functional.cross_entropy(outputs, labels) + reg
        loss.backward()
        opt.step()
