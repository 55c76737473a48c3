import base64
import itertools
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


@pytest.fixture(scope="module")
def l1_vs_l2():
    return run_experiment("l1-vs-l2", quick=True)


def test_l1_methods_that_stop_at_zero_give_exact_zeros_and_subgradient_does_not(l1_vs_l2):
    rows = {row[0]: row for row in l1_vs_l2.table}
    zeros = {label: float(row[3].rstrip("%")) for label, row in rows.items()}
    assert zeros["L1 proximal"] > 20 and zeros["L1 cumulative"] > 20
    assert zeros["L1 subgradient"] < 1 and zeros["L2"] == 0


def test_l1_vs_l2_sparsity_figure_shows_every_run_even_where_lines_coincide(l1_vs_l2):
    """L2 and subgradient L1 both stay at 0% exactly zero: each run has its own line style
    and marker, a line drawn over an identical one is not solid (the one below shows
    through), and the legend says which runs are at 0% throughout."""
    figure = next(figure for stem, _, figure in l1_vs_l2.figures if stem == "sparsity")
    zero_axes, flip_axes = figure.axes
    labels = [row[0] for row in l1_vs_l2.table]
    for axes in (zero_axes, flip_axes):
        lines = axes.get_lines()
        assert len(lines) == len(labels)
        styles = [(line.get_linestyle(), line.get_marker()) for line in lines]
        assert len(set(styles)) == len(lines)
        for below, line in itertools.combinations(lines, 2):
            if np.array_equal(below.get_ydata(), line.get_ydata()):
                assert line.get_linestyle() != "-" and line.get_marker() != below.get_marker()
        assert [line.get_gid().split(": ")[0] for line in lines] == labels
    never_zero = [
        line.get_gid().split(": ")[0] for line in zero_axes.get_lines() if not any(line.get_ydata())
    ]
    assert {"L2", "L1 subgradient"} <= set(never_zero)  # the two lines that coincide
    (legend,) = figure.legends
    legend_texts = [text.get_text() for text in legend.get_texts()]
    for label, text in zip(labels, legend_texts):
        assert text.startswith(label)
        assert ("(0% exactly 0 throughout)" in text) == (label in never_zero)


def test_l1_vs_l2_sign_flips_are_counted_as_they_are_on_a_labelled_log_axis(l1_vs_l2):
    """The flips are drawn as counted (no "+ 1"): symlog, linear below 1 so 0 sits at the
    bottom, and the axis label says so in words."""
    figure = next(figure for stem, _, figure in l1_vs_l2.figures if stem == "sparsity")
    flip_axes = figure.axes[1]
    assert flip_axes.get_yscale() == "symlog"
    assert flip_axes.yaxis.get_transform().linthresh == 1
    low, high = flip_axes.get_ylim()
    assert -0.5 < low <= 0 < high
    label = flip_axes.get_ylabel()
    assert "sign flips per epoch" in label and "log scale" in label and "0 at the bottom" in label
    assert "+ 1" not in label
    last_epoch = {row[0]: int(row[6].replace(",", "")) for row in l1_vs_l2.table}
    for line in flip_axes.get_lines():
        assert line.get_ydata()[-1] == last_epoch[line.get_gid().split(": ")[0]]


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
