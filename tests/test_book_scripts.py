"""The book's own scripts, with only the two import lines changed, run on real MNIST."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
    import random
    import numpy as np
    from nnreg import mnist_loader
    import nnreg.network2 as network2

    np.random.seed({seed})
    random.seed({seed})
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.SGD(training_data, {epochs}, 10, 0.5, lmbda=5.0, evaluation_data={evaluation},
            monitor_evaluation_accuracy=True)
"""


def start_book_script(mnist_folder, epochs, evaluation="validation_data", seed=0):
    script = textwrap.dedent(SCRIPT.format(epochs=epochs, evaluation=evaluation, seed=seed))
    environment = {**os.environ, "NNREG_DATA": str(mnist_folder.parent)}
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def accuracies_of(process, epochs):
    stdout, stderr = process.communicate(timeout=1800)
    assert process.returncode == 0, stderr
    counts = re.findall(r"Accuracy on evaluation data: (\d+) / 10000", stdout)
    assert len(counts) == epochs and "Epoch 0 training complete" in stdout
    return [int(c) / 10_000 for c in counts]


def run_book_script(mnist_folder, epochs, evaluation="validation_data", seed=0):
    return accuracies_of(start_book_script(mnist_folder, epochs, evaluation, seed), epochs)


def test_book_script_learns_mnist_in_its_first_epochs(mnist_folder):
    accuracies = run_book_script(mnist_folder, epochs=2)
    assert accuracies[0] >= 0.935  # 93.6–94.8 % over seeds 0–5 after one epoch
    assert accuracies[1] >= 0.95


@pytest.mark.slow
def test_chapter_3_setup_reaches_96_percent_best_test_accuracy(mnist_folder):
    # The book: best epoch 96.49 %, last epoch 95.61 %. The best epoch varies with the seed
    # (95.6–96.3 % seen), so three seeds run side by side and their median is checked.
    processes = [start_book_script(mnist_folder, 30, "test_data", seed) for seed in (0, 1, 2)]
    best = sorted(max(accuracies_of(p, 30)) for p in processes)
    assert best[1] >= 0.96
    assert best[0] >= 0.955
