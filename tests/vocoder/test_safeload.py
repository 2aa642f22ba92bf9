"""vocoder.safeload: torch files are refused before they inflate or run code, NaN weights at
load, and every kind of torch file in the product goes through it."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
import torch

from tests.hostile import code_running_checkpoints, zip_bomb
from vocoder.checkpoint import CheckpointError, read_checkpoint
from vocoder.safeload import (MAX_PICKLE_BYTES, TorchFileError, check_archive, first_nonfinite,
                              torch_load, unsafe_globals)


def test_a_deflated_storage_is_refused_from_the_zip_directory(tmp_path):
    bomb = zip_bomb(tmp_path / "g_bomb", inflated=64 << 20)
    with pytest.raises(TorchFileError, match=r"g_bomb: refused: tensor entry '?[^ ]*/data/0'? is "
                                             r"compressed \(\d+\.\d kB that inflate to 67\.1 MB\)"):
        check_archive(bomb, 1 << 40)
    with pytest.raises(CheckpointError, match="made to inflate"):
        read_checkpoint(bomb)


def test_entries_claiming_more_bytes_than_the_file_holds_are_refused(tmp_path):
    path = tmp_path / "g_overlap"
    torch.save({"generator": {"w": torch.ones(1000)}}, path)
    data = bytearray(path.read_bytes())
    # Make the central directory claim a 1 GB storage (what overlapping entries amount to).
    start = data.rfind(b"PK\x01\x02", 0, len(data))
    while start != -1:
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        name = bytes(data[start + 46:start + 46 + name_len])
        if name.endswith(b"/data/0"):
            struct.pack_into("<I", data, start + 24, 1 << 30)
        start = data.rfind(b"PK\x01\x02", 0, start)
    path.write_bytes(bytes(data))
    with pytest.raises(TorchFileError, match=r"g_overlap: refused: its entries claim 1\.1 GB in "
                                             r"a file of \d+\.\d kB \(they overlap"):
        check_archive(path, 1 << 40)


def test_a_file_bigger_than_its_kind_can_need_is_refused(tmp_path):
    path = tmp_path / "voice.pt"
    torch.save({"features": torch.zeros(1000, 16)}, path)
    with pytest.raises(TorchFileError, match=r"voice\.pt: 64\.\d kB once loaded is more than a "
                                             r"matching set can need \(at most 1\.0 kB\)"):
        torch_load(path, what="matching set", max_bytes=1000)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(TorchFileError, match=r"legacy\.pt: 4\.\d kB is more than a checkpoint"):
        torch_load(legacy, what="checkpoint", max_bytes=1000)
    assert torch_load(legacy, max_bytes=1 << 20)["w"].shape == (1000,)


def test_a_big_compressed_pickle_is_refused(tmp_path):
    path = tmp_path / "g_pkl"
    torch.save({"w": torch.zeros(2)}, path)
    rebuilt = tmp_path / "g_big_pickle"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data += b"\0" * (MAX_PICKLE_BYTES + 1)
                dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                dst.writestr(info.filename, data)
    with pytest.raises(TorchFileError, match=r"refused: compressed entry .*data\.pkl.* inflates "
                                             r"to 67\.1 MB \(at most 67\.1 MB\)"):
        check_archive(rebuilt, 1 << 40)


def test_every_way_to_pickle_os_system_is_refused_as_unsafe(tmp_path):
    marker = tmp_path / "pwned"
    for kind, path in code_running_checkpoints(tmp_path, marker).items():
        assert unsafe_globals(path)[:1] == ["posix.system"], kind
        with pytest.raises(TorchFileError) as info:
            torch_load(path, what="checkpoint", max_bytes=1 << 30)
        assert info.value.unsafe, kind
        assert f"{path.name}: refused: loading it would run code (posix.system), so it is " \
               "unsafe" in str(info.value), kind
    assert not marker.exists()


def test_plain_files_have_no_unsafe_globals_and_corrupt_ones_are_not_called_unsafe(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(2), "n": np.float32(1.5), "a": np.arange(3)}, good)
    assert unsafe_globals(good) == []
    assert torch_load(good, max_bytes=1 << 20)["n"] == 1.5
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00a")  # a pickle cut short
    with pytest.raises(TorchFileError, match=r"junk\.pt: not a PyTorch file, or the file is "
                                             r"corrupt") as info:
        torch_load(junk, max_bytes=1 << 20)
    assert not info.value.unsafe


def test_a_checkpoint_cut_short_is_called_corrupt_at_every_cut(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save({"generator": {"w": torch.randn(4000)}}, whole)
    data = whole.read_bytes()
    for cut in (100, 1000, len(data) // 2, len(data) - 100):  # an interrupted download
        part = tmp_path / f"cut{cut}.pt"
        part.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"cut{cut}\.pt: not a PyTorch checkpoint, or "
                                                  r"the file is corrupt") as info:
            read_checkpoint(part)
        assert "\n" not in str(info.value)


def test_nan_and_inf_are_found_by_name(tmp_path):
    state = {"generator": {"a.weight": torch.ones(3), "b.bias": torch.tensor([1.0, float("inf")])},
             "steps": 10, "arr": [np.zeros(2)]}
    assert first_nonfinite(state) == "'generator.b.bias'"
    assert first_nonfinite({"x": [np.array([np.nan])]}) == "'x.0'"
    assert first_nonfinite({"i": torch.arange(3), "ok": torch.zeros(2)}) is None
    shared: list = []
    for _ in range(60):  # shared references: visited once, not 2**60 times
        shared = [shared, shared]
    assert first_nonfinite(shared) is None
    path = tmp_path / "g_nan"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"g_nan: 'generator\.b\.bias' holds NaN or "
                                              r"infinite values"):
        read_checkpoint(path)
    assert read_checkpoint(path, finite=False)["steps"] == 10
