"""The twin of l1_all_parameters.py: the L1 penalty sums over the weight matrices only,
picked from `model.named_parameters()` by name.

expect: exit=0
"""

import torch
from sklearn.datasets import load_digits
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 40)
        self.fc2 = nn.Linear(40, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
Y = torch.tensor(digits.target)
X_train, Y_train = X[:1400], Y[:1400]
n = len(X_train)
torch.manual_seed(0)
model = Net()
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
l1_lambda = 2.0
for epoch in range(3):
    for i in range(0, n, 50):
        xb, yb = X_train[i : i + 50], Y_train[i : i + 50]
        data_loss = loss_fn(model(xb), yb)
        l1 = sum(p.abs().sum() for name, p in model.named_parameters() if "weight" in name)
        loss = data_loss + l1_lambda / n * l1
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
