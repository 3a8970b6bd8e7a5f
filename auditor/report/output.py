"""Writing report files without destroying what they are written over; checking outputs early.

A report goes through a temporary file and a rename (all or nothing) only where a rename is
harmless: a regular file, or nothing yet. A symbolic link is followed and its target replaced,
so the link stays. Special files (``/dev/null``, a terminal, a FIFO, a socket) are written
through, never replaced, and a name for one of this process's open file descriptors
(``/dev/stdout``, ``/dev/fd/3``) writes to that descriptor.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from auditor.errors import ReportError

# A name the kernel resolves to an open file descriptor of the calling process (Linux's /proc,
# and /dev/fd, which is a link into it).  /dev/stdout and /dev/stderr are links to such names.
_FD_NAME = re.compile(r"/(?:dev/fd|proc/(?:self|thread-self|(\d+))/fd)/(\d+)")
# The kernel's limit on symbolic links followed in one lookup (MAXSYMLINKS).
_MAX_LINKS = 40


class _Refused(Exception):
    """A destination that no report may be written to; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Destination:
    """Where a report for a path goes, and how it is written there."""

    how: Literal["create", "replace", "through", "send", "descriptor"]
    path: Path  # the file written (a symbolic link resolved), or the name to open
    directory: Path | None = None  # create/replace: the directory that must be writable
    old: os.stat_result | None = None  # replace: the file replaced (owner and mode kept)
    fd: int | None = None  # descriptor: the open file descriptor named


def write_report(path: Path, text: str) -> None:
    """Write `text` to `path`, keeping whatever `path` is (see the module docstring).

    Raises ReportError naming the path; a failed write leaves a replaced file as it was.
    """
    path = path.expanduser()
    data = text.encode("utf-8")
    try:
        dest = _destination(path)
        if dest.how == "create":
            dest.path.parent.mkdir(parents=True, exist_ok=True)
            _replace(dest.path, data, None)
        elif dest.how == "replace":
            _replace(dest.path, data, dest.old)
        elif dest.how == "descriptor":
            assert dest.fd is not None
            _write_descriptor(dest.fd, data)
        elif dest.how == "send":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(dest.path))
                sock.sendall(data)
        else:
            fd = os.open(dest.path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
    except _Refused as exc:
        raise ReportError(f"cannot write {path}: {exc.reason}") from None
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc


def check_output(path: Path) -> str | None:
    """Why no report can be written to `path`, or None: run before a scan, so it fails early.

    Nothing is created, opened or changed (a FIFO would block until it has a reader).
    """
    path = path.expanduser()
    try:
        dest = _destination(path)
    except _Refused as exc:
        return exc.reason
    except OSError as exc:
        return str(exc.strerror or exc)
    if dest.how == "descriptor":
        assert dest.fd is not None
        try:
            flags = fcntl.fcntl(dest.fd, fcntl.F_GETFL)
        except OSError:
            return f"file descriptor {dest.fd} is not open"
        if flags & os.O_ACCMODE == os.O_RDONLY:
            return f"file descriptor {dest.fd} is not open for writing"
        return None
    if dest.directory is not None:
        if not os.access(dest.directory, os.W_OK | os.X_OK):
            return f"permission denied: cannot create files in {dest.directory}"
        return None
    if not os.access(dest.path, os.W_OK):
        return "permission denied"
    return None


def _destination(path: Path) -> _Destination:
    """How a report for `path` is written; raises _Refused (or OSError) where it cannot be."""
    fd = _descriptor(path)
    if fd is not None:
        return _Destination("descriptor", path, fd=fd)
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return _Destination("create", path, directory=_nearest_directory(path))
    target = path
    if stat.S_ISLNK(st.st_mode):
        target = Path(os.path.realpath(path))
        try:
            st = target.lstat()
        except (FileNotFoundError, NotADirectoryError):
            # A dangling link: create its target, but not the directories leading to it.
            if not os.path.isdir(target.parent):
                raise _Refused(
                    f"it is a symbolic link to {target}, in a directory that does not exist"
                ) from None
            return _Destination("create", target, directory=target.parent)
        if stat.S_ISLNK(st.st_mode):
            raise _Refused("too many levels of symbolic links")
    if stat.S_ISREG(st.st_mode):
        return _Destination("replace", target, directory=target.parent, old=st)
    if stat.S_ISDIR(st.st_mode):
        raise _Refused("it is a directory")
    if stat.S_ISBLK(st.st_mode):
        # Writing through would overwrite a disk, and replacing it would destroy the device node.
        raise _Refused("it is a block device")
    if stat.S_ISSOCK(st.st_mode):
        return _Destination("send", target)
    return _Destination("through", target)  # a character device or a FIFO


def _descriptor(path: Path) -> int | None:
    """The open file descriptor of this process that `path` names (/dev/stdout -> 1), if any.

    Such a name is written through the descriptor itself, at its offset: reopening it would
    truncate or overwrite what the shell redirected there, and a rename would replace the file
    behind the descriptor with a new one.
    """
    name = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        match = _FD_NAME.fullmatch(name)
        if match:
            pid, fd = match.groups()
            return int(fd) if pid is None or int(pid) == os.getpid() else None
        try:
            link = os.readlink(name)
        except OSError:
            return None
        name = os.path.normpath(os.path.join(os.path.dirname(name), link))
    return None


def _nearest_directory(path: Path) -> Path:
    """The closest existing ancestor of `path`, where its missing directories get created."""
    for parent in path.parents:
        if not os.path.lexists(parent):
            continue
        if not os.path.isdir(parent):
            what = "a broken symbolic link" if parent.is_symlink() else "not a directory"
            raise _Refused(f"{parent} is {what}")
        return parent
    return Path.cwd()  # not reached: a relative path ends in ".", an absolute one in "/"


def _replace(target: Path, data: bytes, old: os.stat_result | None) -> None:
    """All or nothing: a temporary file beside `target`, then a rename over it."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666 and the umask, as for any new file: a report is not private (mkstemp's
            # 0o600 would be).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    else:
        raise ReportError(f"cannot write {target}: no free temporary file name")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if old is not None:
                _keep_owner_and_mode(stream.fileno(), old)
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    """Give the new file the owner (where allowed) and permissions of the one it replaces."""
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        with contextlib.suppress(OSError):  # only root may give a file away
            os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which clears set-id bits


def _write_descriptor(fd: int, data: bytes) -> None:
    """Write at the descriptor's own offset, after what this process already wrote to it."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream: nothing to flush
            stream.flush()
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
