"""Hostile and broken uploads against a running app (issue 13), through ``gradio_client``.

One server for this module, started with no ``ffprobe`` (nor anything else) on its ``PATH``
and, where this process may mount one, a 64 kB tmpfs as its results folder (filled up for the
last case). Each case asserts a readable one-line message, and the server's peak memory
(``VmHWM``) is checked after the uploads that used to inflate it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import compressed_clips, start_app, stop_app
from tests.hostile import (can_mount, code_running_checkpoints, fill, small_filesystem,
                           wav_bytes, zip_bomb)
from tests.synth.pipeline_models import save_tiny_mel_vocoder

pytestmark = pytest.mark.slow

MOUNTABLE = can_mount()


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory so far (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def server(app_models, tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("hostile-app")
    # Nothing on PATH but the interpreter's folder: no ffprobe/ffmpeg to fall back on.
    monkeypatch_module.setenv("PATH", os.path.dirname(sys.executable))
    outputs = root / "apptmp" / "outputs"
    if MOUNTABLE:
        with small_filesystem(outputs, size="256k"):
            server = start_app(app_models, root, "--max-upload-mb", "8")
            try:
                yield server
            finally:
                stop_app(server)
    else:
        server = start_app(app_models, root, "--max-upload-mb", "8")
        try:
            yield server
        finally:
            stop_app(server)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server.url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("hostile-downloads")))


def upload(path: Path):
    from gradio_client import handle_file

    return handle_file(str(path))


def app_error(client, *args, api_name: str) -> str:
    """The app's answer to a request that must fail: one readable line, no traceback, no
    server folder."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    message = str(info.value)
    assert "Traceback" not in message and "apptmp" not in message, message
    assert "\n" not in message and "something went wrong" not in message, message
    return message


def test_mel_of_an_mp3_without_ffprobe(client, tmp_path):
    mp3 = compressed_clips(tmp_path)[".mp3"]
    image = Image.open(client.predict(upload(mp3), api_name="/mel"))
    assert image.size[1] == 160


def test_a_1_hz_wav_is_refused(client, tmp_path):
    (tmp_path / "one_hz.wav").write_bytes(wav_bytes(181_000, 1))
    message = app_error(client, upload(tmp_path / "one_hz.wav"), None, "default", None, None, "",
                        api_name="/vocoder")
    assert message.startswith("Audio (one_hz.wav): sample rate 1 Hz is not usable")


def test_a_zip_bomb_checkpoint_is_refused_without_inflating(client, server, tmp_path):
    # 1 GB of zeros deflated into 1 MB: it took the server to 7 GB while holding the only
    # synthesis slot.
    bomb = zip_bomb(tmp_path / "g_bomb.pt", inflated=1 << 30)
    assert bomb.stat().st_size < 2 << 20
    (tmp_path / "clip.wav").write_bytes(wav_bytes(np.zeros(16000) + 0.1, 16000))
    before = peak_rss_mb(server.process.pid)
    message = app_error(client, upload(tmp_path / "clip.wav"), None, "default", upload(bomb),
                        None, "v1", api_name="/vocoder")
    assert message.startswith("Checkpoint (g_bomb.pt): refused: tensor entry")
    assert "is compressed" in message and "inflate to 1.1 GB" in message
    assert peak_rss_mb(server.process.pid) < before + 200


def test_checkpoints_that_would_run_code_or_hold_nan_are_refused(client, app_models, tmp_path):
    marker = tmp_path / "pwned"
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav_bytes(np.zeros(16000) + 0.1, 16000))
    config = app_models.vocoder.parent / "config.json"
    for kind, path in code_running_checkpoints(tmp_path / "evil", marker).items():
        message = app_error(client, upload(clip), None, "default", upload(path),
                            [upload(config)], "", api_name="/vocoder")
        assert f"({path.name}): refused: loading it would run code (posix.system)" in message
    assert not marker.exists()
    nan = save_tiny_mel_vocoder(tmp_path / "nan", seed=0)
    state = torch.load(nan, weights_only=True)
    state["generator"]["conv_post.bias"].fill_(float("inf"))
    torch.save(state, nan)
    message = app_error(client, upload(clip), None, "default", upload(nan), [upload(config)], "",
                        api_name="/vocoder")
    assert "'generator.conv_post.bias' holds NaN or infinite values" in message


@pytest.mark.skipif(not MOUNTABLE, reason="a full results folder needs a tmpfs (root)")
def test_a_full_disk_is_a_readable_message(client, server):
    fill(server.temp_dir / "outputs", leave=1024)
    message = app_error(client, "Hello there, a full disk.", "base", [], None, "default",
                        api_name="/tts")
    assert message.startswith("Speech.wav: cannot write (No space left on device)"), message
    written = [p for p in (server.temp_dir / "outputs").rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix in (".wav", ".tmp")]  # no partial, no temp file
