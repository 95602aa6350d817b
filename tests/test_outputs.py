"""Output files: checked before the work, created as open() creates them, all or nothing, and
never committed after Ctrl-C."""
import os
import signal
import stat
from pathlib import Path

import pytest

from tvm_dsprune import interrupts
from tvm_dsprune.errors import InputError
from tvm_dsprune.outputs import output_set


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_follow_the_umask_like_open(tmp_path):
    old = os.umask(0o027)
    try:
        with output_set(tmp_path / "a.txt") as out:
            out.path(tmp_path / "a.txt").write_text("a")
        with open(tmp_path / "b.txt", "w") as f:       # the oracle: what open() creates
            f.write("b")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.txt") == 0o640


def test_a_replaced_file_keeps_its_mode_and_a_symlink_is_written_through(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    (tmp_path / "a.txt").chmod(0o600)
    (tmp_path / "link.txt").symlink_to("a.txt")
    with output_set(tmp_path / "link.txt") as out:
        out.path(tmp_path / "link.txt").write_text("new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "a.txt").read_text() == "new"
    assert mode(tmp_path / "a.txt") == 0o600


@pytest.mark.parametrize("name,message", [
    ("missing/x.txt", "missing does not exist"),
    ("adir", "is a folder"),
    ("ro.txt", "exists and is read-only"),
    ("afile/x.txt", "is not a folder"),
])
def test_bad_paths_fail_before_the_work(name, message, tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    (tmp_path / "ro.txt").write_text("keep")
    (tmp_path / "ro.txt").chmod(0o444)
    before = sorted(os.listdir(tmp_path))
    ran = []
    with pytest.raises(InputError, match=message):
        with output_set(tmp_path / "ok.txt", tmp_path / name):
            ran.append(True)
    assert not ran and sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "ro.txt").read_text() == "keep"


def test_a_device_is_not_replaced():
    with pytest.raises(InputError, match="not a regular file"):
        with output_set("/dev/null"):
            pass
    assert Path("/dev/null").is_char_device()


def test_a_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with output_set(tmp_path / "a.txt", tmp_path / "b.txt") as out:
            out.path(tmp_path / "a.txt").write_text("a")
            raise RuntimeError("half-way")
    assert os.listdir(tmp_path) == []


def test_an_interrupt_a_guard_swallowed_still_commits_nothing(tmp_path):
    """A real SIGINT, caught by an `except` that should not have caught it: the files stay out."""
    with interrupts.handling():
        with pytest.raises(KeyboardInterrupt):
            with output_set(tmp_path / "a.txt") as out:
                out.path(tmp_path / "a.txt").write_text("a")
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    for _ in range(1000):          # the handler runs between bytecodes
                        pass
                except KeyboardInterrupt:
                    pass                            # swallowed, as a TVM guard might
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is not interrupts._handler     # restored afterwards
