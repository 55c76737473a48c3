"""First-layer weights as images: each hidden unit's input weights as one tile (28×28 for
MNIST), on a diverging colour map centred on 0 (blue negative, red positive, white near 0),
exact zeros in their own colour, grey between the tiles.

The colour scale is the one ``nnreg board`` uses (``colourScale`` in
``board/static/board.js``), so that the figure and the board show a run alike: ±the
99th percentile of the non-zero |w| (:func:`robust_colour_limit`), not the largest |w| — a
few large weights would otherwise leave every other one pale. The largest 1% are clipped to
full colour; the colour bar's pointed ends and its label say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from nnreg.datasets.dataset import image_shape

if TYPE_CHECKING:
    from nnreg.plots import Run

ZERO_COLOUR = (0.0, 0.75, 0.0, 1.0)
"""Exact zeros in the weight images: green, a colour the diverging map never takes (the
board's ``ZERO``, rgb(0, 191, 0))."""
ZERO_LABEL = "green: exactly 0 (L1 zeroed)"
GAP_COLOUR = "0.6"
"""Grey between the tiles (NaN in :func:`weight_mosaic`)."""
CLIPPED = 0.01
"""The fraction of the non-zero weights, the largest in size, that lie beyond the colour
scale and are drawn at full colour (the board's ``CLIPPED``)."""
PANELS_PER_ROW = 4


def robust_colour_limit(weights: np.ndarray, clipped: float = CLIPPED) -> float:
    """The board's colour scale: sort the non-zero, finite |w| and take the one at rank
    ⌊(1 − clipped)·count⌋ (the largest when that is past the end); 1.0 when there is none.

    About ``clipped`` of the non-zero weights are larger and drawn at full colour. Exact
    zeros are left out, so a layer that L1 has mostly zeroed keeps a scale its surviving
    weights fill."""
    sizes = np.abs(np.asarray(weights, dtype=float)).ravel()
    sizes = np.sort(sizes[np.isfinite(sizes) & (sizes > 0)])
    if not sizes.size:
        return 1.0
    return float(sizes[min(sizes.size - 1, int(np.floor((1 - clipped) * sizes.size)))])


def weight_mosaic(weights: np.ndarray, gap: int = 1) -> np.ndarray:
    """The rows of a first-layer weight matrix (one hidden unit each) as images in a
    near-square grid, separated by ``gap`` NaN pixels (drawn blank)."""
    units, inputs = weights.shape
    height, width = image_shape(inputs)
    columns = int(np.ceil(np.sqrt(units))) if height > 1 else 1
    rows = int(np.ceil(units / columns))
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for unit in range(units):
        top, left = (unit // columns) * (height + gap), (unit % columns) * (width + gap)
        mosaic[top : top + height, left : left + width] = weights[unit].reshape(height, width)
    return mosaic


def draw_weight_images(axes, weights: np.ndarray, title: str, largest: float | None = None):
    """One tile per hidden unit on a diverging colour map centred on 0 (blue negative, red
    positive, white near 0) over ±``largest`` — by default :func:`robust_colour_limit`, with
    larger |w| clipped to full colour — exact zeros in green, grey between tiles; returns the
    colour image for a colour bar."""
    mosaic = weight_mosaic(weights)
    if largest is None:
        largest = robust_colour_limit(weights)
    largest = largest if np.isfinite(largest) and largest > 0 else 1.0
    colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad=GAP_COLOUR)
    image = axes.imshow(mosaic, cmap=colours, vmin=-largest, vmax=largest, interpolation="nearest")
    image.set_gid("weights")
    zeros = np.zeros((*mosaic.shape, 4))
    zeros[mosaic == 0] = ZERO_COLOUR
    axes.imshow(zeros, interpolation="nearest").set_gid("exact zeros")
    axes.set_title(title, fontsize="medium")
    axes.set_xticks([])
    axes.set_yticks([])
    return image


def weight_images_figure(panels: list[tuple[str, np.ndarray]], labelled: bool = True) -> Figure:
    """One panel per (label, first-layer weight matrix), on one colour scale centred on 0:
    :func:`robust_colour_limit` of all the panels' weights together — the board's scale for
    a single run. A run whose few surviving weights are all large (cumulative L1) has more
    than 1% of them clipped, rather than every other panel drawn pale."""
    if not panels:
        figure = Figure(figsize=(5.0, 4.0), layout="constrained")
        figure.text(0.5, 0.5, "no parameters saved", ha="center")
        return figure
    rows = -(-len(panels) // PANELS_PER_ROW)
    columns = -(-len(panels) // rows)  # 5 panels as 3 + 2, not 4 + 1
    # each panel as tall as its mosaic (within reason), plus its two-line title
    mosaic_rows, mosaic_columns = weight_mosaic(panels[0][1]).shape
    panel_height = 4.0 * min(max(mosaic_rows / mosaic_columns, 0.4), 1.5) + 0.6
    figure = Figure(figsize=(4.0 * columns + 1.3, panel_height * rows + 1.1), layout="constrained")
    largest = robust_colour_limit(np.concatenate([weights.ravel() for _, weights in panels]))
    axes_list = list(figure.subplots(rows, columns, squeeze=False).ravel())
    for spare in axes_list[len(panels) :]:
        spare.set_axis_off()
    axes_list = axes_list[: len(panels)]
    for axes, (label, weights) in zip(axes_list, panels):
        zero = f"{float(np.mean(weights == 0)):.1%} exactly 0 (green)"
        image = draw_weight_images(axes, weights, f"{label}\n{zero}" if labelled else zero, largest)
    _colour_key(figure, axes_list, image, [weights for _, weights in panels])
    height, width = image_shape(panels[0][1].shape[1])
    shape = f"as {height}×{width} images" if height > 1 else "one row per hidden unit"
    figure.suptitle(
        f"First-layer weights of each hidden unit, {shape}\n"
        "blue negative, red positive, white near 0; green: exactly 0",
    )
    return figure


def _colour_key(figure: Figure, axes_list: list, image, weights: list[np.ndarray]) -> None:
    """The colour bar with its range — pointed ends when weights lie beyond it, and how many
    — and a legend for the two colours that are not weights: exact zeros and the gaps."""
    largest = image.norm.vmax
    values = np.concatenate([np.abs(w).ravel() for w in weights])
    beyond = int(np.count_nonzero(values > largest))
    label = f"weight (colour scale ±{largest:.3g})"
    if beyond:
        label += f"\n{beyond:,} of {values.size:,} beyond it: full colour"
    figure.colorbar(
        image,
        ax=axes_list,
        shrink=0.8,
        aspect=30,
        extend="both" if beyond else "neither",
        extendfrac=0.03,
        label=label,
    )
    figure.legend(
        handles=[
            Patch(facecolor=ZERO_COLOUR, edgecolor="black", linewidth=0.5, label=ZERO_LABEL),
            Patch(
                facecolor=GAP_COLOUR, edgecolor="black", linewidth=0.5, label="grey: between tiles"
            ),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
        fontsize="small",
    )


def first_layer_figure(runs: list[Run]) -> Figure:
    """First-layer weights as images, one tile per hidden unit, runs side by side on one
    colour scale: where L1 leaves exact zeros (green) and where L2 only shrinks (pale)."""
    return weight_images_figure(
        [(run.label, run.final_weights[0]) for run in runs if run.final_weights is not None],
        labelled=len(runs) > 1,
    )
