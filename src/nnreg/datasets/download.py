"""Where data live, and downloading them safely.

The data folder is, in order: the folder given explicitly (``--data-dir``), the
environment variable ``NNREG_DATA``, or a per-user default (``~/.local/share/nnreg`` on
Linux, from ``platformdirs``). A data set ``NAME`` lives in ``<data folder>/NAME/``.

A download tries each mirror URL in turn, streams into a temporary file beside the final
one, checks its SHA-256, and only then renames it into place: no partial or corrupt
file is ever left under the final name. ``http(s)://`` and ``file://`` URLs both work.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import platformdirs

from nnreg.checkpoints import temporary_file_beside

DATA_ENVIRONMENT_VARIABLE = "NNREG_DATA"
CHUNK = 1 << 20

Progress = Callable[[str, int, int | None], None]
"""progress(file name, bytes so far, total bytes or None)."""


class DownloadError(RuntimeError):
    """A data file that no mirror gave (no network, a mirror down, a wrong checksum).

    Its message lists why each mirror failed and what to do, in Python's terms (the data
    folder argument, ``NNREG_DATA``); :meth:`for_command` says the same with the options of
    nnreg's commands (``--data-dir``, ``--mirror``). ``also`` is advice added by the caller.
    """

    def __init__(self, file_name: str, destination: Path, failures: list[str]) -> None:
        self.file_name, self.destination, self.failures = file_name, Path(destination), failures
        self.also = ""
        super().__init__(file_name)

    def __reduce__(self):  # a sweep's worker process sends it back whole
        return (
            _rebuilt_download_error,
            (self.file_name, self.destination, self.failures, self.also),
        )

    def _text(self, folder: str, mirror: str) -> str:
        return (
            f"could not download {self.file_name}; every mirror failed:\n"
            + "\n".join(self.failures)
            + f"\nPut the file in {self.destination} yourself (any MNIST copy, .gz or not), "
            f"give {folder} a folder holding it in a '{self.destination.name}' subfolder, "
            f"or {mirror}." + (f"\n{self.also}" if self.also else "")
        )

    def __str__(self) -> str:
        return self._text(
            f"the data folder argument (folder=…) or the {DATA_ENVIRONMENT_VARIABLE} "
            "environment variable",
            "give a working mirror (mirrors=[URL], or the NNREG_MNIST_MIRRORS environment "
            "variable)",
        )

    def for_command(self) -> str:
        """The message with the options of nnreg's commands."""
        return self._text(
            f"--data-dir or ${DATA_ENVIRONMENT_VARIABLE}", "give a working mirror with --mirror URL"
        )


def data_folder(folder: str | Path | None = None) -> Path:
    """The data folder: ``folder`` if given, else ``$NNREG_DATA``, else the per-user default."""
    if folder is not None:
        return Path(folder).expanduser()
    if os.environ.get(DATA_ENVIRONMENT_VARIABLE):
        return Path(os.environ[DATA_ENVIRONMENT_VARIABLE]).expanduser()
    return platformdirs.user_data_path("nnreg")


def content_sha256(path: Path) -> str:
    """SHA-256 of the file's content, decompressed first if it is gzip.

    Mirrors serve the same data compressed differently (gzip header, level), so the
    uncompressed bytes are what is checked.
    """
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    digest = hashlib.sha256()
    opener = gzip.open if compressed else open
    with opener(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    file_name: str,
    destination: Path,
    mirrors: Sequence[str],
    sha256: str,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``file_name`` from the first mirror that serves it with the right checksum.

    Returns ``destination / file_name``. Raises :class:`DownloadError` when no mirror works.
    """
    created = [folder for folder in (destination, *destination.parents) if not folder.exists()]
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / file_name
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file_name
        try:
            _fetch_verified(url, target, sha256, progress, timeout)
            return target
        except (OSError, ValueError, EOFError) as error:
            failures.append(f"  {url}: {_reason(error)}")
    for folder in created:  # deepest first: leave nothing behind, not even empty folders
        if any(folder.iterdir()):
            break
        folder.rmdir()
    raise DownloadError(file_name, destination, failures)


def _rebuilt_download_error(file_name, destination, failures, also) -> DownloadError:
    error = DownloadError(file_name, destination, failures)
    error.also = also
    return error


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _fetch_verified(url, target: Path, sha256: str, progress, timeout) -> None:
    fd, temporary = temporary_file_beside(target, ".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(target.name, done, total)
            out.flush()
            os.fsync(out.fileno())
        found = content_sha256(Path(temporary))
        if found != sha256:
            raise ValueError(f"checksum mismatch (SHA-256 {found[:12]}…, expected {sha256[:12]}…)")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
