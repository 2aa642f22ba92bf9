"""The app in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright loads the page, uploads clips, runs a conversion and checks that a playable audio
element appears. Not skipped when Chromium or Playwright is missing: it fails, saying what to
install (set HIFISYNTH_SKIP_BROWSER=1 to skip it on purpose)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.synth.service_models import SR, VC_HOP
from tests.app.conftest import AUDIO_IN, FETCH
from tests.conftest import speechlike, write_wav

@pytest.mark.slow
def test_voice_conversion_in_the_browser(app_server, browser_page, tmp_path) -> None:
    from playwright.sync_api import expect

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    source = write_wav(tmp_path / "source.wav", speechlike(1.5, 22050, seed=2), 22050)
    ref = write_wav(tmp_path / "reference.wav", speechlike(2.0, SR, seed=1), SR)

    page.goto(app_server.url)
    page.wait_for_selector("#tts-text")
    assert page.title() == "hifisynth"
    expect(page.locator("#hs-status")).to_contain_text("Device: cpu", timeout=30_000)
    for tab in ("Text to speech", "Voice conversion", "Vocoder", "Models"):
        assert page.get_by_role("tab", name=tab).is_visible()

    page.get_by_role("tab", name="Voice conversion").click()
    page.locator("#vc-source input[type=file]").set_input_files(str(source))
    page.locator("#vc-refs input[type=file]").set_input_files([str(ref)])
    page.wait_for_selector("#vc-refs >> text=reference.wav")
    page.wait_for_selector("#vc-source [data-testid='waveform-controls']")
    page.click("#vc-run")
    link = page.wait_for_selector("#vc-output a[download]", timeout=60_000)

    # The converted audio is served (a WAV of the expected length) ...
    fetched = page.evaluate(FETCH, link.get_attribute("href"))
    samples = ((int(1.5 * SR) - 400) // VC_HOP + 1) * VC_HOP
    assert fetched == {"status": 200, "size": 44 + 2 * samples, "head": "RIFF"}
    # ... and the page's player has loaded it: an <audio> with a source and its duration.
    deadline = time.monotonic() + 30
    while True:
        players = page.evaluate(AUDIO_IN, "vc-output")
        ready = [p for p in players if p["src"] and p["ready"] >= 1 and p["error"] is None]
        if ready or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ready, players
    assert ready[0]["duration"] == pytest.approx(samples / SR, abs=0.01)
    expect(page.locator("#vc-notes")).to_contain_text("1.50 s of source speech")

    shot = tmp_path / "voice-conversion.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # A bad upload shows the app's message in the page, and the app keeps working.
    silent = write_wav(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    page.locator("#vc-source button[aria-label='Clear']").first.click()
    page.locator("#vc-source input[type=file]").set_input_files(str(silent))
    page.wait_for_selector("#vc-source [data-testid='waveform-controls']")
    page.click("#vc-run")
    toast = page.wait_for_selector("text=the clip is silent", timeout=60_000)
    assert "Source (silent.wav): the clip is silent" in toast.inner_text()
    page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    assert not errors, errors
