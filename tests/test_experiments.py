import base64
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.experiments import EXPERIMENTS, run_experiment
from nnreg.experiments.tail_off import _tail_off_epoch

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", params=list(EXPERIMENTS))
def quick_report(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    result = CliRunner().invoke(
        main, ["experiment", request.param, "--quick", "--quiet", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return request.param, out


def test_quick_experiment_writes_markdown_html_and_figures(quick_report):
    name, out = quick_report
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Measured vs the book" in markdown
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert figures, "the report has no figure"
    for figure in figures:
        assert (out / figure).read_bytes()[:8] == PNG_SIGNATURE
    page = (out / "report.html").read_text(encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == len(figures)
    for data, figure in zip(embedded, figures):
        assert base64.b64decode(data) == (out / figure).read_bytes()
    # self-contained: no other file is referenced
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_quick_experiment_table_has_a_row_per_run_and_no_empty_column(quick_report):
    name, out = quick_report
    markdown = (out / "report.md").read_text(encoding="utf-8")
    table = markdown.split("## Measured vs the book")[1].split("##")[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) >= 3  # header, rule, at least one measured row
    cells = [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows]
    assert len({len(row) for row in cells}) == 1, "a cell's | splits its row"
    for column in zip(*cells[2:]):
        assert any(cell.strip() not in ("—", "") for cell in column), "an empty column"


def test_l1_methods_that_stop_at_zero_give_exact_zeros_and_subgradient_does_not():
    report = run_experiment("l1-vs-l2", quick=True)
    rows = {row[0]: row for row in report.table}
    zeros = {label: float(row[3].rstrip("%")) for label, row in rows.items()}
    assert zeros["L1 proximal"] > 20 and zeros["L1 cumulative"] > 20
    assert zeros["L1 subgradient"] < 1 and zeros["L2"] == 0


def test_tail_off_epoch_is_where_the_shrink_falls_below_half_of_pure_decay():
    pure = math.exp(-0.25)
    assert _tail_off_epoch(np.array([pure, pure + 0.01, 0.95, 0.99]), pure) == 3
    assert _tail_off_epoch(np.array([pure, pure]), pure) is None


def test_tail_off_measures_pure_decay_factor_in_the_first_epoch():
    report = run_experiment("tail-off", quick=True)
    predicted = float(report.table[0][3])
    first_layer_first_epoch = float(report.table[0][2].split(",")[0])
    # large saturated weights: the data gradient barely acts and decay dominates
    assert first_layer_first_epoch == pytest.approx(predicted, abs=0.03)


def test_unknown_experiment_is_a_usage_error():
    result = CliRunner().invoke(main, ["experiment", "dropout-magic"])
    assert result.exit_code == 2
    assert "overfitting" in result.output
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiment("dropout-magic")


def test_experiment_out_that_is_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(
        main, ["experiment", "cost-growth", "--quick", "--quiet", "--out", str(target)]
    )
    assert result.exit_code == 2
    assert "--out" in result.output and "is a file" in result.output
