"""The infrastructure-fault scenarios' own parts (the scenarios themselves run
under ``make faults``): filling a disk to its last byte, and saying why a
kind of scenario cannot run here."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess

import pytest

from harness import infrafaults


def test_every_scenario_kind_names_its_points_and_says_why_it_cannot_run():
    assert set(infrafaults.INFRA) == {f"{k}:{p}" for k, points in infrafaults.KINDS.items() for p in points}
    assert infrafaults.unavailable("server") == ""  # an mlflow server needs only the package
    why = infrafaults.unavailable("disk")
    assert why == ("" if os.geteuid() == 0 and shutil.which("mount") else "mounting a tmpfs needs root")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_fill_leaves_no_byte_and_freeing_it_makes_room_again(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (disk / "journal").write_bytes(b"x" * 100)  # a file whose last page has room left
        written = infrafaults._fill(disk)
        assert 900_000 < written <= 1 << 20
        assert os.statvfs(disk).f_bavail == 0
        with pytest.raises(OSError) as exc:  # a new page: refused
            with open(disk / "more", "wb", buffering=0) as f:
                f.write(b"y" * 8192)
        assert exc.value.errno == errno.ENOSPC
        (disk / "filler").unlink()
        (disk / "more").write_bytes(b"y" * 8192)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
