"""Files under the board's folder, opened without ever leaving it and without ever waiting:
every file the board reads or writes in a run folder goes through here.

A path under the root is walked one folder at a time, each opened relative to the one before
(``openat``) with ``O_NOFOLLOW``: a link anywhere on the way (the run folder, a sweep's
``cells/``, ``snapshots/``, the file itself) is refused, never followed. There is no check
apart from the opening, so a folder swapped for a link between a look and a read cannot
redirect the read. The file itself is looked at (``lstat``) and opened only when it is a
plain file, without blocking (``O_NONBLOCK``: a FIFO would wait for a writer forever), then
checked again once open (``fstat``): a FIFO, a socket or a device is never read.

Every link is refused, even one that stays inside the root: nnreg writes none in a run
folder, and a link that leads inside today may lead out tomorrow.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO

FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
APPEND_FLAGS |= os.O_NOCTTY | os.O_CLOEXEC

KINDS = (
    (stat.S_ISLNK, "a link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a plain file"),
)
"""What an entry of a folder is, in words, by its mode."""


class UnsafePath(OSError):
    """A path the board neither reads nor writes: a link on the way, or something other
    than a plain file (a FIFO, a socket, a device) where a file is expected."""


def kind(mode: int) -> str:
    """``mode`` (from ``lstat``) in words: "a link", "a FIFO", "a folder"…"""
    return next((words for test, words in KINDS if test(mode)), "not a plain file")


def open_folder(root: Path, path: str | Path = ".") -> Folder:
    """The folder ``path`` under ``root`` (relative, or absolute inside ``root``), held
    open; :class:`UnsafePath` when a component is a link or not a folder, ``OSError``
    (e.g. ``FileNotFoundError``) when it is not there. ``root`` itself is taken as given."""
    parts = _parts(root, path)
    top = Folder(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), "")
    if not parts:
        return top
    with top:
        return top.folder("/".join(parts))


def open_file(root: Path, path: str | Path) -> BinaryIO:
    """The plain file ``path`` under ``root``, open for reading (see :func:`open_folder`)."""
    parts = _parts(root, path)
    if not parts:
        raise UnsafePath(f"{path} is the board's folder, not a file")
    with open_folder(root, "/".join(parts[:-1])) as folder:
        return folder.open(parts[-1])


def lstat_or_none(path: Path) -> os.stat_result | None:
    """``path``'s own status (a link's, not its target's); None when it is not there."""
    try:
        return os.lstat(path)
    except OSError:
        return None


class Folder:
    """A folder under the root, held open by its descriptor (close it, or use ``with``):
    what is in it is looked at and opened relative to it, never through a link.

    Names may hold several components (``snapshots/epoch-0001.npz``); each is walked.
    Messages name them relative to the root (``sweep/cells/l2/board.log``)."""

    def __init__(self, descriptor: int, path: str) -> None:
        self.descriptor = descriptor
        self.path = path

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def info(self, name: str) -> os.stat_result | None:
        """``name``'s own status (a link's, not its target's); None when it is not there."""
        with self._parent(name) as (parent, last):
            try:
                return os.stat(last, dir_fd=parent.descriptor, follow_symlinks=False)
            except FileNotFoundError:
                return None

    def file_info(self, name: str) -> os.stat_result | None:
        """``name``'s status when it is a plain file, None when it is not there;
        :class:`UnsafePath` when it is anything else (a link, a FIFO, a folder…)."""
        return self._expect(name, stat.S_ISREG, "a plain file")

    def folder_info(self, name: str) -> os.stat_result | None:
        """``name``'s status when it is a folder (not a link), None when it is not there;
        :class:`UnsafePath` when it is anything else."""
        return self._expect(name, stat.S_ISDIR, "a folder")

    def is_file(self, name: str) -> bool:
        """Whether ``name`` is a plain file here (reached through no link)."""
        try:
            info = self.info(name)
        except OSError:
            return False
        return info is not None and stat.S_ISREG(info.st_mode)

    def folder(self, name: str) -> Folder:
        """The folder ``name`` in this one, held open (:func:`open_folder`)."""
        parts = _checked(name)
        descriptor, path = os.dup(self.descriptor), self.path
        for part in parts:
            path = f"{path}/{part}" if path else part
            descriptor = _open_in(descriptor, part, path)  # closes the one it was given
        return Folder(descriptor, path)

    def open(self, name: str) -> BinaryIO:
        """The plain file ``name``, open for reading; ``FileNotFoundError`` when it is not
        there, :class:`UnsafePath` when it is not a plain file. Never blocks."""
        with self._parent(name) as (parent, last):
            _refuse_unless_plain(parent, last)
            descriptor = os.open(last, READ_FLAGS, dir_fd=parent.descriptor)
        return _plain_or_closed(descriptor, self._shown(name), "rb")

    def append(self, name: str) -> BinaryIO:
        """The plain file ``name``, created when missing, open for appending;
        :class:`UnsafePath` when it is a link, a FIFO or anything but a plain file."""
        with self._parent(name) as (parent, last):
            _refuse_unless_plain(parent, last, missing_ok=True)
            descriptor = os.open(last, APPEND_FLAGS, 0o666, dir_fd=parent.descriptor)
        handle = _plain_or_closed(descriptor, self._shown(name), "ab")
        os.set_blocking(descriptor, True)  # a child writing its output blocks as usual
        return handle

    def make_folder(self, name: str) -> None:
        """Create the folder ``name`` (one component) in this one; ``FileExistsError`` when
        anything (a link included) has that name."""
        (part,) = _checked(name)
        os.mkdir(part, 0o777, dir_fd=self.descriptor)

    def names(self) -> list[str]:
        """The names in this folder (its entries, links and FIFOs included, unopened)."""
        return os.listdir(self.descriptor)

    def _expect(self, name: str, test, words: str) -> os.stat_result | None:
        info = self.info(name)
        if info is not None and not test(info.st_mode):
            raise UnsafePath(_refusal(self._shown(name), kind(info.st_mode), words))
        return info

    @contextlib.contextmanager
    def _parent(self, name: str):
        """The folder holding ``name`` (this one, or one opened under it for the while)
        and ``name``'s last component."""
        parts = _checked(name)
        if len(parts) == 1:
            yield self, parts[0]
        else:
            with self.folder("/".join(parts[:-1])) as parent:
                yield parent, parts[-1]

    def _shown(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name


def _refusal(shown: str, found: str, wanted: str) -> str:
    return (
        f"{shown} is {found}, not {wanted}: the board reads only plain files and folders "
        "under its folder (no links, FIFOs, sockets or devices)"
    )


def _open_in(parent: int, part: str, shown: str) -> int:
    """The folder ``part`` of the open folder ``parent`` (which is closed, also on error)."""
    try:
        return os.open(part, FOLDER_FLAGS, dir_fd=parent)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):  # not there, not allowed…
            raise
        try:
            found = kind(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            found = "not a folder"
        raise UnsafePath(_refusal(shown, found, "a folder")) from None
    finally:
        os.close(parent)


def _refuse_unless_plain(parent: Folder, name: str, missing_ok: bool = False) -> None:
    """Look before opening: a FIFO, socket or device is never opened (opening some
    devices does something); a missing file is ``FileNotFoundError`` unless ``missing_ok``."""
    try:
        mode = os.stat(name, dir_fd=parent.descriptor, follow_symlinks=False).st_mode
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    if not stat.S_ISREG(mode):
        raise UnsafePath(_refusal(parent._shown(name), kind(mode), "a plain file"))


def _plain_or_closed(descriptor: int, shown: str, mode: str) -> BinaryIO:
    """The open ``descriptor`` as a file when it is a plain file (checked again once open:
    it may have been swapped since the look); else closed, and :class:`UnsafePath`."""
    try:
        found = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(found):
            raise UnsafePath(_refusal(shown, kind(found), "a plain file"))
        return os.fdopen(descriptor, mode)
    except BaseException:
        os.close(descriptor)
        raise


def _parts(root: Path, path: str | Path) -> list[str]:
    """``path``'s components under ``root`` (relative, or absolute inside ``root``)."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            raise UnsafePath(f"{path} is not under the board's folder") from None
    text = path.as_posix()
    return [] if text == "." else _checked(text)


def _checked(name: str) -> list[str]:
    """A relative path's components; :class:`UnsafePath` for ``..``, an absolute path, an
    empty component or a NUL (names come from the folders, but are checked again here)."""
    parts = PurePosixPath(name).parts if name else ()
    if not parts or name.startswith("/") or "\0" in name:
        raise UnsafePath(f"{name!r} is not a path inside the board's folder")
    if any(part in ("..", ".") for part in parts):
        raise UnsafePath(f"{name!r} is not a path inside the board's folder ('..')")
    return list(parts)
