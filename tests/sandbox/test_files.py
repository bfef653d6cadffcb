"""Finding written files, and handing the run folder to the kernel's user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.files import changed_files, snapshot_files
from sandbox.ownership import hand_over


def test_changed_files_finds_new_and_modified_files_only(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_text("a")
    (tmp_path / "edited.txt").write_text("a")
    (tmp_path / ".sandbox").mkdir()
    before = snapshot_files(tmp_path, skip=(".sandbox",))
    (tmp_path / "edited.txt").write_text("ab")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.png").write_bytes(b"x")
    (tmp_path / ".sandbox" / "ignored").write_text("x")
    os.symlink("/etc/passwd", tmp_path / "link")
    after = snapshot_files(tmp_path, skip=(".sandbox",))
    assert changed_files(before, after) == ["edited.txt", "link", "sub/new.png"]


def test_snapshot_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    os.symlink("/usr", tmp_path / "usr")
    assert list(snapshot_files(tmp_path)) == ["usr"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_hand_over_changes_owners_but_not_through_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "sub" / "f.txt").write_text("x")
    os.symlink(outside, run / "link")
    os.link(outside, run / "hardlink")
    assert hand_over(run, 65534, 65534) == 4  # run, sub, sub/f.txt, link
    assert (run / "sub" / "f.txt").stat().st_uid == 65534
    assert os.lstat(run / "link").st_uid == 65534
    assert outside.stat().st_uid == 0, "neither the symlink nor the hard link changed the outside file"
    assert hand_over(run, 65534, 65534) == 0
