import numpy as np
import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.constraints import MaxNorm


def test_rows_outside_the_ball_are_projected_onto_it_and_rows_inside_are_unchanged(rng):
    weights = [rng.normal(size=(8, 5)) * 2, rng.normal(size=(3, 8))]
    before = [w.copy() for w in weights]
    c = 2.5
    MaxNorm(c).after_step(weights, [np.zeros(8), np.zeros(3)], 0.1, 100, {})
    for old, new in zip(before, weights):
        norms = np.linalg.norm(old, axis=1)
        for row in range(len(old)):
            if norms[row] <= c:
                np.testing.assert_array_equal(new[row], old[row])
            else:
                assert np.linalg.norm(new[row]) == pytest.approx(c, rel=1e-12)
                np.testing.assert_allclose(new[row], old[row] * c / norms[row], rtol=1e-12)
        assert np.all(np.linalg.norm(new, axis=1) <= c * (1 + 1e-12))
    assert any(np.linalg.norm(w, axis=1).max() > c for w in before)  # the test projects some


def test_layers_mask_leaves_other_layers_alone(rng):
    weights = [rng.normal(size=(4, 4)) * 5, rng.normal(size=(2, 4)) * 5]
    before = [w.copy() for w in weights]
    MaxNorm(1.0, layers=[2]).after_step(weights, [np.zeros(4), np.zeros(2)], 0.1, 100, {})
    np.testing.assert_array_equal(weights[0], before[0])
    assert np.linalg.norm(weights[1], axis=1).max() == pytest.approx(1.0)


@pytest.mark.parametrize("c", [0.0, -1.0, float("inf")])
def test_non_positive_or_infinite_c_is_rejected(c):
    with pytest.raises(ValueError, match="max-norm c"):
        MaxNorm(c)


def test_cli_rejects_max_norm_zero_with_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["train", "--max-norm", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--max-norm" in result.output
