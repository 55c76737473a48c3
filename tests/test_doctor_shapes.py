"""The doctor finds a learner's network, update and penalty by what they do, in shapes other
than the book's: row-major matrices with names of their own, updates inline in a training
loop, functions and a dict (Coursera), a package of free functions, an estimator whose
weights are made in ``fit`` (Raschka), state set only by the training method, one output
unit, notebooks as learners leave them. Every learner of ``doctor_gallery_shapes/`` is
diagnosed right with no adapter and no option, and its correct twin gets exit 0 — in module
mode (``nnreg doctor FILE``) and by running it (``nnreg doctor --run FILE``)."""

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnreg.cli import main

SHAPES = Path(__file__).parent / "doctor_gallery_shapes"
MODULES = sorted([*SHAPES.glob("*.py"), *SHAPES.glob("*.ipynb")]) + sorted(
    [*SHAPES.glob("pkg_*/main.py"), *SHAPES.glob("pkg_*/mynet/training.py")]
)
SCRIPTS = sorted([*SHAPES.glob("*.py"), *SHAPES.glob("pkg_*/main.py")])
"""The notebooks load a file from the learner's own disk: module mode only."""
FAST_RUNS = ("coursera_correct", "raschka_summed_gradient", "sgd_inline_correct", "pkg_free")


def expectation(path: Path) -> dict:
    """The ``expect:`` line of a learner (a package's is in its main.py)."""
    if path.name == "training.py":
        path = path.parents[1] / "main.py"
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "".join(json.loads(text)["cells"][0]["source"])
    line = re.search(r"^expect: ([^\"\n]*)", text, flags=re.MULTILINE).group(1)
    expected = dict(part.split("=", 1) for part in line.split())
    expected["exit"] = int(expected["exit"])
    for key in ("mistakes", "notes"):
        expected[key] = set(expected[key].split(",")) if key in expected else set()
    noted = re.search(r"^noted: ([^\n]*)", text, flags=re.MULTILINE)
    expected["noted"] = noted.group(1).split("; ") if noted else []
    return expected


def diagnosis(*arguments) -> tuple[int, dict, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["doctor", *map(str, arguments), "--json"])
    return result.exit_code, json.loads(result.output), time.perf_counter() - started


def name(path: Path) -> str:
    return str(path.relative_to(SHAPES)).replace("/", ":")


def check(path: Path, exit_code: int, report: dict) -> None:
    expected = expectation(path)
    assert exit_code == expected["exit"], report
    mistakes = {f["code"] for f in report["findings"] if f["kind"] == "mistake"}
    notes = {f["code"] for f in report["findings"] if f["kind"] == "note"}
    assert (mistakes, notes) == (expected["mistakes"], expected["notes"]), report
    for place in expected["noted"]:  # each failing cell of a notebook is named in the notes
        assert any(f"{place}:" in note or f"{place}," in note for note in report["notes"]), (
            place,
            report["notes"],
        )
    for finding in report["findings"]:  # every line to change names its file (or cell)
        for place, _ in finding["lines"]:
            assert re.fullmatch(r"(\w+\.py|cell \d+), lines? \d+(–\d+)?", place), place


def test_the_gallery_has_every_shape_with_a_correct_twin():
    stems = {path.stem for path in MODULES}
    for shape in ("rows_wh", "rows_named", "sgd_inline", "backward_update", "coursera",
                  "raschka", "momentum_state", "seed004", "seed003", "ctor_data",
                  "notebook_rows", "notebook_coursera", "notebook_colab",
                  "logistic"):  # fmt: skip
        assert f"{shape}_correct" in stems, shape
        assert any(s.startswith(shape) and s != f"{shape}_correct" for s in stems), shape
    assert (SHAPES / "pkg_free_functions_correct" / "main.py").is_file()
    wrong = [p for p in MODULES if expectation(p)["exit"] == 1]
    assert len(wrong) >= 12 and all(expectation(p)["mistakes"] for p in wrong)


@pytest.mark.parametrize("path", MODULES, ids=[name(p) for p in MODULES])
def test_each_shape_is_diagnosed_right_in_module_mode(path):
    exit_code, report, seconds = diagnosis(path)
    check(path, exit_code, report)
    assert seconds < 10


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[] if p.stem.startswith(FAST_RUNS) or "pkg_" in str(p) else
                  [pytest.mark.slow]) for p in SCRIPTS],
    ids=[name(p) for p in SCRIPTS],
)  # fmt: skip
def test_each_shape_is_diagnosed_right_by_running_it(path):
    exit_code, report, _ = diagnosis("--run", path)
    check(path, exit_code, report)
    assert any("until its first update" in note for note in report["notes"])


def test_findings_point_to_the_file_that_holds_the_line():
    _, report, _ = diagnosis(SHAPES / "pkg_free_functions" / "main.py")
    places = [place for finding in report["findings"] for place, _ in finding["lines"]]
    assert places and all(re.fullmatch(r"training\.py, lines? \d+(–\d+)?", p) for p in places)
    quoted = [text for finding in report["findings"] for _, text in finding["lines"]]
    assert any(t.startswith("network.weights = [") and t.endswith("]") for t in quoted), quoted


def test_a_notebook_as_a_learner_leaves_it_is_diagnosed_and_its_broken_cells_named():
    exit_code, report, _ = diagnosis(SHAPES / "notebook_rows_gradient_averaged_twice.ipynb")
    assert exit_code == 1
    assert any("has a syntax error" in note and "left out" in note for note in report["notes"])


def test_a_method_named_backward_that_updates_is_not_taken_for_the_gradient():
    """``backward(Y, eta, lmbda, n)`` returns nothing and is the whole update: it is the
    unit replayed, and its data step is not read as 0·(η/m)."""
    exit_code, report, _ = diagnosis(SHAPES / "backward_update_correct.py")
    assert exit_code == 0, report
    assert report["rule_found"] == report["correct_rule"]
