"""Data sets: the engine's ``Dataset`` container and loaders."""

from nnreg.datasets.dataset import Dataset, make_dataset
from nnreg.datasets.digits import load_digits

__all__ = ["Dataset", "make_dataset", "load_digits"]
