"""``nnreg doctor --run``: the learner's own training script (or notebook) is run as they run
it, until its first update; that real call is replayed and diagnosed. Scripts that never
get there end with a clear message and exit 2, with nothing left running."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnreg.cli import main

GALLERY = Path(__file__).parent / "doctor_gallery"
RUNS = {  # exit status, mistakes, notes, where a finding points (in the sibling file, the cell)
    "run_l1_exercise/train.py": (
        1, {"update-cost-mismatch"}, {"l1-crosses-zero"}, r"network\.py, line \d+"
    ),
    "run_notebook/train.ipynb": (1, {"lambda-over-m"}, set(), r"cell \d+, line \d+"),
}  # fmt: skip


def doctor(*arguments):
    return CliRunner().invoke(main, ["doctor", *map(str, arguments)])


def fingerprint(folder: Path) -> dict:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("script", list(RUNS))
def test_a_training_script_is_run_to_its_first_update_and_that_call_is_diagnosed(script):
    exit_code, mistakes, notes, where = RUNS[script]
    folder = (GALLERY / script).parent
    before = fingerprint(folder)
    result = doctor("--run", GALLERY / script, "--json")
    assert result.exit_code == exit_code, result.output
    report = json.loads(result.output)
    assert {f["code"] for f in report["findings"] if f["kind"] == "mistake"} == mistakes
    assert {f["code"] for f in report["findings"] if f["kind"] == "note"} == notes
    assert any("until its first update" in note for note in report["notes"])
    places = [place for f in report["findings"] for place, _ in f["lines"]]
    assert any(re.fullmatch(where, place) for place in places), places
    assert fingerprint(folder) == before  # nothing written next to their files


def test_a_thirty_epoch_script_is_stopped_at_its_first_update(tmp_path):
    folder = tmp_path / "learner"
    shutil.copytree(GALLERY / "run_l1_exercise", folder)
    script = folder / "train.py"
    script.write_text(
        script.read_text().replace(
            '    print(f"epoch {epoch}: cost {cost:.4f}")',
            '    open(f"epoch-{epoch}.done", "w").close()',
        )
    )
    result = doctor("--run", script, "--json")
    assert result.exit_code == 1, result.output
    assert not list(folder.glob("epoch-*.done"))  # not even the first epoch was finished


def test_script_arguments_reach_the_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(GALLERY / 'run_l1_exercise')!r})\n"
        "from network import Network\n"
        "import numpy as np\n"
        "assert sys.argv[1:] == ['--epochs', '3'], sys.argv\n"
        "net = Network([4, 3, 2])\n"
        "batch = [(np.ones((4, 1)), np.eye(2)[:, [i % 2]]) for i in range(10)]\n"
        "net.update_mini_batch(batch, 0.5, 5.0, 100)\n"
    )
    result = doctor("--run", script, "--", "--epochs", "3")
    assert result.exit_code == 1, result.output  # the L1 update with the L2 cost
    assert "ran train.py --epochs 3 until its first update" in " ".join(result.output.split())
    result = doctor(script, "3")  # arguments without --run
    assert result.exit_code == 2 and "with --run" in result.output


HOSTILE = {
    "never_updates.py": ("print('hello')\n", "ran to its end without calling an update"),
    "raises.py": ("x = 1\ny = x / 0\n", "raised ZeroDivisionError: division by zero \\(line 2\\)"),
    "exits.py": ("import sys\nsys.exit(3)\n", "ended \\(SystemExit: 3 \\(line 2\\)\\)"),
    "os_exit.py": ("import os\nos._exit(0)\n", "os._exit\\(0\\) was called"),
    "loops.py": ("while True:\n    pass\n", "did not finish within 3 s"),
    "waits_for_input.py": ("name = input('name? ')\n", "raised EOFError"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_script_that_never_reaches_an_update_gets_a_message_and_exit_2(name, tmp_path):
    source, message = HOSTILE[name]
    script = tmp_path / name
    script.write_text(source)
    before = fingerprint(tmp_path)
    result = doctor("--run", script, "--timeout", "3")
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert "Traceback" not in result.output
    assert fingerprint(tmp_path) == before
    time.sleep(0.2)
    assert not _running(script), "the learner's script is still running"


def _running(script: Path) -> bool:
    """Whether a process mentioning ``script`` in its command line is alive."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(script) in command:
            return True
    return False


def test_the_python_api_runs_a_script_in_a_child_process(tmp_path):
    from nnreg.doctor import diagnose

    diagnosis = diagnose(str(GALLERY / "run_l1_exercise" / "train.py"), run=[], timeout=120)
    assert {f.code for f in diagnosis.mistakes} == {"update-cost-mismatch"}
    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0


def test_run_needs_an_existing_script_or_notebook(tmp_path):
    (tmp_path / "notes.txt").write_text("x = 1\n")
    for target in (tmp_path / "missing.py", tmp_path / "notes.txt", tmp_path):
        result = doctor("--run", target)
        assert result.exit_code == 2, result.output
        assert "is not a Python script or notebook" in result.output


def test_a_notebook_run_that_stops_at_an_import_says_what_it_means_and_the_way_without_run():
    notebook = Path(__file__).parent / "doctor_gallery_shapes" / "notebook_colab_correct.ipynb"
    result = doctor("--run", notebook)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "(cell 2, line 2)" in text
    assert "`google.colab` cannot be imported here: it exists only in Google Colab" in text
    assert "Without --run, `nnreg doctor notebook_colab_correct.ipynb` reads only" in text
    assert "nnreg.doctor.check(net)" in text and "Traceback" not in text
