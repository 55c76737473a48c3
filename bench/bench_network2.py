"""One epoch of ``nnreg.network2`` against the book's per-example ``network2.py``.

Same MNIST training images, same initial weights, same mini-batch order (the same
seeds for ``np.random`` and ``random``); [784, 30, 10], cross-entropy, η = 0.5,
λ = 5.0, mini-batch 10. Reports examples per second, the ratio nnreg ÷ book, and checks
that both end with the same weights.

    python bench/bench_network2.py [--data-dir DIR] [--examples N] [--repeats R]

The data folder defaults to $NNREG_DATA (MNIST in its mnist/ subfolder).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

import book_network2  # noqa: E402  the reference, kept with the tests
from harness import machine, summary, timings, write_json  # noqa: E402

import nnreg.network2 as network2  # noqa: E402
from nnreg import mnist_loader  # noqa: E402


def one_epoch(module, training_data, seed: int):
    np.random.seed(seed)
    random.seed(seed)
    net = module.Network([784, 30, 10], cost=module.CrossEntropyCost)
    net.SGD(training_data, 1, 10, 0.5, lmbda=5.0)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("docs/bench-network2.json"))
    args = parser.parse_args()
    training_data = mnist_loader.load_data_wrapper(args.data_dir)[0]
    if args.examples < len(training_data):
        training_data = training_data[: args.examples]
    quiet = open("/dev/null", "w")  # noqa: SIM115  both print a line per epoch
    stdout, sys.stdout = sys.stdout, quiet
    try:
        # Alternate the two so that a slow spell of the machine hits both alike; the ratio
        # of each pair is what is reported.
        pairs = [
            (
                timings(lambda: one_epoch(network2, training_data, 0), 1)["min"],
                timings(lambda: one_epoch(book_network2, training_data, 0), 1)["min"],
            )
            for _ in range(args.repeats)
        ]
        a, b = one_epoch(network2, training_data, 0), one_epoch(book_network2, training_data, 0)
    finally:
        sys.stdout = stdout
    ours = summary([p[0] for p in pairs])
    book = summary([p[1] for p in pairs])
    ratios = summary([p[1] / p[0] for p in pairs])
    difference = max(float(np.abs(x - y).max()) for x, y in zip(a.weights, b.weights))
    n = len(training_data)
    result = {
        "examples": n,
        "nnreg_network2_examples_per_second": n / ours["min"],
        "book_examples_per_second": n / book["min"],
        "ratio": ratios,
        "seconds": {"nnreg.network2": ours, "book": book},
        "max_weight_difference": difference,
        "machine": machine(),
    }
    write_json(args.json, result)
    print(f"one epoch of {n} images, [784, 30, 10], batch 10, L2 λ=5")
    print(f"  book per-example loop: {n / book['min']:10.0f} examples/s")
    print(f"  nnreg.network2:        {n / ours['min']:10.0f} examples/s")
    print(
        f"  ratio nnreg ÷ book:    {ratios['median']:.2f}× (median of {args.repeats} "
        f"alternating pairs; min {ratios['min']:.2f}×, max {ratios['max']:.2f}×)"
    )
    print(f"  weights agree to {difference:.1e}")
    if difference > 1e-10:
        sys.exit("the two implementations disagree: the timing means nothing")


if __name__ == "__main__":
    main()
