"""``nnreg.doctor.check(net)`` and ``%nnreg_doctor net`` on a network built in a real notebook
kernel — whose cells are on no disk: the same verdict as ``nnreg doctor`` on the same code,
the learner's object and random state unchanged bit for bit."""

import json
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from kernel import execute, text_of  # noqa: E402
from test_doctor_setting import SCRIPT  # noqa: E402

from nnreg.cli import main  # noqa: E402
from nnreg.doctor import DoctorError, check  # noqa: E402

SHAPES = Path(__file__).parent / "doctor_gallery_shapes"
NETWORK_CELL = SCRIPT.split('if __name__ == "__main__":')[0]  # the book's shape, λ/m
COLAB = json.loads((SHAPES / "notebook_colab_penalty_over_n_and_m.ipynb").read_text())
FUNCTIONS_CELL = "".join(COLAB["cells"][3]["source"])  # a dict of arrays, free functions

SETUP = """
import copy, json, random
import numpy as np
import nnreg.doctor
"""
BUILD = """
net = Network([784, 30, 10])
params = init_params([784, 64, 10])
np.random.seed(5)
random.seed(3)
before = copy.deepcopy((np.random.get_state(), random.getstate(), net.__dict__, params))


def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def unchanged():
    return same(before, (np.random.get_state(), random.getstate(), net.__dict__, params))
"""
CHECK = """
found = {}
for name, network in (("net", net), ("params", params)):
    diagnosis = nnreg.doctor.check(network)
    found[name] = {
        "mistakes": sorted(f.code for f in diagnosis.mistakes),
        "places": [place for f in diagnosis.mistakes for place, _ in f.lines],
        "exit": diagnosis.exit_code,
    }
found["unchanged"] = unchanged()
print(json.dumps(found))
"""
MAGIC = [
    "%load_ext nnreg",
    "%nnreg_doctor net",
    "%nnreg_doctor params --timeout 60",
    "%nnreg_doctor no_such_network",
    "print(json.dumps({'unchanged': unchanged()}))",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    cells = [SETUP, NETWORK_CELL, FUNCTIONS_CELL, BUILD, CHECK, *MAGIC]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    )
    executed = execute(notebook, folder, timeout=180)
    return folder, executed.cells


def command_verdict(tmp_path: Path, *cells: str) -> dict:
    """``nnreg doctor`` on a notebook file of the same cells."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in (SETUP, *cells)]
    )
    path = tmp_path / "same_code.ipynb"
    nbformat.write(notebook, path)
    result = CliRunner().invoke(main, ["doctor", str(path), "--json"])
    report = json.loads(result.output)
    mistakes = sorted(f["code"] for f in report["findings"] if f["kind"] == "mistake")
    return {"mistakes": mistakes, "exit": result.exit_code}


def test_check_gives_the_commands_verdict_on_a_live_object_and_a_live_dict(ran, tmp_path):
    _, cells = ran
    found = json.loads(text_of(cells[4]))
    for name, cell in (("net", NETWORK_CELL), ("params", FUNCTIONS_CELL)):
        command = command_verdict(tmp_path, cell)
        assert command["exit"] == 1 and command["mistakes"], command
        assert {k: found[name][k] for k in ("mistakes", "exit")} == command, (name, found)
    assert found["net"]["mistakes"] == ["lambda-over-m"]
    assert found["params"]["mistakes"] == ["penalty-over-n-and-m"]
    # the cells are on no disk: each line is placed by its cell's execution number
    first = next(
        number
        for number, line in enumerate(textwrap.dedent(NETWORK_CELL).strip().splitlines(), 1)
        if "self.weights = [(1 - eta * lmbda / m)" in line
    )
    assert found["net"]["places"] == [f"In [2], lines {first}–{first + 1}"]
    assert found["params"]["places"][0].startswith("In [3], line ")


def test_the_learners_object_and_random_state_are_unchanged_bit_for_bit(ran):
    _, cells = ran
    assert json.loads(text_of(cells[4]))["unchanged"] is True
    assert json.loads(text_of(cells[-1]))["unchanged"] is True  # after the magics too


def test_the_magic_shows_the_diagnosis_and_says_what_is_wrong_without_a_traceback(ran):
    _, cells = ran
    shown = text_of(cells[6])
    assert "[MISTAKE] λ is divided by the mini-batch size m" in shown
    assert re.search(
        r"In \[2\], lines \d+–\d+ \| self\.weights = \[\(1 - eta \* lmbda / m\)", shown
    )
    assert "diagnosed a copy of your Network, at its own sizes" in shown
    assert "[MISTAKE] The penalty is divided by m as well as by n" in text_of(cells[7])
    missing = text_of(cells[8])
    assert "%nnreg_doctor: no_such_network is not defined here (NameError" in missing
    assert all(o.get("output_type") != "error" for cell in cells for o in cell.get("outputs", []))


def test_the_kernel_folder_is_left_as_it_was(ran):
    folder, _ = ran
    assert sorted(p.name for p in folder.iterdir()) == ["jupyter"]


def test_check_outside_a_notebook_refuses_a_path_and_an_unpicklable_network(tmp_path):
    with pytest.raises(DoctorError, match=r"takes your network object.*diagnose\('PATH\.py'\)"):
        check("network.py")

    class Holder:
        def __init__(self):
            self.weights = [np.ones((4, 3)), np.ones((2, 4))]
            self.log = open(tmp_path / "log.txt", "w")  # noqa: SIM115 - the point of the test

    with pytest.raises(DoctorError, match="cannot be copied for the doctor"):
        check(Holder())


def test_a_network_with_no_weights_is_told_so():
    class Empty:
        def update(self, mini_batch, eta, lmbda, n):
            pass

    with pytest.raises(DoctorError, match="holds no chain of weight matrices"):
        check(Empty())


def test_a_network_that_loops_forever_is_stopped_at_the_time_limit():
    class Forever:
        def __init__(self):
            self.weights = [np.ones((4, 3)), np.ones((2, 4))]
            self.biases = [np.zeros((4, 1)), np.zeros((2, 1))]

        def update_mini_batch(self, mini_batch, eta, lmbda, n):
            while True:
                pass

    with pytest.raises(DoctorError, match=r"did not finish within 2 s.*timeout=SECONDS"):
        check(Forever(), timeout=2)
    assert "sys" in globals() and sys.modules["numpy"] is np  # nothing of ours was replaced
