"""The engine's speed against the book's loop, a plain NumPy step, PyTorch and the hardware.

Every implementation trains the same network (sigmoid hidden layer, cross-entropy on
sigmoid outputs) from the same initial weights, on the same MNIST images in the same
mini-batch order, for one epoch; their weights are compared afterwards, so a fast wrong
implementation cannot win. Reported: examples per second (min / median / max of the
repeats) and the ratios nnreg ÷ each, for [784, 30, 10] and [784, 100, 10], batch 10 /
100 / 1000, float64 and float32, with L2; at batch 10 also every other regularizer and
the ``network2`` front; the GEMM peak and the compute bound that follows from it; the
BLAS library and its threads; the peak memory of ``nnreg train`` on MNIST.

    python bench/bench_engine.py [--data-dir DIR] [--quick]

writes ``docs/performance.json`` and ``docs/performance-table.md``. ``--quick`` runs a
small subset on 2,000 images (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

import book_network2  # noqa: E402  the book's per-example code, kept with the tests
from harness import machine, summary, write_json  # noqa: E402

import nnreg  # noqa: E402
import nnreg.network2 as network2  # noqa: E402
from nnreg.datasets.dataset import Dataset  # noqa: E402
from nnreg.datasets.mnist import load_mnist  # noqa: E402

ETA, LMBDA, SEED = 0.5, 5.0, 0
IDLE_BEFORE_RUN = 0.5  # seconds: see measure_round_robin
REGULARIZER_REPEATS = 5  # interleaved epochs of the regularizers against L2


def flops_per_example(sizes: list[int]) -> int:
    """Forward Z = A·Wᵀ and backward δᵀ·A: 2·n_in·n_out each; δ·W above the first layer."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 4 * sum(products) + 2 * sum(products[1:])


def gemm_peak(dtype, size: int = 1500, repeats: int = 5) -> float:
    """GFLOP/s of the best of a few large matrix products."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size)).astype(dtype)
    b = rng.random((size, size)).astype(dtype)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


# -- the implementations: each trains one epoch from (weights, biases) in a given order ------


def run_nnreg(data, sizes, weights, biases, batch, regularizer):
    network = nnreg.Network.from_parameters([w.copy() for w in weights], [b.copy() for b in biases])
    nnreg.train(
        network,
        data,
        epochs=1,
        batch_size=batch,
        optimizer=nnreg.SGD(ETA),
        regularizer=regularizer,
        rng=SEED,
        monitors=[],
    )
    return network.weights


def time_regularizers_interleaved(data, weights, biases, batch, regularizers, block=100):
    """One epoch per regularizer, stepped in turns of ``block`` mini-batches (in a shuffled
    order each turn), so every regularizer meets the same spells of the machine: seconds
    of training per regularizer, and its final weights.

    The steps are exactly ``nnreg.train``'s (same gatherer, same ``training_step``, same
    order of examples), which the caller checks by comparing the weights.
    """
    from nnreg.training import BatchGatherer, TrainingState, training_step

    order = np.random.default_rng(SEED).permutation(len(data))
    runs = {}
    for name, regularizer in regularizers.items():
        network = nnreg.Network.from_parameters(
            [w.copy() for w in weights], [b.copy() for b in biases]
        )
        optimizer = nnreg.SGD(ETA)
        state = TrainingState(
            optimizer.init_state(network.weights + network.biases),
            regularizer.init_state(network.weights, network.biases),
            None,
        )
        gather = BatchGatherer(data.inputs, data.targets, data.input_divisor, network.dtype)
        runs[name] = (network, optimizer, regularizer, state, gather)
    seconds = dict.fromkeys(regularizers, 0.0)
    turns = np.random.default_rng(SEED)
    n = len(data)
    with np.errstate(over="ignore", invalid="ignore"):
        for first in range(0, n, batch * block):
            for name in turns.permutation(list(regularizers)):
                network, optimizer, regularizer, state, gather = runs[name]
                started = time.perf_counter()
                for start in range(first, min(first + batch * block, n), batch):
                    inputs, targets = gather(order[start : start + batch])
                    training_step(network, inputs, targets, optimizer, regularizer, n, state)
                seconds[name] += time.perf_counter() - started
    return seconds, {name: run[0].weights for name, run in runs.items()}


def run_plain_numpy(data, sizes, weights, biases, batch, order):
    """The baseline: a plain vectorized step, as a careful user would write it."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    n = len(data.inputs)
    decay = 1 - ETA * LMBDA / n
    for start in range(0, n, batch):
        rows = order[start : start + batch]
        x, y = data.inputs[rows], data.targets[rows]
        activations = [x]
        for w, b in zip(weights, biases):
            activations.append(expit(activations[-1] @ w.T + b))
        delta = (activations[-1] - y) / len(rows)
        for layer in range(len(weights) - 1, -1, -1):
            gradient = delta.T @ activations[layer]
            bias_gradient = delta.sum(axis=0)
            if layer:
                a = activations[layer]
                delta = (delta @ weights[layer]) * a * (1 - a)
            weights[layer] *= decay
            weights[layer] -= ETA * gradient
            biases[layer] -= ETA * bias_gradient
    return weights


def run_torch(data, sizes, weights, biases, batch, order):
    import torch

    dtype = torch.float64 if data.inputs.dtype == np.float64 else torch.float32
    layers = []
    for w, b in zip(weights, biases):
        linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers[:-1])
    linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    n = len(data.inputs)
    optimizer = torch.optim.SGD(
        [
            {"params": [l.weight for l in linears], "weight_decay": LMBDA / n},
            {"params": [l.bias for l in linears], "weight_decay": 0.0},
        ],
        lr=ETA,
    )
    inputs, targets = torch.from_numpy(data.inputs), torch.from_numpy(data.targets)
    rows = torch.from_numpy(order)
    loss_function = torch.nn.BCEWithLogitsLoss(reduction="sum")
    for start in range(0, n, batch):
        index = rows[start : start + batch]
        optimizer.zero_grad()
        loss = loss_function(model(inputs[index]), targets[index]) / len(index)
        loss.backward()
        optimizer.step()
    return [l.weight.detach().numpy() for l in linears]


def run_book(data, sizes, weights, biases, batch, order):
    net = book_network2.Network(sizes, cost=book_network2.CrossEntropyCost)
    net.weights = [w.copy() for w in weights]
    net.biases = [b.reshape(-1, 1).copy() for b in biases]
    columns = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(data.inputs, data.targets)]
    n = len(columns)
    for start in range(0, n, batch):
        net.update_mini_batch([columns[i] for i in order[start : start + batch]], ETA, LMBDA, n)
    return net.weights


def book_pairs(data, codes) -> network2.ExampleList:
    """The (x, y) columns the book's loader gives, as ``nnreg.mnist_loader`` hands them out
    (with the images' bytes, ``codes``)."""
    pairs = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(data.inputs, data.targets)]
    return network2.ExampleList(
        pairs,
        data.inputs,
        data.targets,
        codes.inputs if codes.coded else None,
        codes.input_divisor,
    )


def run_network2(pairs, sizes, weights, biases, batch, order):
    net = network2.Network(sizes)
    net.weights = [w.copy() for w in weights]
    net.biases = [b.reshape(-1, 1).copy() for b in biases]
    quiet, sys.stdout = sys.stdout, open("/dev/null", "w")  # noqa: SIM115  it prints per epoch
    try:
        random.seed(SEED)
        net.SGD(pairs, 1, batch, ETA, lmbda=LMBDA)
    finally:
        sys.stdout.close()
        sys.stdout = quiet
    return None  # its own (book) mini-batch order: checked against the book in the tests


# -- measuring -------------------------------------------------------------------------------


def measure_round_robin(jobs, repeats, reference="nnreg"):
    """Time every job ``repeats`` times, in rounds, after an untimed warm-up round; every
    timed run of another job is paired with a run of ``reference`` right before or after it
    (alternately), and the ratio of the two rates is taken within the pair.

    The machine's speed changes by up to half within seconds, in spells of a few seconds:
    two runs a second apart almost always see the same speed, two runs ten seconds apart
    often do not. So each comparison is a median over pairs of adjacent runs, not a ratio of
    medians taken at different moments.

    Each timed run starts after a pause of ``IDLE_BEFORE_RUN`` seconds: OpenBLAS's worker
    threads keep spinning for a while after a product, and NumPy and SciPy each bundle
    their own OpenBLAS, so the threads left spinning by one implementation (the plain step
    and PyTorch use NumPy's or their own BLAS, nnreg SciPy's) would otherwise take one of the
    two cores from the next one — up to half its speed at a mini-batch of 1000.

    The order of the jobs is shuffled (seeded) in every round, so a job is not always
    timed at the same point of a periodic slowdown of the machine.

    ``jobs`` maps a name to (run, args, examples). Returns per name the rates, the seconds
    of every run, the paired ratios (reference's rate ÷ this job's rate), and the result of
    the last run.
    """
    seconds = {name: [] for name in jobs}
    paired = {name: [] for name in jobs if name != reference}
    results = {name: run(*args) for name, (run, args, _) in jobs.items()}
    shuffle = np.random.default_rng(SEED)

    def timed(name):
        run, args, examples = jobs[name]
        time.sleep(IDLE_BEFORE_RUN)
        started = time.perf_counter()
        results[name] = run(*args)
        took = time.perf_counter() - started
        seconds[name].append(took)
        return examples / took

    turn = 0
    for _ in range(repeats):
        for name in shuffle.permutation(list(paired)):
            if turn % 2 == 0:
                ours = timed(reference)
                theirs = timed(name)
            else:
                theirs = timed(name)
                ours = timed(reference)
            paired[name].append(ours / theirs)
            turn += 1
    rows = {
        name: {
            "implementation": name,
            "examples_per_second": summary([jobs[name][2] / s for s in seconds[name]]),
            "seconds": seconds[name],
        }
        for name in jobs
    }
    for name, ratios in paired.items():
        rows[name]["paired_ratios"] = ratios
    return rows, results


def regularizer_rows(data, weights, biases, batch, regularizers, repeats):
    """Every regularizer against L2, interleaved (see ``time_regularizers_interleaved``):
    examples/s, and the median over the repeats of (its time ÷ L2's time). Each one's
    weights must equal those ``nnreg.train`` gives."""
    regularizers = {"L2": nnreg.L2(LMBDA), **regularizers}
    seconds = {name: [] for name in regularizers}
    time_regularizers_interleaved(data.head(2000), weights, biases, batch, regularizers)  # warm
    for _ in range(max(repeats, REGULARIZER_REPEATS)):
        took, final = time_regularizers_interleaved(data, weights, biases, batch, regularizers)
        for name, value in took.items():
            seconds[name].append(value)
    rows = {}
    for name, regularizer in regularizers.items():
        trained = run_nnreg(data, None, weights, biases, batch, regularizer)
        label = f"nnreg, {name}" + (" (timed with the regularizers)" if name == "L2" else "")
        rows[label] = {
            "implementation": label,
            "examples_per_second": summary([len(data) / t for t in seconds[name]]),
            "seconds": seconds[name],
            "l2_over_this": statistics.median(
                mine / theirs for mine, theirs in zip(seconds[name], seconds["L2"])
            ),
            "max_weight_difference": agree(trained, final[name]),
            "same_as_train": all(np.array_equal(a, b) for a, b in zip(trained, final[name])),
        }
    return rows


def agree(reference, other) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(reference, other))


def case(data, sizes, batch, dtype, repeats, with_torch, book_examples, extra_regularizers):
    rng = np.random.default_rng(SEED)
    init = nnreg.Network(sizes, rng=rng, dtype=dtype)
    weights, biases = init.weights, init.biases
    typed = data.astype(np.dtype(dtype))  # nnreg keeps MNIST's bytes and converts per batch
    # the other implementations get the float matrix a user of theirs would hold
    floats = Dataset(typed.float_inputs(np.dtype(dtype)), typed.targets, typed.labels)
    n = len(typed)
    order = np.random.default_rng(SEED).permutation(n)  # the order nnreg.train(rng=SEED) uses
    common = (sizes, weights, biases, batch)
    jobs = {
        "nnreg": (run_nnreg, (typed, *common, nnreg.L2(LMBDA)), n),
        "plain NumPy step": (run_plain_numpy, (floats, *common, order), n),
    }
    if with_torch:
        jobs["PyTorch autograd + optim.SGD"] = (run_torch, (floats, *common, order), n)
    book_check = None
    if batch == 10 and dtype == "float64" and book_examples:
        sub_order = np.random.default_rng(SEED).permutation(book_examples)
        jobs["book per-example loop"] = (
            run_book,
            (floats.head(book_examples), *common, sub_order),
            book_examples,
        )
        jobs["nnreg.network2 front"] = (
            run_network2,
            (book_pairs(floats, typed), *common, order),
            n,
        )
        book_check = run_nnreg(typed.head(book_examples), *common, nnreg.L2(LMBDA))
    rows, results = measure_round_robin(jobs, repeats)
    if extra_regularizers:
        rows.update(regularizer_rows(typed, weights, biases, batch, extra_regularizers, repeats))
    tolerance = 1e-8 if dtype == "float64" else 2e-3
    for name in ("plain NumPy step", "PyTorch autograd + optim.SGD", "book per-example loop"):
        if name in rows:
            reference = book_check if name.startswith("book") else results["nnreg"]
            rows[name]["max_weight_difference"] = agree(reference, results[name])
    if "book per-example loop" in rows:
        rows["book per-example loop"]["examples"] = book_examples
    for row in rows.values():
        row["agrees"] = bool(
            row.get("max_weight_difference", 0.0) <= tolerance and row.get("same_as_train", True)
        )
        # the median over pairs of adjacent runs (see measure_round_robin); 1 for nnreg
        row["ratio_nnreg_over_this"] = statistics.median(row.get("paired_ratios", [1.0]))
    return {"sizes": sizes, "batch": batch, "dtype": dtype, "rows": list(rows.values())}


PEAK_MEMORY_PROBE = """
import sys
from nnreg.cli import main
sys.argv = ["nnreg", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    if stop.code:
        raise
# VmHWM: this process's own peak resident memory (ru_maxrss would also count the parent's
# pages the child held between fork and exec)
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024)
"""


def peak_memory_of_nnreg_train(data_dir) -> dict[str, float]:
    """Peak resident memory of `nnreg train --data mnist --epochs 1` in a fresh process."""
    arguments = [
        "train",
        "--data",
        "mnist",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        f"/tmp/nnreg-bench-{time.time_ns()}",
    ]
    if data_dir:
        arguments += ["--data-dir", str(data_dir)]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_PROBE, *arguments],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_bytes = int(result.stdout.split()[-1])
    data_bytes = 50_000 * 784 * 8
    return {
        "peak_rss_mib": peak_bytes / 2**20,
        "training_set_float64_mib": data_bytes / 2**20,
        "ratio": peak_bytes / data_bytes,
    }


def markdown(results) -> str:
    lines = [
        "| sizes | batch | dtype | implementation | examples/s (median) | min – max | "
        "nnreg ÷ this (median over paired runs) | weights agree |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in results["cases"]:
        for row in item["rows"]:
            rate = row["examples_per_second"]
            agrees = (
                "—"
                if "max_weight_difference" not in row
                else (f"{'yes' if row['agrees'] else 'NO'} ({row['max_weight_difference']:.1e})")
            )
            ratio = (
                f"{row['ratio_nnreg_over_this']:.2f}×"
                if "l2_over_this" not in row
                else f"time ÷ L2's: {row['l2_over_this']:.2f}×"
            )
            lines.append(
                f"| {item['sizes']} | {item['batch']} | {item['dtype']} | {row['implementation']} "
                f"| {rate['median']:,.0f} | {rate['min']:,.0f} – {rate['max']:,.0f} | "
                f"{ratio} | {agrees} |"
            )
    bound = results["compute_bound"]
    lines += [
        "",
        "| dtype | GEMM peak, best of the run (GFLOP/s) | its measurements | compute bound "
        "[784, 30, 10] / [784, 100, 10] (examples/s) |",
        "|---|---|---|---|",
    ]
    for dtype in ("float64", "float32"):
        measured = bound[dtype].get("gflops_measured", [bound[dtype]["gflops"]])
        lines.append(
            f"| {dtype} | {bound[dtype]['gflops']:.1f} | {min(measured):.0f} – "
            f"{max(measured):.0f} | {bound[dtype]['examples_per_second_784_30_10']:,.0f} / "
            f"{bound[dtype]['examples_per_second_784_100_10']:,.0f} |"
        )
    lines += [
        "",
        "| sizes | batch | dtype | nnreg (examples/s) | share of the compute bound |",
        "|---|---|---|---|---|",
    ]
    for item in results["cases"]:
        lines.append(
            f"| {item['sizes']} | {item['batch']} | {item['dtype']} | "
            f"{item['rows'][0]['examples_per_second']['median']:,.0f} | "
            f"{item['fraction_of_compute_bound']:.1%} |"
        )
    if "memory" in results:
        memory = results["memory"]
        lines += [
            "",
            f"Peak memory of `nnreg train --data mnist --epochs 1`: "
            f"{memory['peak_rss_mib']:.0f} MiB = {memory['ratio']:.2f}× the 50,000 "
            f"training images in float64 ({memory['training_set_float64_mib']:.0f} MiB).",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="a small subset, for the smoke test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
        print("PyTorch not installed: its rows are skipped (pip install 'nnreg[torch]')")
    mnist = load_mnist(args.data_dir)["training"]
    if args.quick:
        mnist = mnist.head(2000)
        grid = [([784, 30, 10], 10, "float64"), ([784, 30, 10], 100, "float32")]
        repeats, book_examples = 1, 500
    else:
        grid = [
            (sizes, batch, dtype)
            for sizes in ([784, 30, 10], [784, 100, 10])
            for batch in (10, 100, 1000)
            for dtype in ("float64", "float32")
        ]
        repeats, book_examples = args.repeats, 10_000
    extra = {
        "L1 subgradient": nnreg.L1(LMBDA),
        "L1 proximal": nnreg.L1(LMBDA, method="proximal"),
        "L1 cumulative": nnreg.L1(LMBDA, method="cumulative"),
        "elastic net": nnreg.ElasticNet(LMBDA, LMBDA),
        "decoupled": nnreg.DecoupledWeightDecay(LMBDA),
        "none": nnreg.NoRegularization(),
    }
    results = {"machine": machine(), "examples": len(mnist), "cases": []}
    # The GEMM peak is measured before every case and the best value of the run is the
    # hardware limit: a slow spell of the machine during one measurement must not lower
    # the bound (and so flatter the engine's share of it).
    peak_runs = {dtype: [] for dtype in ("float64", "float32")}
    for sizes, batch, dtype in grid:
        for kind in peak_runs:
            peak_runs[kind].append(gemm_peak(kind))
        first = sizes == [784, 30, 10] and batch == 10 and dtype == "float64"
        item = case(
            mnist, sizes, batch, dtype, repeats, with_torch, book_examples, extra if first else None
        )
        results["cases"].append(item)
        print(
            f"{sizes} batch {batch:>4} {dtype}: nnreg "
            f"{item['rows'][0]['examples_per_second']['median']:,.0f} examples/s, "
            + ", ".join(
                f"{r.get('l2_over_this', r['ratio_nnreg_over_this']):.2f}× {r['implementation']}"
                for r in item["rows"][1:]
            ),
            flush=True,
        )
    peaks = {dtype: max(values) for dtype, values in peak_runs.items()}
    results["compute_bound"] = {
        dtype: {
            "gflops": peak,
            "gflops_measured": peak_runs[dtype],
            "examples_per_second_784_30_10": peak * 1e9 / flops_per_example([784, 30, 10]),
            "examples_per_second_784_100_10": peak * 1e9 / flops_per_example([784, 100, 10]),
        }
        for dtype, peak in peaks.items()
    }
    for item in results["cases"]:
        rate = item["rows"][0]["examples_per_second"]["median"]
        flops = flops_per_example(item["sizes"]) * rate
        item["fraction_of_compute_bound"] = flops / (peaks[item["dtype"]] * 1e9)
    if not args.quick:
        results["memory"] = peak_memory_of_nnreg_train(args.data_dir)
    write_json(args.out / "performance.json", results)
    (args.out / "performance-table.md").write_text(markdown(results))
    failures = [
        (item["sizes"], item["batch"], item["dtype"], row["implementation"])
        for item in results["cases"]
        for row in item["rows"]
        if not row["agrees"]
    ]
    if failures:
        print("implementations disagree on the weights:", failures)
        return 1
    print(f"wrote {args.out / 'performance.json'} and {args.out / 'performance-table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
