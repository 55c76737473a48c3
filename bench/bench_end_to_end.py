"""What users run, end to end: whole commands and scripts, start-up and data loading included.

1. ``nnreg train --data mnist --epochs E`` with the default monitors: the wall time of its
   epochs and of the whole command against the time of its training steps (from the run's
   own ``summary.json``), and the parts of an epoch (steps, monitors, checkpoint);
2. the book's chapter-3 script (``chapter3_script.py``) with all four monitors on: the
   book's own ``network2.py`` against ``nnreg.network2``, both fed by
   ``nnreg.mnist_loader`` through ``list(...)``;
3. the same with only the evaluation accuracy;
4. the peak resident memory of each (``ru_maxrss`` of that process alone, from ``wait4``);
5. start-up: ``nnreg --help`` and ``python -c "import nnreg"`` (best of several runs).

Every measurement is a fresh process. The two fronts run in alternation and each ratio is
the median of the ratios of the pairs, so a slow spell of the machine hits both sides; the
script outputs of the two fronts must agree (their accuracies and costs), else the timing
means nothing and the benchmark fails.

    NNREG_DATA=/path/to/data python bench/bench_end_to_end.py [--repeats 3] [--epochs 5]

writes ``docs/bench-end-to-end.json``. ``--quick`` (2,000 training images, one epoch, one
repeat) is the smoke test's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine, summary, write_json  # noqa: E402

HERE = Path(__file__).parent
SCRIPT = HERE / "chapter3_script.py"


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and standard output of one process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        # wait4 gives this child's own peak memory (ru_maxrss of RUSAGE_CHILDREN is the
        # largest of all children so far)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stdout


def train_command(env: dict[str, str], epochs: int, data: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        command = [sys.executable, "-m", "nnreg", "train", "--data", data]
        command += ["--epochs", str(epochs), "--out", str(out), "--quiet"]
        seconds, peak, _ = run(command, env)
        times = json.loads((out / "summary.json").read_text())["time"]
    return {"command": seconds, "peak_mib": peak, **times}


def chapter3(env, front: str, monitors: str, epochs: int, examples: int | None):
    command = [sys.executable, str(SCRIPT), front, monitors, str(epochs)]
    if examples:
        command.append(str(examples))
    seconds, peak, stdout = run(command, env)
    return {"seconds": seconds, "peak_mib": peak, "result": json.loads(stdout.splitlines()[-1])}


def startup(env, command: list[str], repeats: int) -> float:
    return min(run(command, env)[0] for _ in range(repeats))


def agree(a: list[list[float]], b: list[list[float]]) -> bool:
    """Same accuracies (counts) and costs to 1e-10 (relative)."""
    return all(
        len(x) == len(y) and all(abs(u - v) <= 1e-10 * max(1.0, abs(u)) for u, v in zip(x, y))
        for x, y in zip(a, b)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ ($NNREG_DATA)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of nnreg train")
    parser.add_argument("--book-epochs", type=int, default=2, help="epochs of the script")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 images")
    parser.add_argument("--json", type=Path, default=Path("docs/bench-end-to-end.json"))
    args = parser.parse_args()
    env = dict(os.environ)
    if args.data_dir:
        env["NNREG_DATA"] = str(args.data_dir)
    examples = 2000 if args.quick else None
    repeats = 1 if args.quick else args.repeats
    epochs = 1 if args.quick else args.epochs
    book_epochs = 1 if args.quick else args.book_epochs

    results: dict[str, object] = {"machine": machine(), "epochs": epochs}
    print("start-up …", flush=True)
    results["startup_seconds"] = {
        "nnreg --help": startup(env, [sys.executable, "-m", "nnreg", "--help"], 5),
        "import nnreg": startup(env, [sys.executable, "-c", "import nnreg"], 5),
    }
    print(f"nnreg train --data mnist --epochs {epochs} …", flush=True)
    trains = [train_command(env, epochs, "mnist") for _ in range(repeats)]
    results["nnreg_train"] = {
        "runs": trains,
        "epochs_over_training_steps": summary([t["epochs"] / t["training_steps"] for t in trains]),
        "command_over_training_steps": summary(
            [t["command"] / t["training_steps"] for t in trains]
        ),
    }
    for monitors in ("all", "accuracy"):
        print(f"chapter-3 script, monitors: {monitors} …", flush=True)
        pairs = []
        for repeat in range(repeats):
            order = ("nnreg", "book") if repeat % 2 == 0 else ("book", "nnreg")
            runs = {front: chapter3(env, front, monitors, book_epochs, examples) for front in order}
            if not agree(runs["nnreg"]["result"], runs["book"]["result"]):
                raise SystemExit(
                    f"the two fronts disagree ({monitors}): {runs['nnreg']['result']} vs "
                    f"{runs['book']['result']}; the timing means nothing"
                )
            pairs.append(runs)
        results[f"chapter3_{monitors}"] = {
            "seconds": {f: summary([p[f]["seconds"] for p in pairs]) for f in ("nnreg", "book")},
            "peak_mib": {f: max(p[f]["peak_mib"] for p in pairs) for f in ("nnreg", "book")},
            "speedup": summary([p["book"]["seconds"] / p["nnreg"]["seconds"] for p in pairs]),
            "memory_ratio": summary(
                [p["nnreg"]["peak_mib"] / p["book"]["peak_mib"] for p in pairs]
            ),
        }
    write_json(args.json, results)
    report(results, repeats, book_epochs)


def report(results: dict, repeats: int, book_epochs: int) -> None:
    train = results["nnreg_train"]
    runs = train["runs"]

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    epochs = results["epochs"]
    print()
    print(f"nnreg train --data mnist --epochs {epochs} (median of {repeats}):")
    print(
        f"  training steps {median('training_steps'):.2f} s, monitors {median('monitors'):.2f} s,"
        f" checkpoints {median('checkpoint'):.3f} s, epochs {median('epochs'):.2f} s, "
        f"whole command {median('command'):.2f} s, peak {median('peak_mib'):.0f} MiB"
    )
    print(
        f"  epochs ÷ training steps: {train['epochs_over_training_steps']['median']:.2f}×   "
        f"whole command ÷ training steps: {train['command_over_training_steps']['median']:.2f}×"
    )
    for monitors, title in (("all", "all four monitors"), ("accuracy", "evaluation accuracy")):
        row = results[f"chapter3_{monitors}"]
        print(f"chapter-3 script, {book_epochs} epochs, {title}:")
        print(
            f"  book {row['seconds']['book']['median']:.2f} s, "
            f"nnreg.network2 {row['seconds']['nnreg']['median']:.2f} s: "
            f"{row['speedup']['median']:.2f}× (pairs: {row['speedup']['min']:.2f}–"
            f"{row['speedup']['max']:.2f}×); peak memory book {row['peak_mib']['book']:.0f} MiB, "
            f"nnreg {row['peak_mib']['nnreg']:.0f} MiB ({row['memory_ratio']['median']:.2f}×)"
        )
    startup_seconds = results["startup_seconds"]
    print(
        f"start-up: nnreg --help {startup_seconds['nnreg --help']:.2f} s, "
        f"import nnreg {startup_seconds['import nnreg']:.2f} s (best of 5)"
    )


if __name__ == "__main__":
    main()
