"""Reading IDX files (the format of MNIST and Fashion-MNIST), raw or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions d, then d big-endian
int32 sizes, then the data, big-endian, row-major. Every claim of the header is checked
against the file before it is trusted: the data are only allocated when the file can
hold them (its size, or for gzip its size times deflate's largest possible ratio), so a
header that declares more raises :class:`IdxError` instead of allocating what it
declares, and a file with missing or extra bytes is reported as such.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from math import prod
from pathlib import Path

import numpy as np

DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
# deflate cannot expand a stream by more than about 1032:1
MAX_GZIP_RATIO = 1100
MAX_DIMENSIONS = 32
"""NumPy's limit on the number of dimensions of an array."""


class IdxError(ValueError):
    """A file that is not a well-formed IDX file; the message names the file and the problem."""


def _open(path: Path):
    """The decompressed stream, the most bytes it can possibly hold, and whether exactly."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    size = path.stat().st_size
    if compressed:
        return gzip.open(path, "rb"), size * MAX_GZIP_RATIO, False
    return open(path, "rb"), size, True


def _read_exactly(stream, size: int, path: Path, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise IdxError(f"{path}: truncated in the {what} ({len(data)} of {size} bytes)")
    return data


def read_idx(
    path: str | Path, *, ndim: int | None = None, dtype: np.dtype | None = None
) -> np.ndarray:
    """The array stored in the IDX file ``path`` (``.gz`` or raw, told apart by content).

    ``ndim`` and ``dtype``, when given, are what the caller expects (e.g. 3 and uint8 for
    images); a file that says otherwise is rejected as mislabelled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        stream, capacity, exact = _open(path)
        with stream:
            return _read(stream, path, ndim, dtype, capacity, exact)
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise IdxError(f"{path}: corrupt or truncated compressed data ({error})") from None


def _read(
    stream, path: Path, ndim: int | None, dtype: np.dtype | None, capacity: int, exact: bool
) -> np.ndarray:
    zeros, type_code, dimensions = struct.unpack(">HBB", _read_exactly(stream, 4, path, "header"))
    if zeros != 0 or type_code not in DTYPES:
        raise IdxError(
            f"{path}: not an IDX file (its first bytes are {zeros:04x}{type_code:02x}, "
            "expected 0000 followed by a type code 08, 09, 0b, 0c, 0d or 0e)"
        )
    item = DTYPES[type_code]
    if ndim is not None and dimensions != ndim:
        raise IdxError(
            f"{path}: holds a {dimensions}-dimensional array, expected {ndim} dimensions"
        )
    if dtype is not None and item.newbyteorder("=") != np.dtype(dtype):
        raise IdxError(f"{path}: holds {item.name} data, expected {np.dtype(dtype).name}")
    shape = struct.unpack(f">{dimensions}I", _read_exactly(stream, 4 * dimensions, path, "sizes"))
    nonzero = prod(size for size in shape if size)
    if dimensions > MAX_DIMENSIONS or nonzero * item.itemsize >= 2**63:
        # NumPy cannot describe such an array, even an empty one (found by fuzzing)
        raise IdxError(
            f"{path}: its header declares {dimensions} dimensions of sizes {list(shape)}, which "
            f"no array can have (at most {MAX_DIMENSIONS} dimensions, fewer than 2⁶³ bytes)"
        )
    expected = prod(shape) * item.itemsize
    described = " × ".join(map(str, shape)) or "scalar"
    header_size = 4 + 4 * dimensions
    available = max(capacity - header_size, 0)
    if expected > available:
        raise IdxError(
            f"{path}: truncated: its header declares {described} values ({expected:,} bytes) "
            + (
                f"but only {available:,} bytes of data follow"
                if exact
                else f"but a compressed file of this size cannot hold more than {available:,} bytes"
            )
        )
    payload = bytearray(expected)
    view = memoryview(payload)
    filled = 0
    while filled < expected:
        count = stream.readinto(view[filled : filled + CHUNK])
        if not count:
            break
        filled += count
    if filled < expected:
        raise IdxError(
            f"{path}: truncated: its header declares {described} values ({expected:,} bytes) "
            f"but only {filled:,} bytes of data follow"
        )
    if stream.read(1):
        raise IdxError(f"{path}: has more data than its header declares ({described} values)")
    return (
        np.frombuffer(payload, dtype=item).reshape(shape).astype(item.newbyteorder("="), copy=False)
    )
