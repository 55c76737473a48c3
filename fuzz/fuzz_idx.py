"""Coverage-guided fuzzing of the IDX reader (atheris, libFuzzer).

    pip install atheris
    python fuzz/fuzz_idx.py -max_total_time=300 -rss_limit_mb=1024 fuzz/corpus

Every input is written to a file and read with ``read_idx``, raw and gzip-compressed:
it must load or raise ``IdxError`` — any other exception, a crash, a hang or an
allocation over the RSS limit is a finding. ``fuzz/corpus`` holds valid seeds (written by
``python fuzz/fuzz_idx.py --seeds``).
"""

import gzip
import os
import struct
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from nnreg.datasets.idx import IdxError, read_idx

FOLDER = tempfile.mkdtemp(
    prefix="nnreg-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
)
RAW = os.path.join(FOLDER, "input")
COMPRESSED = os.path.join(FOLDER, "input.gz")


def test_one_input(data: bytes) -> None:
    with open(RAW, "wb") as handle:
        handle.write(data)
    with gzip.open(COMPRESSED, "wb", compresslevel=1) as handle:
        handle.write(data)
    for path in (RAW, COMPRESSED):
        try:
            array = read_idx(path)
        except IdxError:
            continue
        assert array.size * array.itemsize <= len(data), "more data than the file held"


def write_seeds(folder: str) -> None:
    """A few valid IDX files: images and labels of each type."""
    os.makedirs(folder, exist_ok=True)
    seeds = {
        "labels.idx": b"\x00\x00\x08\x01" + struct.pack(">i", 5) + bytes(range(5)),
        "images.idx": b"\x00\x00\x08\x03" + struct.pack(">3i", 2, 3, 3) + bytes(range(18)),
        "floats.idx": b"\x00\x00\x0d\x02"
        + struct.pack(">2i", 2, 2)
        + struct.pack(">4f", 1, 2, 3, 4),
        "shorts.idx": b"\x00\x00\x0b\x01" + struct.pack(">i", 3) + struct.pack(">3h", -1, 0, 1),
    }
    for name, content in seeds.items():
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(content)


if __name__ == "__main__":
    if "--seeds" in sys.argv:
        write_seeds(os.path.join(os.path.dirname(__file__), "corpus"))
    else:
        atheris.Setup(sys.argv, test_one_input)
        atheris.Fuzz()
