"""The twin of torch_norm_penalty.py: `torch.linalg.vector_norm(W) ** 2` is ‖W‖², so the
penalty is the book's (λ/2n)·Σ‖W‖².

expect: exit=0
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
        reg = lam / (2 * n) * sum(torch.linalg.vector_norm(W) ** 2 for W in matrices)
        loss = nn.functional.cross_entropy(outputs, labels) + reg
        loss.backward()
        opt.step()
