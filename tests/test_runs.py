"""nnreg.runs: what a run folder holds and who is training in it."""

import os
import time

from nnreg.runs import is_training, lock_run_folder


def test_a_held_lock_is_seen_and_a_released_one_is_not(tmp_path):
    held = lock_run_folder(tmp_path, create=False)
    assert is_training(tmp_path)
    held.close()
    assert not is_training(tmp_path)


def test_a_fifo_named_like_the_lock_is_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / ".lock")  # nothing writes into it: a blocking open would wait forever
    started = time.monotonic()
    assert not is_training(tmp_path)
    assert time.monotonic() - started < 1.0
