"""docs/tutorial.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel)
and produces its figures; LivePlot keeps one output that it updates in place."""

import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from kernel import execute  # noqa: E402

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial.ipynb"


def test_the_tutorial_is_stored_without_outputs():
    notebook = nbformat.read(TUTORIAL, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The tutorial executed by a kernel running this very Python, from a scratch folder."""
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copy(TUTORIAL, folder / TUTORIAL.name)
    notebook = execute(nbformat.read(folder / TUTORIAL.name, as_version=4), folder)
    notebook.metadata["ran_in"] = str(folder)
    return notebook


def tagged(notebook, tag):
    return next(c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", []))


def images(cell):
    return [o for o in cell.outputs if "image/png" in o.get("data", {})]


def test_the_tutorial_runs_and_draws_its_figures(executed):
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]  # fmt: skip
    assert not errors, errors
    assert sum(len(images(c)) for c in executed.cells if c.cell_type == "code") >= 4
    text = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "λ/m: validation accuracy" in text and "exactly zero" in text


def test_live_plot_is_one_output_updated_in_place(executed):
    cell = tagged(executed, "liveplot")
    displays = [o for o in cell.outputs if o.output_type == "display_data"]
    assert len(displays) == 1 and len(images(cell)) == 1  # not one figure per epoch


def test_the_progress_bar_is_one_text_output(executed):
    cell = tagged(executed, "progress")
    displays = [o for o in cell.outputs if o.output_type == "display_data"]
    assert len(displays) == 1
    assert "100%" in displays[0]["data"]["text/plain"]


def test_the_doctor_finds_the_lambda_over_m_slip(executed):
    text = "".join(o.get("text", "") for o in tagged(executed, "doctor").outputs)
    assert "λ/m" in text or "lambda-over-m" in text, text


def test_the_tutorial_writes_nothing_into_the_folder_it_runs_in(executed):
    folder = Path(executed.metadata["ran_in"])
    assert sorted(p.name for p in folder.iterdir()) == ["jupyter", TUTORIAL.name]
