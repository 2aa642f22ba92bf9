"""vocoder.atomic: every write failure is one OutputError naming the file; nothing partial or
temporary is left; a killed writer's temp files are cleaned by the next run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.hostile import can_mount, fill, small_filesystem
from vocoder.atomic import (MAX_NAME_BYTES, OutputError, atomic_open, make_dir,
                            remove_stale_temps, save_npy, save_torch, temp_target, write_text)
from vocoder.audio import save_wav


def test_writers_write_atomically_with_ordinary_permissions(tmp_path):
    save_npy(tmp_path / "a.npy", np.arange(5, dtype=np.float32))
    save_torch(tmp_path / "b.pt", {"w": torch.ones(2)})
    write_text(tmp_path / "sub" / "c.json", "{}\n")
    assert np.load(tmp_path / "a.npy").tolist() == [0, 1, 2, 3, 4]
    assert torch.load(tmp_path / "b.pt")["w"].tolist() == [1.0, 1.0]
    assert (tmp_path / "sub" / "c.json").read_text() == "{}\n"
    assert (tmp_path / "a.npy").stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.npy", "b.pt", "c.json", "sub"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failing_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write(b"half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_places_that_cannot_take_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(OutputError, match=r"file: is a file, not a folder"):
        make_dir(tmp_path / "file")
    with pytest.raises(OutputError, match=r"file/x: cannot create the folder \(Not a directory\)"):
        make_dir(tmp_path / "file" / "x")
    with pytest.raises(OutputError, match=r"folder\.wav: is a folder; cannot write a file"):
        save_wav(tmp_path / "folder.wav", np.zeros(10), 16000)
    long_name = "語" * 80 + ".wav"  # 244 bytes: fits a file name, not its temp file's
    with pytest.raises(OutputError, match=rf"file name of 244 bytes is too long \(at most "
                                          rf"{MAX_NAME_BYTES} bytes"):
        save_wav(tmp_path / long_name, np.zeros(10), 16000)
    with pytest.raises(OutputError, match=r"bad\\nname\.txt': is a folder"):
        (tmp_path / "bad\nname.txt").mkdir()
        write_text(tmp_path / "bad\nname.txt", "x")


@pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")
def test_a_full_disk_and_a_read_only_folder_are_named(tmp_path):
    with small_filesystem(tmp_path / "full", size="64k") as full:
        fill(full, leave=1024)
        for write in (lambda p: save_wav(p, np.zeros(8000), 16000),
                      lambda p: save_npy(p, np.zeros(8000, np.float32)),
                      lambda p: save_torch(p, {"w": torch.zeros(8000)}),
                      lambda p: write_text(p, "x" * 8000)):
            with pytest.raises(OutputError, match=r"out: cannot write \(No space left on device\)"):
                write(full / "out")
        assert [p.name for p in full.iterdir()] == [".filler"]
    with small_filesystem(tmp_path / "ro", read_only=True) as ro:
        with pytest.raises(OutputError, match=r"out\.wav: cannot write \(Read-only file system\)"):
            save_wav(ro / "out.wav", np.zeros(10), 16000)
        with pytest.raises(OutputError, match=r"ro/new: cannot create the folder \(Read-only"):
            make_dir(ro / "new")


def test_stale_temp_files_of_given_targets_are_removed(tmp_path):
    for name in (".config.json.ab12cd_x.tmp", ".g_00000010.zz99.tmp", ".other.wav.k3j4.tmp",
                 "config.json", ".hidden", "x.tmp"):
        (tmp_path / name).write_text("")
    assert temp_target(".config.json.ab12cd_x.tmp") == "config.json"
    assert temp_target(".hidden") is None and temp_target("x.tmp") is None
    removed = remove_stale_temps(tmp_path, {"config.json", "g_00000010"})
    assert sorted(p.name for p in removed) == [".config.json.ab12cd_x.tmp", ".g_00000010.zz99.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".hidden", ".other.wav.k3j4.tmp", "config.json", "x.tmp"]
    assert remove_stale_temps(tmp_path / "missing", lambda name: True) == []
