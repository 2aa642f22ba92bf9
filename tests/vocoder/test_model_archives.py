"""vocoder.models.archives: unpacking model archives side by side, refusing what could write
outside the folder or fill the disk."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from vocoder.models.archives import ArchiveError, archive_kind, unpack


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz",
             links: dict[str, tuple[bytes, str]] | None = None) -> Path:
    """A tar file of regular ``members``; ``links`` name -> (type, target) adds link members."""
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return path


def make_zip(path: Path, members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = 0o120777 << 16
            zf.writestr(info, data)
    return path


def test_files_are_unpacked_side_by_side(tmp_path: Path) -> None:
    files = {"release/checkpoint-400000steps.pkl": b"weights", "release/config.yml": b"a: 1",
             "release/sub/stats.h5": b"stats", "release/.DS_Store": b"x",
             "__MACOSX/release/._config.yml": b"fork"}
    for archive in (make_tar(tmp_path / "m.tar.gz", files), make_zip(tmp_path / "m.zip", files),
                    make_tar(tmp_path / "m.tar", files, mode="w")):
        dest = tmp_path / f"out-{archive.name}"
        names = unpack(archive, dest, max_bytes=1000)
        assert names == ["checkpoint-400000steps.pkl", "config.yml", "stats.h5"]
        assert sorted(p.name for p in dest.iterdir()) == sorted(names)
        assert (dest / "stats.h5").read_bytes() == b"stats"
    assert archive_kind(tmp_path / "m.zip") == "zip" and archive_kind(tmp_path / "m.tar") == "tar"


@pytest.mark.parametrize("name", ["/etc/passwd", "../evil.py", "release/../../evil.py",
                                  "C:\\evil.py", "..\\evil.py"])
def test_absolute_and_climbing_names_are_refused(tmp_path: Path, name: str) -> None:
    for archive in (make_tar(tmp_path / "a.tar.gz", {"ok.txt": b"1", name: b"x"}),
                    make_zip(tmp_path / "a.zip", {"ok.txt": b"1", name: b"x"})):
        dest = tmp_path / "out"
        with pytest.raises(ArchiveError, match="absolute path or '..'; refused"):
            unpack(archive, dest, max_bytes=1000)
        assert not dest.exists()  # nothing half-unpacked is left
    assert not (tmp_path / "evil.py").exists() and not (tmp_path.parent / "evil.py").exists()


def test_links_and_special_files_are_refused(tmp_path: Path) -> None:
    cases = {"sym": (tarfile.SYMTYPE, "/etc/passwd"), "hard": (tarfile.LNKTYPE, "config.yml"),
             "fifo": (tarfile.FIFOTYPE, "")}
    for name, link in cases.items():
        archive = make_tar(tmp_path / f"{name}.tar.gz", {"config.yml": b"a"}, links={name: link})
        with pytest.raises(ArchiveError, match=f"member '{name}' is a (link|special file)"):
            unpack(archive, tmp_path / f"out-{name}", max_bytes=1000)
        assert not (tmp_path / f"out-{name}").exists()
    archive = make_zip(tmp_path / "link.zip", {"model.pth": b"w", "evil": b"/etc/passwd"},
                       symlinks=("evil",))
    with pytest.raises(ArchiveError, match="member 'evil' is a link or a special file"):
        unpack(archive, tmp_path / "out-zip", max_bytes=1000)


def test_size_and_count_are_bounded(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {"a.bin": bytes(600), "b.bin": bytes(600)})
    assert bomb.stat().st_size < 600  # zeros compress: the archive is small, its content not
    with pytest.raises(ArchiveError, match="unpacks to more than 1000 bytes; refused"):
        unpack(bomb, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()
    # A member that declares fewer bytes than it holds is still counted by what is written.
    liar = tmp_path / "liar.zip"
    make_zip(liar, {"a.bin": bytes(5000)})
    raw = bytearray(liar.read_bytes())
    for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed sizes
        at = raw.find(header)
        raw[at + offset: at + offset + 4] = (10).to_bytes(4, "little")
    liar.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match="unpacks to more than 1000 bytes|cannot unpack"):
        unpack(liar, tmp_path / "out2", max_bytes=1000)
    many = make_tar(tmp_path / "many.tar.gz", {f"f{i}": b"x" for i in range(5)})
    with pytest.raises(ArchiveError, match="more than 3 files"):
        unpack(many, tmp_path / "out3", max_bytes=1000, max_members=3)


def test_duplicates_garbage_and_empty_archives(tmp_path: Path) -> None:
    dup = make_tar(tmp_path / "dup.tar.gz", {"a/config.yml": b"1", "b/config.yml": b"2"})
    with pytest.raises(ArchiveError, match="two members are called 'config.yml'"):
        unpack(dup, tmp_path / "out", max_bytes=1000)
    page = tmp_path / "page.tar.gz"
    page.write_text("<!DOCTYPE html><html>Google Drive - Virus scan warning</html>")
    assert archive_kind(page) is None
    with pytest.raises(ArchiveError, match="not a zip or tar archive"):
        unpack(page, tmp_path / "out", max_bytes=1000)
    empty = make_zip(tmp_path / "empty.zip", {".hidden": b"x"})
    with pytest.raises(ArchiveError, match="holds no files"):
        unpack(empty, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()
