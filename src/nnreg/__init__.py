"""nnreg: feedforward neural networks with regularization done exactly right and made visible."""

import importlib as _importlib

_HOMES = {
    "nnreg.activity": ["ActivityRegularizer"],
    "nnreg.callbacks": [
        "EarlyStopping",
        "HalveLearningRate",
        "LivePlot",
        "ProgressBar",
        "RunFolder",
    ],
    "nnreg.combined": ["Combined"],
    "nnreg.constraints": ["MaxNorm"],
    "nnreg.datasets": ["Dataset", "load_digits", "make_dataset"],
    "nnreg.datasets.download": ["DownloadError"],
    "nnreg.dropout": ["Dropout"],
    "nnreg.monitors": ["CostMonitor", "GradientShareMonitor", "WeightMonitor"],
    "nnreg.network": ["Network"],
    "nnreg.network_files": ["load_network"],
    "nnreg.plots": ["plot"],
    "nnreg.notebook": ["show"],
    "nnreg.optimizers": ["SGD", "MomentumSGD", "Optimizer", "make_optimizer"],
    "nnreg.regularizers": [
        "L1",
        "L2",
        "DecoupledWeightDecay",
        "ElasticNet",
        "NoRegularization",
        "Regularizer",
        "make_regularizer",
        "soft_threshold",
    ],
    "nnreg.training": [
        "Callback",
        "History",
        "TrainingDiverged",
        "TrainingState",
        "train",
        "training_step",
    ],
}
"""Where each public name lives: imported on first use, so ``import nnreg`` (and every
command, such as the doctor's child process) loads only the modules it needs."""
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'nnreg' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (each once, whether loaded yet or not) and the module's dunders."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def load_ipython_extension(ipython) -> None:
    """``%load_ext nnreg``: adds the ``%nnreg_doctor net`` line magic (see
    :mod:`nnreg.magics`)."""
    from nnreg.magics import register

    register(ipython)


__version__ = "0.1.0"

__all__ = [
    "ActivityRegularizer",
    "Combined",
    "Dropout",
    "MaxNorm",
    "Callback",
    "CostMonitor",
    "EarlyStopping",
    "HalveLearningRate",
    "LivePlot",
    "ProgressBar",
    "RunFolder",
    "Dataset",
    "DecoupledWeightDecay",
    "DownloadError",
    "ElasticNet",
    "GradientShareMonitor",
    "History",
    "L1",
    "L2",
    "MomentumSGD",
    "Network",
    "load_network",
    "plot",
    "show",
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
