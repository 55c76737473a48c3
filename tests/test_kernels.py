"""The compiled L1 kernels give the NumPy references' numbers bit for bit, NaN and inf included,
in float64 and float32; without Numba (or with NNREG_NUMBA=0) the references run."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnreg import kernels

needs_numba = pytest.mark.skipif(
    not kernels.compiled(), reason="Numba not installed (pip install 'nnreg[fast]')"
)

DTYPES = [np.float64, np.float32]


def weights(dtype, size=200):
    """Floats with many exact zeros, values at the thresholds, NaN and ±inf."""
    elements = st.one_of(
        st.floats(-1.0, 1.0, width=np.dtype(dtype).itemsize * 8),
        st.sampled_from([0.0, -0.0, 0.1, -0.1, 0.05, np.nan, np.inf, -np.inf]),
    )
    return arrays(dtype, (size,), elements=elements)


def same(a, b):
    return np.array_equal(a, b, equal_nan=True)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_scaled_sign_and_add_scaled_match_numpy(dtype, data):
    p = data.draw(weights(dtype))
    c = data.draw(st.floats(0.0, 1.0))
    ours, theirs = np.empty_like(p), np.empty_like(p)
    kernels.scaled_sign(p, c, ours)
    kernels.scaled_sign_reference(p, c, theirs)
    assert same(ours, theirs)
    alpha = data.draw(st.floats(-1.0, 1.0))
    h = np.where(np.isfinite(theirs), theirs, 0).astype(dtype)
    a, b = p.copy(), p.copy()
    kernels.add_scaled(a, h, alpha)
    kernels.add_scaled_reference(b, h, alpha)
    assert same(a, b)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_soft_threshold_matches_numpy_and_the_closed_form(dtype, data):
    p = data.draw(weights(dtype))
    t = data.draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))
    ours, theirs = p.copy(), p.copy()
    kernels.soft_threshold_(ours, t)
    kernels.soft_threshold_reference(theirs, t)
    assert same(ours, theirs)
    finite = np.isfinite(p)
    closed = np.sign(p) * np.maximum(np.abs(p) - dtype(t), 0)
    assert same(ours[finite], closed[finite].astype(dtype))
    assert np.all(ours[np.abs(p) <= t] == 0)  # exact zeros, never across


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_cumulative_shrink_matches_numpy(dtype, data):
    w = data.draw(weights(dtype))
    finite_floats = st.floats(-0.25, 0.25, width=np.dtype(dtype).itemsize * 8)
    applied = data.draw(arrays(dtype, w.shape, elements=finite_floats))
    u = np.array(data.draw(st.floats(0.0, 0.25)), dtype)
    threshold = data.draw(st.floats(0.0, 0.1))
    a, qa, ua = w.copy(), applied.copy(), u.copy()
    b, qb, ub = w.copy(), applied.copy(), u.copy()
    kernels.cumulative_shrink_(a, qa, ua, threshold)
    kernels.cumulative_shrink_reference(b, qb, ub, threshold)
    assert same(a, b) and same(qa, qb) and same(ua, ub)


@needs_numba
def test_the_kernels_compile_wherever_numba_is_installed():
    """A kernel that fails to compile turns all of them off (and would skip the tests
    above): with Numba installed and not turned off, they must be in use."""
    import importlib.util
    import os

    if importlib.util.find_spec("numba") is None or os.environ.get("NNREG_NUMBA") == "0":
        pytest.skip("Numba not installed or turned off")
    assert kernels.compiled()


def test_non_contiguous_arrays_take_the_numpy_path():
    p = np.arange(-10.0, 10.0).reshape(4, 5).T  # a transposed view
    expected = p.copy()
    kernels.soft_threshold_reference(expected, 2.5)
    kernels.soft_threshold_(p, 2.5)
    assert same(p, expected)


def test_numba_can_be_turned_off():
    code = "from nnreg import kernels; print(kernels.compiled())"
    env = {"NNREG_NUMBA": "0", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


TRAIN_AND_PRINT = """
import numpy as np, nnreg
from sklearn.datasets import load_digits
x, y = load_digits(return_X_y=True)
for reg in (nnreg.L1(3.0), nnreg.L1(3.0, method="proximal"), nnreg.L1(3.0, method="cumulative"),
            nnreg.ElasticNet(3.0, 1.0)):
    for dtype in ("float64", "float32"):
        net = nnreg.Network([64, 20, 10], rng=1, dtype=dtype)
        nnreg.train(net, (x[:300] / 16, y[:300]), epochs=2, batch_size=10,
                    optimizer=nnreg.SGD(0.5), regularizer=reg, rng=2, monitors=[])
        print(*(w.tobytes().hex() for w in net.weights + net.biases))
"""


@needs_numba
def test_training_with_and_without_numba_gives_the_same_bits():
    def run(numba):
        env = {"NNREG_NUMBA": numba, "PATH": ""}
        out = subprocess.run(
            [sys.executable, "-c", TRAIN_AND_PRINT], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert run("1") == run("0")


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code_dtype", [np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("divisor", [255.0, 3.3, 1e-3])
def test_one_pass_gather_equals_the_reference_conversion(dtype, code_dtype, divisor):
    from nnreg.datasets.dataset import division_in_dtype_is_exact, to_float
    from nnreg.training import BatchGatherer

    rng = np.random.default_rng(0)
    top = min(np.iinfo(code_dtype).max, 70_000)
    # rows narrower and wider than a cache line; batches shorter and longer than the
    # prefetch distance of the compiled gather
    for width in (12, 200):
        codes = rng.integers(0, top, size=(50, width)).astype(code_dtype)
        targets = np.eye(3)[rng.integers(0, 3, size=50)]
        gather = BatchGatherer(codes, targets, divisor, dtype)
        for count in (1, kernels.GATHER_AHEAD - 1, kernels.GATHER_AHEAD, 17, 50):
            rows = rng.permutation(50)[:count]
            x, y = gather(rows)
            # the conversion's definition, in plain NumPy (to_float itself uses the kernel)
            if division_in_dtype_is_exact(codes.dtype, divisor, np.dtype(dtype)):
                reference = codes[rows].astype(dtype) / np.dtype(dtype).type(divisor)
            else:
                reference = (codes[rows] / divisor).astype(dtype)
            assert np.array_equal(to_float(codes[rows], divisor, np.dtype(dtype)), reference)
            assert x.dtype == dtype and np.array_equal(x, reference)
            assert np.array_equal(y, targets[rows])


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), epochs=st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_shuffle_gives_random_shuffles_permutation_and_state(seed, n, epochs):
    import random

    random.seed(seed)
    expected = list(range(n))
    for _ in range(epochs):  # successive shuffles of the same list, as the book's epochs
        random.shuffle(expected)
    expected_next = random.random()
    random.seed(seed)
    order = np.arange(n)
    for _ in range(epochs):
        kernels.shuffle_as_random_does(order)
    assert order.tolist() == expected
    assert random.random() == expected_next  # the generator moved on exactly as shuffle's


def test_shuffle_draws_more_words_when_rejections_use_them_up(monkeypatch):
    import random

    monkeypatch.setattr(kernels, "SHUFFLE_WORDS_PER_ITEM", 0.0)  # 64 words for 5000 items
    generator, reference = random.Random(7), random.Random(7)
    order, expected = np.arange(5000), list(range(5000))
    kernels.shuffle_as_random_does(order, generator)
    reference.shuffle(expected)
    assert order.tolist() == expected and generator.getstate() == reference.getstate()


def test_shuffle_with_another_kind_of_generator_calls_its_shuffle():
    import random

    class Counting(random.Random):
        def random(self):
            return super().random()

    generator, reference = Counting(3), Counting(3)
    order, expected = np.arange(100), list(range(100))
    kernels.shuffle_as_random_does(order, generator)
    reference.shuffle(expected)
    assert order.tolist() == expected
