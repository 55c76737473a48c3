"""``nnreg`` as a subprocess that pauses at a chosen moment, printing PAUSED, so a test can
SIGKILL it exactly there. NNREG_TEST_PAUSE is one of

* ``step:N``: after N mini-batch steps of this process (N small: inside the first epoch);
* ``checkpoint-temp:K``: while the K-th checkpoint of this process is being written to its
  temporary file (before it is renamed);
* ``checkpoint-rename:K``: between the two renames of the K-th checkpoint write (the old
  checkpoint already moved to checkpoint.previous.npz, the new one not yet in place).
"""

import os
import sys
import time

import nnreg.checkpoints
import nnreg.cli


def pause():
    print("PAUSED", flush=True)
    time.sleep(60)


def main():
    kind, _, count = os.environ.get("NNREG_TEST_PAUSE", "").partition(":")
    target = int(count or 0)
    seen = {"steps": 0, "checkpoints": 0}
    if kind == "step":
        on_steps = nnreg.cli.EpochPrinter.on_steps

        def counting(self, steps):
            on_steps(self, steps)
            seen["steps"] += steps
            if seen["steps"] >= target:
                pause()

        nnreg.cli.EpochPrinter.on_steps = counting
    elif kind in ("checkpoint-temp", "checkpoint-rename"):
        write_atomically, replace = nnreg.checkpoints.atomic_write_bytes, os.replace

        def writing(path, write, keep_previous=None):
            if path.name != nnreg.checkpoints.CHECKPOINT:
                return write_atomically(path, write, keep_previous)
            seen["checkpoints"] += 1
            if seen["checkpoints"] != target:
                return write_atomically(path, write, keep_previous)
            if kind == "checkpoint-temp":

                def write_then_pause(handle):
                    write(handle)
                    handle.flush()
                    pause()

                return write_atomically(path, write_then_pause, keep_previous)

            def replace_then_pause(source, destination):
                replace(source, destination)
                if str(destination).endswith(nnreg.checkpoints.PREVIOUS_CHECKPOINT):
                    pause()

            nnreg.checkpoints.os.replace = replace_then_pause
            try:
                return write_atomically(path, write, keep_previous)
            finally:
                nnreg.checkpoints.os.replace = replace

        nnreg.checkpoints.atomic_write_bytes = writing
    sys.argv = ["nnreg", *sys.argv[1:]]
    nnreg.cli.run()


if __name__ == "__main__":
    main()
