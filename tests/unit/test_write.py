"""Writing reports: a rename only where it destroys nothing; links, devices, FIFOs kept."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.errors import ReportError
from auditor.report.output import check_output, write_report

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _only(directory: Path) -> list[str]:
    """The names in a directory: a temporary file left behind would show here."""
    return sorted(p.name for p in directory.iterdir())


def test_new_file_gets_the_umask_default(tmp_path: Path, umask_022: None) -> None:
    out = tmp_path / "deep" / "r.json"
    write_report(out, "new\n")
    assert out.read_text() == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not mkstemp's 0o600
    assert _only(out.parent) == ["r.json"]


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("old")
    out.chmod(0o640)
    write_report(out, "new")
    assert out.read_text() == "new"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert _only(tmp_path) == ["r.json"]


@pytest.mark.skipif(not IS_ROOT, reason="only root can give a file to another user")
def test_replacing_a_file_keeps_its_owner(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("old")
    os.chown(out, 12345, 12345)
    write_report(out, "new")
    assert (out.stat().st_uid, out.stat().st_gid) == (12345, 12345)


def test_symlink_updates_its_target_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real" / "r.json"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o600)
    (tmp_path / "hop").symlink_to("real/r.json")
    link = tmp_path / "r.json"
    link.symlink_to("hop")  # a chain of two relative links
    write_report(link, "new")
    assert link.is_symlink() and os.readlink(link) == "hop"
    assert (tmp_path / "hop").is_symlink()
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _only(tmp_path) == ["hop", "r.json", "real"]
    assert _only(target.parent) == ["r.json"]


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "r.json"
    link.symlink_to("target.json")
    assert check_output(link) is None
    write_report(link, "new")
    assert link.is_symlink()
    assert (tmp_path / "target.json").read_text() == "new"


def test_dangling_symlink_into_a_missing_directory_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "r.json"
    link.symlink_to("missing/target.json")
    reason = check_output(link)
    assert reason is not None and "directory that does not exist" in reason
    with pytest.raises(ReportError, match="directory that does not exist"):
        write_report(link, "new")
    assert not (tmp_path / "missing").exists()


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert check_output(tmp_path / "a") == "too many levels of symbolic links"
    with pytest.raises(ReportError, match="too many levels of symbolic links"):
        write_report(tmp_path / "a", "new")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


@pytest.mark.skipif(
    not Path("/dev/null").is_char_device(), reason="/dev/null is not a character device here"
)
def test_dev_null_stays_a_character_device() -> None:
    before = os.stat("/dev/null")
    assert check_output(Path("/dev/null")) is None
    write_report(Path("/dev/null"), "{}\n")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_fifo_receives_the_report(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    assert check_output(fifo) is None  # checking does not open it (that would block)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_report(fifo, "through the fifo\n")
    reader.join(timeout=10)
    assert received == [b"through the fifo\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert _only(tmp_path) == ["report.fifo"]


def test_unix_socket_receives_the_report(tmp_path: Path) -> None:
    path = tmp_path / "report.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            chunks = iter(lambda: connection.recv(65536), b"")
            received.append(b"".join(chunks))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert check_output(path) is None
        write_report(path, "x" * 200_000)
        thread.join(timeout=10)
    finally:
        server.close()
    assert received == [b"x" * 200_000]
    assert stat.S_ISSOCK(path.lstat().st_mode)


def test_descriptor_name_writes_at_the_descriptors_offset(tmp_path: Path) -> None:
    # As `scan --json /dev/stdout > out.txt` does: the shell's file keeps its inode, what was
    # written before stays, what comes after follows the report.
    out = tmp_path / "out.txt"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        inode = os.fstat(fd).st_ino
        os.write(fd, b"before\n")
        name = Path(f"/dev/fd/{fd}")
        assert check_output(name) is None
        write_report(name, "report\n")
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert out.read_text() == "before\nreport\nafter\n"
    assert out.stat().st_ino == inode


def test_descriptor_name_of_a_pipe(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        write_report(Path(f"/proc/self/fd/{write_end}"), "piped\n")
        assert os.read(read_end, 100) == b"piped\n"
        assert check_output(Path(f"/dev/fd/{read_end}")) == (
            f"file descriptor {read_end} is not open for writing"
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert check_output(Path(f"/dev/fd/{write_end}")) == (
        f"file descriptor {write_end} is not open"
    )


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert check_output(tmp_path / "d") == "it is a directory"
    with pytest.raises(ReportError, match="it is a directory"):
        write_report(tmp_path / "d", "x")
    assert _only(tmp_path / "d") == []


@pytest.mark.skipif(not IS_ROOT, reason="only root can create a device node")
def test_block_device_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "disk"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except PermissionError:
        pytest.skip("device nodes cannot be created here (no CAP_MKNOD)")
    assert check_output(node) == "it is a block device"
    with pytest.raises(ReportError, match="it is a block device"):
        write_report(node, "x")
    assert stat.S_ISBLK(node.lstat().st_mode)


def test_path_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("x")
    out = tmp_path / "somefile" / "deeper" / "r.json"
    assert check_output(out) == f"{tmp_path / 'somefile'} is not a directory"
    with pytest.raises(ReportError, match="somefile is not a directory"):
        write_report(out, "x")
    assert (tmp_path / "somefile").read_text() == "x"


def test_check_creates_nothing(tmp_path: Path) -> None:
    assert check_output(tmp_path / "new" / "dirs" / "r.json") is None
    assert check_output(tmp_path / "r.json") is None
    assert _only(tmp_path) == []


def test_broken_link_as_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "reports").symlink_to("nowhere")
    reason = check_output(tmp_path / "reports" / "r.json")
    assert reason == f"{tmp_path / 'reports'} is a broken symbolic link"


@pytest.mark.skipif(IS_ROOT, reason="root may write into any directory")
def test_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "r.json").write_text("old")
    locked.chmod(0o555)
    try:
        reason = check_output(locked / "r.json")
        assert reason is not None and reason.startswith("permission denied")
        with pytest.raises(ReportError, match="Permission denied"):
            write_report(locked / "r.json", "new")
        assert (locked / "r.json").read_text() == "old"
    finally:
        locked.chmod(0o755)
