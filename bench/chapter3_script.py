"""The book's chapter-3 script as learners write it, for ``bench_end_to_end.py``.

    python bench/chapter3_script.py book|nnreg all|accuracy EPOCHS [EXAMPLES]

``book`` runs the book's own ``network2.py`` (kept with the tests), ``nnreg`` the drop-in
``nnreg.network2``; both read MNIST with ``nnreg.mnist_loader`` (from $NNREG_DATA) and get
their data through ``list(...)``. ``all`` turns the four monitors on, ``accuracy`` only
the evaluation accuracy. The last line printed is the JSON of what ``SGD`` returned, so
the benchmark can check that both fronts computed the same thing.
"""

import json
import random
import sys
from pathlib import Path

import numpy as np

front, monitors, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
examples = int(sys.argv[4]) if len(sys.argv) > 4 else None
if front == "book":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import book_network2 as network2
else:
    import nnreg.network2 as network2
from nnreg import mnist_loader  # noqa: E402  after the choice of front

training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
training_data = list(training_data)[:examples]
validation_data = list(validation_data)
random.seed(0)
np.random.seed(0)
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
everything = monitors == "all"
result = net.SGD(
    training_data,
    epochs,
    10,
    0.5,
    lmbda=5.0,
    evaluation_data=validation_data,
    monitor_evaluation_accuracy=True,
    monitor_evaluation_cost=everything,
    monitor_training_cost=everything,
    monitor_training_accuracy=everything,
)
print(json.dumps([[float(value) for value in values] for values in result]))
