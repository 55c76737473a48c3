"""A loop over the examples of each mini-batch (as in the book's update_mini_batch), each
example's loss averaged into the batch's; the L2 penalty is added inside that loop.

The mistake: the penalty is added once per example, m times per mini-batch (line
`loss = loss + criterion(out, t.unsqueeze(0)) / len(xb) + penalty`).

planted: line 33
expect: exit=1 mistakes=penalty-in-example-loop
"""

import torch
from sklearn.datasets import load_digits
from torch import nn

digits = load_digits()
X = torch.tensor(digits.data[:800] / 16.0, dtype=torch.float32)
T = torch.tensor(digits.target[:800])
n = len(X)
lmbda = 5.0
torch.manual_seed(4)
net = nn.Sequential(nn.Linear(64, 20), nn.Sigmoid(), nn.Linear(20, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
for epoch in range(3):
    perm = torch.randperm(n)
    for k in range(0, n, 10):
        rows = perm[k : k + 10]
        xb, yb = X[rows], T[rows]
        optimizer.zero_grad()
        loss = 0.0
        for x, t in zip(xb, yb):
            out = net(x.unsqueeze(0))
            penalty = lmbda / (2 * n) * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
            loss = loss + criterion(out, t.unsqueeze(0)) / len(xb) + penalty
        loss.backward()
        optimizer.step()
