"""A plain PyTorch loop: a small MLP on scikit-learn's digits, `nn.CrossEntropyLoss`, a
`DataLoader` of 64, `torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)`.

The mistake: `weight_decay` is given to every parameter, so the biases are decayed too (line
`optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)`).

planted: line 25
expect: exit=1 mistakes=biases-regularized notes=weight-decay-is-lambda-over-n
"""

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
train = TensorDataset(X[:1500], y[:1500])
loader = DataLoader(train, batch_size=64, shuffle=True)

model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)

for epoch in range(3):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(epoch, loss.item())
