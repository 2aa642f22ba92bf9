"""Text to speech with a tiny random Tacotron2 in a real browser (headless Chromium): the app
preselects the Tacotron2 that is downloaded, plays its speech, shows its mel with the attention
alignment below, converts it into a voice from reference clips, falls back to the espeak-ng
base voice on request, and refuses a vocoder of another mel with a message in the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from synth.models import ModelCache, ModelRegistry
from tests.app.conftest import AUDIO_IN, FETCH, AppServer, choose, start_app, stop_app
from tests.conftest import speechlike, write_wav
from tests.synth.pipeline_models import (registry_file, save_tiny_mel_vocoder,
                                         save_tiny_vc_models)
from tests.synth.tacotron2_models import (acoustic_entry, save_tiny_ljspeech_vocoder,
                                          save_tiny_tacotron2)

TACOTRON2 = "tacotron2-characters-ljspeech"
TEXT = "Hello world. This is a test of Tacotron2 in the browser."


@pytest.fixture(scope="module")
def tts_app(app_models, tmp_path_factory) -> Iterator[AppServer]:
    """The app with a tiny Tacotron2 downloaded under the registry name of the real one and
    a tiny vocoder of its mel as the default vocoder."""
    root = tmp_path_factory.mktemp("tts-app")
    published = root / "published"
    t2 = save_tiny_tacotron2(published / "t2.pth", frames=60)
    models_dir = root / "models"  # its own: the session's app lists the shared one
    voc = save_tiny_ljspeech_vocoder(models_dir / "lj")
    save_tiny_mel_vocoder(models_dir / "v16k")  # 16 kHz, 20 mels: not Tacotron2's mel
    entries = save_tiny_vc_models(published / "vc")["entries"]
    entries.append(acoustic_entry(TACOTRON2, t2.as_uri()))
    registry = registry_file(root, entries)
    home = root / "home"
    cache = ModelCache(ModelRegistry.load(registry), home, progress=False)
    for name in ("tiny-wavlm", "tiny-knnvc", TACOTRON2):
        cache.download(name)
    server = start_app(app_models, root, "--vocoder", str(voc), "--models-dir", str(models_dir),
                       registry=registry, home=home, models_dir=False)
    try:
        yield server
    finally:
        stop_app(server)


def wait_for_player(page, element: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        players = page.evaluate(AUDIO_IN, element)
        ready = [p for p in players if p["src"] and p["ready"] >= 1 and p["error"] is None]
        if ready or time.monotonic() > deadline:
            assert ready, players
            return ready[0]
        time.sleep(0.2)


def picture(page, tmp_path: Path, name: str) -> Image.Image:
    src = page.locator("#tts-mel img").get_attribute("src")
    fetched = page.evaluate("""async (url) => {
      const r = await fetch(url);
      return Array.from(new Uint8Array(await r.arrayBuffer()));
    }""", src)
    path = tmp_path / name
    path.write_bytes(bytes(fetched))
    return Image.open(path)


@pytest.mark.slow
def test_tacotron2_in_the_browser(tts_app, browser_page, tmp_path) -> None:
    from playwright.sync_api import expect

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(tts_app.url)
    page.wait_for_selector("#tts-text")
    expect(page.locator("#hs-status")).to_contain_text("Device: cpu", timeout=30_000)
    assert page.locator("#tts-acoustic input").input_value() == f"{TACOTRON2} (downloaded)"
    assert page.locator("#tts-vocoder input").input_value().startswith("g_00000001 (default")

    # Tacotron2 -> the vocoder: the speech plays; its mel and attention are one picture.
    page.fill("#tts-text textarea", TEXT)
    page.fill("#tts-seed input", "7")
    page.click("#tts-run")
    link = page.wait_for_selector("#tts-audio a[download]", timeout=60_000)
    notes = page.locator("#tts-notes")
    expect(notes).to_contain_text(f"{TACOTRON2} (seed 7) through the g_00000001 vocoder")
    fetched = page.evaluate(FETCH, link.get_attribute("href"))
    assert fetched["status"] == 200 and fetched["head"] == "RIFF"
    samples = (fetched["size"] - 44) // 2
    assert samples % 256 == 0 and samples > 2 * 22050 * 0.5  # two sentences and a pause
    assert wait_for_player(page, "tts-audio")["duration"] == pytest.approx(samples / 22050,
                                                                           abs=0.01)
    page.wait_for_selector("#tts-mel img", timeout=60_000)
    image = picture(page, tmp_path, "speech.png")
    assert image.size[1] == 160 + 4 + 96  # mel, a white gap, the alignment
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels[160:164] == 255).all()  # the gap
    assert pixels[164:].mean() > 5  # the alignment is drawn, not black
    # the second sentence starts after the pause: a grey line in the alignment panel
    grey = np.all(pixels[170:] == 128, axis=(0, 2))
    assert grey.sum() == 1 and 0.3 * image.size[0] < np.argmax(grey) < 0.8 * image.size[0]
    page.screenshot(path=str(tmp_path / "1-tacotron2.png"), full_page=True)

    # The same text and seed give the same speech (through the API: the same endpoint).
    from gradio_client import Client

    client = Client(tts_app.url, verbose=False, analytics_enabled=False,
                    download_files=str(tmp_path / "api"))
    runs = [client.predict(TEXT, "base", [], None, "default", TACOTRON2, 7, api_name="/tts")
            for _ in range(2)]
    first, second = (Path(wav).read_bytes() for wav, _ in runs)
    assert first == second and len(first) == fetched["size"]
    assert "(seed 7)" in runs[0][1]

    # In a voice from reference clips: Tacotron2's speech converted with kNN-VC (16 kHz).
    ref = write_wav(tmp_path / "reference.wav", speechlike(2.0, 16000, seed=1), 16000)
    page.locator("#tts-voice label", has_text="Reference clips").click()
    page.locator("#tts-refs input[type=file]").set_input_files([str(ref)])
    page.wait_for_selector("#tts-refs >> text=reference.wav")
    page.click("#tts-run")
    expect(notes).to_contain_text("converted into 1 reference clip(s) (kNN-VC)", timeout=60_000)
    expect(notes).to_contain_text("Hz")
    assert "16000 Hz" in notes.inner_text()
    page.screenshot(path=str(tmp_path / "2-in-a-voice.png"), full_page=True)

    # The espeak-ng base voice on request, through the vocoder; its picture is the mel alone.
    page.locator("#tts-voice label", has_text="The model's own voice").click()
    choose(page, "tts-acoustic", "espeak")
    page.click("#tts-run")
    expect(notes).to_contain_text("espeak-ng base voice through the g_00000001 vocoder",
                                  timeout=60_000)
    page.wait_for_function("() => { const i = document.querySelector('#tts-mel img');"
                           " return i && i.naturalHeight === 160; }", timeout=60_000)
    page.screenshot(path=str(tmp_path / "3-espeak.png"), full_page=True)

    # A vocoder of another mel is refused with a message in the page; the app goes on.
    choose(page, "tts-acoustic", TACOTRON2)
    choose(page, "tts-vocoder", "v16k/g_00000001")
    page.click("#tts-run")
    toast = page.wait_for_selector("text=differ): it cannot vocode them", timeout=60_000)
    assert "pick another vocoder, or the espeak-ng base voice" in toast.inner_text()
    page.screenshot(path=str(tmp_path / "4-mismatch.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    assert not errors, errors
