"""``nnreg doctor --run`` on a PyTorch training script, timed as a learner runs it: the whole
command (start-up, PyTorch's import, the child process, the script up to its first step, the
measurements, the report) against ``python`` running the same 3-epoch script to its end, and
against ``python -c "import torch"`` alone.

    python bench/bench_doctor_torch.py [--repeats R] [--json PATH]

The script is ``tests/doctor_gallery_torch/sgd_param_groups_correct.py``: a 64-32-10 MLP on
scikit-learn's digits, 3 epochs, SGD with weight_decay on the weights' group.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import machine, timings, write_json  # noqa: E402

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "tests" / "doctor_gallery_torch" / "sgd_param_groups_correct.py"


def run(command: list[str], expected: int = 0) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=SCRIPT.parent)
    if result.returncode != expected:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    python = sys.executable
    results = {
        "doctor --run (whole command)": timings(
            lambda: run([python, "-m", "nnreg", "doctor", "--run", str(SCRIPT)]), args.repeats
        ),
        "python script.py (3 epochs)": timings(lambda: run([python, str(SCRIPT)]), args.repeats),
        "python -c 'import torch'": timings(
            lambda: run([python, "-c", "import torch"]), args.repeats
        ),
    }
    doctor = results["doctor --run (whole command)"]["median"]
    for name, seconds in results.items():
        ratio = doctor / seconds["median"]
        print(
            f"{name:32s} median {seconds['median']:6.2f} s  (min {seconds['min']:.2f}, "
            f"max {seconds['max']:.2f})  doctor ÷ this = {ratio:.2f}"
        )
    if args.json:
        write_json(args.json, {"machine": machine(), "seconds": results})


if __name__ == "__main__":
    main()
