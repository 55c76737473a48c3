"""A model class trained with an explicit L1 penalty in the loss, summed over
`model.parameters()`; mini-batches sliced by hand; `l1_lambda` divided by the training-set size.

The mistake: `model.parameters()` holds the biases too, so they are penalized (line
`l1 = sum(p.abs().sum() for p in model.parameters())`).

planted: line 40
expect: exit=1 mistakes=biases-regularized
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
        l1 = sum(p.abs().sum() for p in model.parameters())
        loss = data_loss + l1_lambda / n * l1
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
