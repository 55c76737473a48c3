import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from nnreg.cli import main
from nnreg.plots import FIGURES, load_runs, write_figures
from nnreg.runs import read_run
from nnreg.session import TrainSettings, run_training

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    folders = []
    for reg, lmbda in (("l2", 5.0), ("l1-proximal", 5.0)):
        result = run_training(TrainSettings(epochs=3, reg=reg, lmbda=lmbda), out=root / reg)
        folders.append(result.folder)
    return folders


def metric_at(record, path):
    value = record
    for key in path:
        value = value[int(key) if key.isdigit() else key]
    return value


def test_plot_writes_every_figure_as_a_non_trivial_png(run_folders, tmp_path):
    written = write_figures(run_folders, tmp_path / "figures")
    assert set(written) == set(FIGURES) >= {"cost", "accuracy", "weights", "histograms", "sparsity"}
    for path in written.values():
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = imread(path)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 400
        # more than a blank canvas: many distinct colours
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50


@pytest.mark.parametrize("stem", [stem for stem in FIGURES if stem != "histograms"])
def test_every_line_drawn_equals_the_metrics_file(run_folders, stem):
    runs = load_runs(run_folders)
    figure = FIGURES[stem](runs)
    metrics = [read_run(folder)["metrics"] for folder in run_folders]
    lines = [line for axes in figure.axes for line in axes.get_lines() if line.get_gid()]
    assert lines, f"{stem} draws no metric"
    for line in lines:
        run, path = line.get_gid().split(": ")
        path, _, scale = path.partition("*")
        records = metrics[int(run.split()[1])]
        expected = [metric_at(record, path.split("/")) * float(scale or 1) for record in records]
        np.testing.assert_allclose(line.get_xdata(), [r["epoch"] for r in records])
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    if stem == "cost":
        # three parts for each data set of each run
        assert len(lines) == 3 * 3 * len(run_folders)


def test_histograms_count_the_saved_start_and_end_weights_with_a_bin_centred_on_zero(
    run_folders,
):
    figure = FIGURES["histograms"](load_runs(run_folders))
    saved = [read_run(folder) for folder in run_folders]
    patches = [patch for axes in figure.axes for patch in axes.patches if patch.get_gid()]
    assert len(patches) == 2 * (1 + len(run_folders))
    for patch in patches:
        run, path = patch.get_gid().split(": ")
        when, layer = path.split("/")
        kind = "parameters" if when == "final_weights" else "initial_parameters"
        weights = saved[int(run.split()[1])][kind][0][int(layer)]
        counts, edges, _ = patch.get_data()
        np.testing.assert_array_equal(counts, np.histogram(weights, bins=edges)[0])
        assert counts.sum() == weights.size
        centre = len(edges) // 2 - 1
        assert edges[centre] < 0 < edges[centre + 1]
        assert edges[centre] == pytest.approx(-edges[centre + 1])


def test_cli_plot_writes_into_the_run_folder_by_default(run_folders):
    result = CliRunner().invoke(main, ["plot", str(run_folders[0])])
    assert result.exit_code == 0, result.output
    for stem in FIGURES:
        assert (run_folders[0] / "figures" / f"{stem}.png").is_file()


def with_config(folder, text):
    (folder / "config.json").write_text(text)
    return folder


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: root / "missing", "is not a folder"),
        (lambda root: root, "not an nnreg run folder"),
        (lambda root: with_config(root, "{oops"), "not valid JSON"),
        (lambda root: with_config(root, "{}"), "no epoch metrics"),
    ],
    ids=["missing", "foreign", "broken-config", "no-metrics"],
)
def test_cli_plot_rejects_a_folder_that_is_not_a_run_with_exit_2(tmp_path, make, message):
    folder = make(tmp_path)
    result = CliRunner().invoke(main, ["plot", str(folder), "--out", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
