"""``nnreg doctor --run`` on scripts that read the book's ``mnist.pkl.gz`` or Keras's
``mnist.npz``: missing, the doctor names the command that writes them; written by
``nnreg data export``, the script runs to its first update and is diagnosed."""

import json
import shutil

import pytest
from click.testing import CliRunner
from test_doctor_shapes import SHAPES, check

from nnreg.cli import main

SCRIPTS = {"book": SHAPES / "book_pickle", "keras": SHAPES / "keras_npz"}
FILES = {"book": "mnist.pkl.gz", "keras": "mnist.npz"}


def run(*arguments):
    return CliRunner().invoke(main, [*map(str, arguments)])


@pytest.mark.parametrize("format", list(SCRIPTS))
def test_a_missing_data_file_gets_the_command_that_writes_it(format, tmp_path):
    folder = tmp_path / "learner"
    shutil.copytree(SCRIPTS[format], folder)
    result = run("doctor", "--run", folder / "train.py")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    expected = f"nnreg data export --format {format} --out {folder / 'data'}"
    assert FILES[format] in message and expected in message, message


@pytest.mark.parametrize(
    "format",
    [pytest.param(f, marks=[pytest.mark.slow] if f == "book" else []) for f in SCRIPTS],
)  # the book's pickle of the full MNIST takes about 17 s: with the slow tests
def test_a_script_reading_the_exported_file_is_diagnosed(format, mnist_folder, tmp_path):
    folder = tmp_path / "learner"
    shutil.copytree(SCRIPTS[format], folder)
    data_dir = tmp_path / "nnreg-data"
    shutil.copytree(mnist_folder, data_dir / "mnist")
    exported = run(
        "data", "export", "--format", format, "--out", folder / "data", "--data-dir", data_dir
    )
    assert exported.exit_code == 0, exported.output
    result = run("doctor", "--run", folder / "train.py", "--json")
    check(SCRIPTS[format] / "train.py", result.exit_code, json.loads(result.output))
