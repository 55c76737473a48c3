"""nnreg: feedforward neural networks with regularization done exactly right and made visible."""

from nnreg.activity import ActivityRegularizer
from nnreg.combined import Combined
from nnreg.constraints import MaxNorm
from nnreg.datasets import Dataset, load_digits, make_dataset
from nnreg.dropout import Dropout
from nnreg.monitors import CostMonitor, GradientShareMonitor, WeightMonitor
from nnreg.network import Network
from nnreg.optimizers import SGD, MomentumSGD, Optimizer, make_optimizer
from nnreg.regularizers import (
    L1,
    L2,
    DecoupledWeightDecay,
    ElasticNet,
    NoRegularization,
    Regularizer,
    make_regularizer,
    soft_threshold,
)
from nnreg.training import Callback, History, TrainingDiverged, TrainingState, train, training_step

__version__ = "0.1.0"

__all__ = [
    "ActivityRegularizer",
    "Combined",
    "Dropout",
    "MaxNorm",
    "Callback",
    "CostMonitor",
    "Dataset",
    "DecoupledWeightDecay",
    "ElasticNet",
    "GradientShareMonitor",
    "History",
    "L1",
    "L2",
    "MomentumSGD",
    "Network",
    "NoRegularization",
    "Optimizer",
    "Regularizer",
    "SGD",
    "TrainingDiverged",
    "TrainingState",
    "WeightMonitor",
    "load_digits",
    "make_dataset",
    "make_optimizer",
    "make_regularizer",
    "soft_threshold",
    "train",
    "training_step",
]
