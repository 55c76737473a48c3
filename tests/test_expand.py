import numpy as np
import pytest

from nnreg.datasets.dataset import Dataset
from nnreg.datasets.expand import expand, rotate_images, shift_images


def images(count=5, side=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 256, size=(count, side * side), dtype=np.uint8)


@pytest.mark.parametrize("dy, dx", [(1, 0), (-1, 0), (0, 1), (0, -1), (2, -1)])
def test_shifted_image_equals_the_hand_shifted_array(dy, dx):
    original = images()
    shifted = shift_images(original, dy, dx, (6, 6))
    for image, moved in zip(original, shifted):
        grid, expected = image.reshape(6, 6), np.zeros((6, 6), np.uint8)
        for row in range(6):
            for col in range(6):
                if 0 <= row - dy < 6 and 0 <= col - dx < 6:
                    expected[row, col] = grid[row - dy, col - dx]
        np.testing.assert_array_equal(moved.reshape(6, 6), expected)


def test_expanding_keeps_the_originals_and_the_labels_of_every_copy():
    pixels = images(count=40)
    labels = np.arange(40) % 10
    data = Dataset(pixels, np.eye(10)[labels], labels, 255.0)
    expanded = expand(data, 4, np.random.default_rng(1), shape=(6, 6))
    assert len(expanded) == 5 * 40 and expanded.inputs.dtype == np.uint8
    np.testing.assert_array_equal(expanded.inputs[:40], pixels)
    shifts = [shift_images(pixels, dy, dx, (6, 6)) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    for image, label in zip(expanded.inputs[40:], expanded.labels[40:]):
        sources = [i for i in range(40) if any(np.array_equal(image, s[i]) for s in shifts)]
        assert sources and all(labels[i] == label for i in sources)
    np.testing.assert_array_equal(expanded.targets.argmax(axis=1), expanded.labels)


def test_expansion_is_seeded_and_copies_are_chosen_without_repeats():
    data = Dataset(images(count=30), np.eye(2)[np.zeros(30, int)], np.zeros(30, int), 255.0)
    first = expand(data, 2, np.random.default_rng(3), shape=(6, 6))
    second = expand(data, 2, np.random.default_rng(3), shape=(6, 6))
    np.testing.assert_array_equal(first.inputs, second.inputs)
    assert len(first) == 90


def test_rotation_by_zero_is_the_identity_and_keeps_the_dtype():
    pixels = images()
    np.testing.assert_array_equal(rotate_images(pixels, 0.0, (6, 6)), pixels)


@pytest.mark.parametrize("copies", [0, 5])
def test_copies_outside_the_transformations_are_rejected(copies):
    data = Dataset(images(), np.eye(2)[np.zeros(5, int)], np.zeros(5, int), 255.0)
    with pytest.raises(ValueError, match="copies must be between 1 and 4"):
        expand(data, copies, np.random.default_rng(0), shape=(6, 6))
