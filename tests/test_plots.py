import math

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
        assert distinct_colours(pixels) > 50  # more than a blank canvas


def distinct_colours(pixels: np.ndarray) -> int:
    """How many different RGB(A) colours an image read by ``imread`` has: each pixel's 8-bit
    channels packed into one integer (``np.unique(..., axis=0)`` on the rows is ~60× slower)."""
    channels = np.round(pixels * 255).astype(np.uint64)
    packed = np.zeros(pixels.shape[:2], dtype=np.uint64)
    for index in range(pixels.shape[-1]):
        packed = (packed << np.uint64(8)) | channels[..., index]
    return len(np.unique(packed))


@pytest.mark.parametrize(
    "stem", [stem for stem in FIGURES if stem not in ("histograms", "first-layer-weights")]
)
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


def board_colour_scale(weights) -> float:
    """The board's colourScale (board/static/board.js), written out: of the non-zero finite
    |w| sorted, the one at rank ⌊0.99·count⌋ (the last if past the end); 1 when none."""
    sizes = sorted(abs(float(w)) for w in np.ravel(weights) if w != 0 and math.isfinite(w))
    return sizes[min(len(sizes) - 1, math.floor(0.99 * len(sizes)))] if sizes else 1.0


def test_first_layer_images_are_the_saved_weights_centred_on_zero_with_zeros_marked(
    run_folders,
):
    """On a proximal-L1 run (exact zeros) beside an L2 run: each tile is a hidden unit's
    8×8 input weights, the colour scale is symmetric about 0, shared, and the board's robust
    scale of all their weights together, and the green overlay covers exactly the weights
    that are exactly 0."""
    from nnreg.plots import ZERO_COLOUR, image_shape, weight_mosaic

    runs = load_runs(run_folders)
    figure = FIGURES["first-layer-weights"](runs)
    panels = [axes for axes in figure.axes if axes.images]
    assert len(panels) == len(runs)
    saved = [np.load(folder / "parameters.npz")["weights_0"] for folder in run_folders]
    expected_scale = board_colour_scale(np.concatenate([weights.ravel() for weights in saved]))
    assert expected_scale < max(np.abs(weights).max() for weights in saved)  # not the largest
    for axes, folder, weights in zip(panels, run_folders, saved):
        image = next(i for i in axes.images if i.get_gid() == "weights")
        zeros = next(i for i in axes.images if i.get_gid() == "exact zeros")
        assert image.get_clim() == pytest.approx((-expected_scale, expected_scale), rel=1e-12)
        mosaic = np.asarray(image.get_array().filled(np.nan))
        expected = weight_mosaic(weights)
        np.testing.assert_array_equal(mosaic, expected)
        height, width = image_shape(weights.shape[1])
        assert (height, width) == (8, 8)
        np.testing.assert_array_equal(mosaic[:8, :8], weights[0].reshape(8, 8))
        marked = zeros.get_array()[..., 3] > 0
        np.testing.assert_array_equal(marked, expected == 0)
        if marked.any():
            assert tuple(zeros.get_array()[marked][0]) == ZERO_COLOUR
        if "proximal" in str(folder):
            assert marked.sum() == np.count_nonzero(weights == 0) > 0


def test_first_layer_figure_names_its_colours_and_the_clipped_range(run_folders):
    """The title and the legend say that green is exactly 0 (nothing says 0 is white), the
    legend's swatch is the colour the zeros are drawn in, and the colour bar gives the scale
    and points past its ends, with how many weights lie beyond."""
    from nnreg.plots import ZERO_COLOUR

    saved = [np.load(folder / "parameters.npz")["weights_0"] for folder in run_folders]
    figure = FIGURES["first-layer-weights"](load_runs(run_folders))
    title = figure.get_suptitle()
    assert "green: exactly 0" in title and "0 is white" not in title
    (legend,) = figure.legends
    swatches = dict(zip((t.get_text() for t in legend.get_texts()), legend.legend_handles))
    zero_label = next(text for text in swatches if "exactly 0" in text)
    assert zero_label.startswith("green") and "L1" in zero_label
    assert tuple(swatches[zero_label].get_facecolor()) == ZERO_COLOUR
    (image,) = [i for axes in figure.axes for i in axes.images if i.colorbar is not None]
    scale = image.get_clim()[1]
    beyond = sum(int(np.count_nonzero(np.abs(w) > scale)) for w in saved)
    total = sum(w.size for w in saved)
    assert image.colorbar.extend == "both"
    label = image.colorbar.ax.get_ylabel()
    assert f"±{scale:.3g}" in label and f"{beyond:,} of {total:,} beyond" in label


def test_one_large_weight_does_not_wash_out_the_others():
    """A single weight 100× the others: the scale stays near the others' size (the largest
    1% of the non-zero |w| is clipped), zeros left out of the count."""
    from nnreg.plots import robust_colour_limit, weight_images_figure

    weights = np.concatenate([np.arange(1, 200) / 100, [-200.0], np.zeros(100)]).reshape(5, 60)
    assert robust_colour_limit(weights) == 1.99  # rank ⌊0.99·200⌋ = 198 of 1/100…199/100, 200
    assert robust_colour_limit(np.zeros((2, 4))) == 1.0
    assert robust_colour_limit(np.array([[0.5, np.nan, np.inf, 0.0]])) == 0.5
    figure = weight_images_figure([("one", weights)], labelled=False)
    image = next(i for i in figure.axes[0].images if i.get_gid() == "weights")
    assert image.get_clim() == (-1.99, 1.99)
    assert "1 of 300 beyond" in image.colorbar.ax.get_ylabel()


def test_a_row_layout_for_inputs_that_are_not_square():
    from nnreg.plots import image_shape, weight_mosaic

    weights = np.arange(12.0).reshape(3, 4) - 5  # 3 units, 4 inputs: 2×2 images
    assert image_shape(4) == (2, 2) and image_shape(10) == (1, 10)
    mosaic = weight_mosaic(np.arange(30.0).reshape(3, 10))
    assert mosaic.shape == (3 * 2 - 1, 10)  # one row per unit, a blank row between
    np.testing.assert_array_equal(mosaic[2], np.arange(10.0, 20.0))
    assert np.isnan(mosaic[1]).all()
    square = weight_mosaic(weights)
    np.testing.assert_array_equal(square[:2, :2], weights[0].reshape(2, 2))


def test_nnreg_plot_draws_a_python_run_and_run_folders_as_the_command_does(digits, run_folders):
    import nnreg

    network = nnreg.Network([64, 20, 10], rng=0)
    history = nnreg.train(
        network,
        digits["training"],
        epochs=2,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=nnreg.L1(2.0),
        evaluation_data={"validation": digits["validation"]},
        rng=0,
    )
    figures = nnreg.plot((history, network), only=["cost", "first-layer-weights"])
    lines = [line for line in figures["cost"].axes[0].get_lines() if line.get_gid()]
    assert [list(line.get_ydata()) for line in lines][0] == history.series("training", "data_cost")
    image = next(i for i in figures["first-layer-weights"].axes[0].images if i.get_gid())
    assert np.array_equal(image.get_array()[:8, :8], network.weights[0][0].reshape(8, 8))
    from_folders = nnreg.plot(*run_folders, labels=["L2", "L1 proximal"])
    assert set(from_folders) == set(FIGURES)
    legend = [t.get_text() for t in from_folders["accuracy"].axes[0].get_legend().get_texts()]
    assert any(text.startswith("L1 proximal") for text in legend)
    with pytest.raises(ValueError, match="unknown figure"):
        nnreg.plot(history, only=["nope"])
