"""The twin of module_train_step_lambda_over_m.py: the penalty is divided by the training-set
size, N_TRAIN. Give it as `nnreg doctor module_train_step_correct.py:make_model`.

expect: exit=0
"""

import torch
from torch import nn

N_TRAIN = 60_000


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def train_step(model, optimizer, xb, yb, lam=5.0):
    optimizer.zero_grad()
    logits = model(xb)
    loss = nn.functional.cross_entropy(logits, yb)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    penalty = lam / (2 * N_TRAIN) * sum(w.pow(2).sum() for w in weights)
    (loss + penalty).backward()
    optimizer.step()
    return loss.item()
