"""The doctor loads real learner code whatever its shape, and runs it in a child process
that it always stops: every hostile module ends with a clear message and exit 2, nothing
left running and nothing written next to the learner's file."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.doctor import diagnose
from nnreg.doctor.notebooks import read_notebook
from nnreg.doctor.parameters import find_parameters
from nnreg.doctor.report import Finding

GALLERY = Path(__file__).parent / "doctor_gallery"
BOOK = GALLERY / "loop_l2_correct.py"
UPDATE = "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n"


def run_doctor(*arguments):
    return CliRunner().invoke(main, ["doctor", *map(str, arguments)])


def report(*arguments) -> tuple[int, dict]:
    result = run_doctor(*arguments, "--json")
    return result.exit_code, json.loads(result.output)


def fingerprint(folder: Path) -> dict:
    return {
        path.relative_to(folder): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    } | {path.relative_to(folder): "folder" for path in folder.rglob("*") if path.is_dir()}


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed process whose parent has not yet reaped it)."""
    if Path("/proc/self").is_dir():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def none_running(pids: list[int], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def with_update_body(lines: str, source: str | None = None) -> str:
    """The book's correct learner with ``lines`` run first in its update."""
    return (source or BOOK.read_text()).replace(UPDATE, UPDATE + lines)


# -- shapes: each is the book's correct L2 rule, so the verdict is exit 0 ---------------------
SHAPES = {
    "shape_sibling_import/network.py": [],
    "shape_sibling_import/train.py": ["Network is defined in network.py, which train.py imports"],
    "shape_extra_mu.py": ["argument mu was set to 0 (momentum off)"],
    "shape_method_names.py": [],
    "shape_lambda_on_object.py": ["λ is read from self.lmbda", "n is read from self.n"],
    "shape_bias_singular.py": [],
    "shape_W_B_lists.py": [],
    "shape_weights_tuples.py": [],
    "shape_layer_objects.py": [],
    "shape_notebook.ipynb": ["imports and definitions only; 4 others were not run"],
}


@pytest.mark.parametrize("name", list(SHAPES), ids=[n.split(".")[0] for n in SHAPES])
def test_each_learner_shape_is_loaded_and_its_correct_rule_found_correct(name):
    folder = GALLERY / Path(name).parent
    before = fingerprint(folder)
    exit_code, data = report(GALLERY / name)
    assert exit_code == 0, data
    assert [f["code"] for f in data["findings"] if f["kind"] == "mistake"] == []
    assert data["rule_found"] == data["correct_rule"]
    for note in SHAPES[name]:
        assert any(note in text for text in data["notes"]), data["notes"]
    assert fingerprint(folder) == before  # no __pycache__ next to the sibling module either


def test_the_update_and_gradient_methods_found_by_behaviour_are_the_ones_probed(tmp_path):
    """Not dividing the summed gradient by m is seen through `matrix_gradients`, a name the
    doctor does not know: the probes substituted the method the trial update called."""
    learner = tmp_path / "learner.py"
    source = (GALLERY / "shape_method_names.py").read_text()
    learner.write_text(source.replace("- (eta / m) * nabla_w[i]", "- eta * nabla_w[i]"))
    exit_code, data = report(learner)
    assert exit_code == 1
    assert {f["code"] for f in data["findings"] if f["kind"] == "mistake"} == {
        "gradient-not-averaged"
    }


@pytest.mark.parametrize(
    "gallery, old, new",
    [
        ("shape_lambda_on_object.py", "self.lmbda / self.n", "self.lmbda / len(batch)"),
        ("shape_extra_mu.py", "eta * (lmbda / n) * w", "eta * (lmbda / m) * w"),
    ],
)
def test_lambda_and_n_are_varied_where_they_live(gallery, old, new, tmp_path):
    learner = tmp_path / "learner.py"
    learner.write_text((GALLERY / gallery).read_text().replace(old, new))
    exit_code, data = report(learner)
    assert exit_code == 1
    assert {f["code"] for f in data["findings"] if f["kind"] == "mistake"} == {"lambda-over-m"}


def test_an_unknown_extra_argument_is_given_0_and_the_report_says_so(tmp_path):
    learner = tmp_path / "learner.py"
    learner.write_text(
        BOOK.read_text().replace(
            "update_mini_batch(self, mini_batch, eta, lmbda, n)",
            "update_mini_batch(self, mini_batch, eta, lmbda, n, epoch)",
        )
    )
    result = run_doctor(learner)
    assert result.exit_code == 0, result.output
    assert "How the doctor called your code:" in result.output
    assert "update_mini_batch's argument epoch was set to 0" in result.output


def test_the_learners_folder_is_the_working_directory_and_first_on_the_path(tmp_path):
    folder = tmp_path / "homework"
    folder.mkdir()
    (folder / "sizes.txt").write_text("3 4 2\n")
    (folder / "helpers.py").write_text(
        "SIZES = [int(s) for s in open('sizes.txt').read().split()]\n"
    )
    (folder / "learner.py").write_text("from helpers import SIZES\n" + BOOK.read_text())
    before = fingerprint(folder)
    result = run_doctor(folder / "learner.py")
    assert result.exit_code == 0, result.output
    assert fingerprint(folder) == before


def test_notebook_findings_point_to_cell_and_line(tmp_path):
    notebook = tmp_path / "homework.ipynb"
    notebook.write_text(
        (GALLERY / "shape_notebook.ipynb")
        .read_text()
        .replace("(1 - eta * (lmbda / n))", "(1 - eta * (lmbda / len(mini_batch)))")
    )
    result = run_doctor(notebook)
    assert result.exit_code == 1, result.output
    # the statement is quoted whole, over its four lines, under the place of its first
    quoted = re.search(
        r"cell 4, lines 37–40 \| self\.weights = \[\n((?: +\|.*\n){3})", result.output
    )
    assert quoted, result.output
    assert "(1 - eta * (lmbda / len(mini_batch)))" in quoted.group(1)
    assert quoted.group(1).splitlines()[-1].endswith("| ]")


@pytest.mark.parametrize(
    "cell, message",
    [
        ("def broken(:\n    pass\n", "cell 1, line 1 has a syntax error"),
        ("import numpy as np\nTOTAL = np.zeros(2) / undefined_name\n", "cell 1, line 2"),
    ],
)
def test_a_broken_notebook_cell_is_named_in_the_message(cell, message, tmp_path):
    notebook = tmp_path / "broken.ipynb"
    cells = [{"cell_type": "code", "source": cell, "metadata": {}, "outputs": []}]
    notebook.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5}))
    result = run_doctor(notebook)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "from scipy.misc import imread",
            "`scipy.misc.imread` no longer exists in scipy {scipy} (imageio.v3.imread replaced it)",
        ),
        (
            "from sklearn.cross_validation import train_test_split",
            "`sklearn.cross_validation` no longer exists in scikit-learn {sklearn} "
            "(sklearn.model_selection replaced it)",
        ),
        ("from numpy import no_such_function", "`numpy.no_such_function` does not exist in numpy"),
        ("from reg_utils import load_2D_dataset", "`reg_utils` cannot be imported: it is not"),
        ("from google.colab import drive", "`google.colab` cannot be imported here: it exists "),
    ],
)
def test_a_failing_import_is_named_with_what_it_means_and_the_rest_is_used(line, message, tmp_path):
    import scipy
    import sklearn

    notebook = tmp_path / "left.ipynb"
    source = (GALLERY / "shape_notebook.ipynb").read_text()
    cells = json.loads(source)
    cells["cells"].insert(1, {"cell_type": "code", "source": line, "metadata": {}, "outputs": []})
    notebook.write_text(json.dumps(cells))
    result = run_doctor(notebook)
    assert result.exit_code == 0, result.output  # the network was still found and diagnosed
    wanted = message.format(scipy=scipy.__version__, sklearn=sklearn.__version__)
    assert "cell 2, line 1: " + wanted in result.output.replace("\n", " "), result.output


def test_a_notebook_runs_its_definitions_not_its_magics_shell_lines_or_training():
    notebook = read_notebook(GALLERY / "shape_notebook.ipynb")
    assert "!pip" not in notebook.text and "%matplotlib" not in notebook.text
    assert "class Network" in notebook.text and "import numpy as np" in notebook.text
    assert "net.SGD(" not in notebook.text and "ls -l" not in notebook.text
    line = notebook.text.splitlines().index("class Network:") + 1
    assert notebook.label(line) == "cell 4, line 1"


def test_parameters_in_tuples_layer_objects_and_numbered_keys_can_be_set():
    class Layer:
        def __init__(self):
            self.weights, self.bias = np.ones((2, 3)), np.ones((2, 1))

    class Tuples:
        def __init__(self):
            self.W, self.bias = (np.ones((2, 3)),), (np.ones((2, 1)),)

    class Layers:
        def __init__(self):
            self.layers = [Layer(), Layer()]

    class Keys:
        def __init__(self):
            self.params = {"W_1": np.ones((2, 3)), "b_1": np.ones((2, 1))}

    for network in (Tuples(), Layers(), Keys()):
        parameters = find_parameters(network)
        assert {p.kind for p in parameters} == {"weight", "bias"}
        for parameter in parameters:
            value = np.full(parameter.get(network).shape, 7.0)
            parameter.set(network, value)
            assert parameter.get(network) is value or np.array_equal(parameter.get(network), value)


def test_the_python_api_returns_the_diagnosis_rebuilt_from_the_child_with_its_notes():
    diagnosis = diagnose(str(GALLERY / "shape_extra_mu.py"))
    assert diagnosis.exit_code == 0
    assert any("mu was set to 0" in note for note in diagnosis.notes)
    diagnosis = diagnose(str(GALLERY / "loop_lambda_over_m.py"))
    assert all(isinstance(f, Finding) for f in diagnosis.findings)
    assert all(isinstance(line, tuple) for f in diagnosis.findings for line in f.lines)


# -- hostile code: a clear message, exit 2, nothing left running, nothing written -------------
def pid_line(pids: Path, name: str = "learner") -> str:
    return f"open({str(pids / name)!r}, 'w').write(str(__import__('os').getpid()))\n"


HOSTILE = {
    "loops-at-import": (
        lambda pids: pid_line(pids) + "while True:\n    pass\n",
        r"did not finish within 1\.5 s and was stopped: it was still running line [23], at import",
    ),
    "loops-in-update": (
        lambda pids: pid_line(pids) + with_update_body("        while True:\n            pass\n"),
        r"did not finish within 1\.5 s .* running line \d+, in update_mini_batch",
    ),
    "sys-exit-at-import": (
        lambda pids: pid_line(pids) + "import sys\nsys.exit(0)\n",
        r"importing .* failed: SystemExit: 0 \(line 3\).*if __name__ == \"__main__\"",
    ),
    "os-exit-at-import": (
        lambda pids: pid_line(pids) + "import os\nos._exit(0)\n",
        r"importing .* failed: .*os\._exit\(0\) was called \(line 3\)",
    ),
    "sys-exit-in-update": (
        lambda pids: pid_line(pids) + with_update_body("        raise SystemExit(0)\n"),
        r"sys\.exit\(0\) was called \(line \d+, in update_mini_batch\)",
    ),
    "os-exit-in-update": (
        lambda pids: pid_line(pids) + with_update_body("        __import__('os')._exit(0)\n"),
        r"os\._exit\(0\) was called \(line \d+, in update_mini_batch\)",
    ),
    "keyboard-interrupt-in-update": (
        lambda pids: pid_line(pids) + with_update_body("        raise KeyboardInterrupt\n"),
        r"raised KeyboardInterrupt \(line \d+, in update_mini_batch\)",
    ),
    "numpy-replaced": (
        lambda pids: pid_line(pids) + BOOK.read_text() + "np.zeros = None\n",
        r"replaces numpy\.zeros: the doctor runs your update with numpy",
    ),
    "killed-by-a-signal": (
        lambda pids: (
            pid_line(pids)
            + with_update_body("        __import__('os').kill(__import__('os').getpid(), 9)\n")
        ),
        r"was killed by signal SIGKILL before the doctor could finish",
    ),
    "starts-a-process-then-loops": (
        lambda pids: (
            pid_line(pids)
            + "import subprocess, sys\n"
            + "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            + f"open({str(pids / 'grandchild')!r}, 'w').write(str(child.pid))\n"
            + "while True:\n    pass\n"
        ),
        r"did not finish within 1\.5 s",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_code_gets_a_message_exit_2_and_is_stopped_for_good(case, tmp_path):
    source, message = HOSTILE[case]
    folder, pids = tmp_path / "learner", tmp_path / "pids"
    folder.mkdir()
    pids.mkdir()
    path = folder / "learner.py"
    path.write_text(source(pids))
    before = fingerprint(folder)
    result = run_doctor(path, "--timeout", "1.5")
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert "Traceback" not in result.output
    started = [int(p.read_text()) for p in pids.iterdir()]
    assert started  # the learner's code did run, in another process
    assert os.getpid() not in started
    assert none_running(started)
    assert fingerprint(folder) == before


def doctor_process(path: Path, *arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nnreg", "doctor", str(path), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_writes_to_fd_1_and_a_thread_that_never_ends_change_neither_json_nor_the_exit(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    path = tmp_path / "learner.py"
    path.write_text(
        pid_line(pids)
        + BOOK.read_text()
        + "import os, threading, time\n"
        + "os.write(1, b'straight to fd 1\\n')\n"
        + "threading.Thread(target=time.sleep, args=(600,)).start()\n"
    )
    path.write_text(with_update_body("        os.write(1, b'{not json\\n')\n", path.read_text()))
    process = doctor_process(path, "--json")
    output, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert json.loads(output)["findings"] == []
    assert none_running([int((pids / "learner").read_text())])


def test_ctrl_c_stops_the_learners_code_and_exits_130(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    path = tmp_path / "learner.py"
    path.write_text(pid_line(pids) + "while True:\n    pass\n")
    process = doctor_process(path, "--timeout", "60")
    deadline = time.monotonic() + 30
    while not (pids / "learner").exists() or not (pids / "learner").read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    try:
        _, errors = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # say what it had done, to tell a hang from a lost signal
        process.kill()
        _, errors = process.communicate()
        alive = none_running([int((pids / "learner").read_text())])
        pytest.fail(f"nnreg doctor still ran 20 s after Ctrl-C (learner gone: {alive}): {errors!r}")
    assert process.returncode == 130
    assert "Interrupted" in errors and "Traceback" not in errors
    assert none_running([int((pids / "learner").read_text())])


def test_the_time_limit_must_be_positive():
    result = run_doctor(BOOK, "--timeout", "0")
    assert result.exit_code == 2
    assert "--timeout" in result.output


@pytest.mark.parametrize(
    "lines, spoiled",
    [
        (
            "        self.weights = [w * np.nan for w in self.weights]\n        return\n",
            "weights[0], weights[1] into NaN",
        ),
        (
            "        self.biases = [b / 0.0 for b in self.biases]\n",  # inf, then NaN onwards
            "into NaN or inf",
        ),
    ],
    ids=["nan-then-return", "divided-by-zero"],
)
def test_an_update_that_makes_the_weights_nan_is_named_with_its_line(lines, spoiled, tmp_path):
    path = tmp_path / "learner.py"
    path.write_text(with_update_body(lines))
    first = with_update_body(lines).splitlines().index(lines.splitlines()[0]) + 1
    with np.errstate(all="ignore"):
        result = run_doctor(path)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert spoiled in message
    assert f"at learner.py, line {first}: {lines.splitlines()[0].strip()}" in message
    assert "never called" not in message and "bug in nnreg" not in message
