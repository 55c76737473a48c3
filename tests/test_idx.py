import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnreg.datasets.idx import DTYPES, IdxError, read_idx

CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, written independently of the reader."""
    code = CODES[array.dtype]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(tmp_path, data: bytes, name="data.idx", compress=False):
    path = tmp_path / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_round_trip_of_every_idx_type_raw_and_gzip(tmp_path, dtype, compress):
    array = (np.arange(24) * 3 - 20).astype(dtype).reshape(2, 3, 4)
    loaded = read_idx(write(tmp_path, idx_bytes(array), compress=compress))
    assert loaded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded, array)


def test_reads_real_mnist_labels_with_the_documented_counts(mnist_folder):
    labels = read_idx(mnist_folder / "t10k-labels-idx1-ubyte.gz", ndim=1, dtype=np.uint8)
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(labels).tolist() == expected


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_payload_is_reported_with_the_declared_size(tmp_path, compress):
    data = idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))[:-100]
    with pytest.raises(IdxError, match=r"truncated: .*10 × 28 × 28.*7,840 bytes.*7,740"):
        read_idx(write(tmp_path, data, compress=compress))


def test_extra_bytes_after_the_declared_data_are_reported(tmp_path):
    data = idx_bytes(np.zeros(5, dtype=np.uint8)) + b"\0"
    with pytest.raises(IdxError, match="more data than its header declares"):
        read_idx(write(tmp_path, data))


@pytest.mark.parametrize(
    "header, message",
    [
        (b"\x01\x00\x08\x01" + b"\0" * 8, "not an IDX file"),
        (b"\x00\x00\x07\x01" + b"\0" * 8, "not an IDX file"),
        (b"PK\x03\x04" + b"\0" * 8, "not an IDX file"),
        (b"\x00\x00", "truncated in the header"),
        (b"", "truncated in the header"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated in the sizes"),
    ],
)
def test_wrong_magic_or_short_header_names_the_file(tmp_path, header, message):
    path = write(tmp_path, header)
    with pytest.raises(IdxError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_mislabelled_file_is_rejected_when_the_caller_says_what_it_expects(tmp_path):
    labels = write(tmp_path, idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(IdxError, match="1-dimensional array, expected 3"):
        read_idx(labels, ndim=3)
    floats = write(tmp_path, idx_bytes(np.zeros((2, 2, 2), dtype=np.float32)), name="f")
    with pytest.raises(IdxError, match="float32 data, expected uint8"):
        read_idx(floats, ndim=3, dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_lying_header_does_not_allocate_what_it_declares(tmp_path, compress):
    # declares 65535³ ≈ 2.8e14 bytes, holds 1 KiB
    data = struct.pack(">HBB3I", 0, 8, 3, 65535, 65535, 65535) + b"\0" * 1024
    path = write(tmp_path, data, compress=compress)
    tracemalloc.start()
    with pytest.raises(IdxError, match="truncated"):
        read_idx(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 << 20


def test_corrupt_gzip_stream_is_a_clear_error(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32))))
    compressed[len(compressed) // 2 : len(compressed) // 2 + 20] = b"\xff" * 20
    path = tmp_path / "broken.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(IdxError, match="corrupt or truncated compressed data"):
        read_idx(path)


def test_truncated_gzip_stream_is_a_clear_error(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    path = tmp_path / "short.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(IdxError):
        read_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "absent.idx")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200), compress=st.booleans())
def test_random_bytes_either_load_or_raise_idx_error(tmp_path, data, compress):
    path = write(tmp_path, data, compress=compress)
    try:
        array = read_idx(path)
    except IdxError:
        return
    assert array.nbytes <= len(data)


def test_header_with_many_huge_dimensions_and_one_zero_raises_idx_error():
    """Found by the atheris fuzz target: NumPy cannot reshape even an empty payload to
    26 dimensions whose non-zero sizes overflow; the reader must say so as an IdxError."""
    crash = Path(__file__).parent / "idx_crash_many_dimensions.bin"
    with pytest.raises(IdxError, match="which no array can have"):
        read_idx(crash)
