"""The app in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright loads the page, uploads clips, runs a conversion and checks that a playable audio
element appears. Not skipped when Chromium or Playwright is missing: it fails, saying what to
install (set HIFISYNTH_SKIP_BROWSER=1 to skip it on purpose)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.synth.service_models import SR, VC_HOP
from tests.conftest import speechlike, write_wav

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]

# Every <audio> element under a component (Gradio's player keeps it in shadow roots).
AUDIO_IN = """(id) => {
  const found = [];
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'AUDIO') found.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document.getElementById(id));
  return found.map((a) => ({src: a.currentSrc || a.src, duration: a.duration,
                            ready: a.readyState, error: a.error ? a.error.code : null}));
}"""

# Fetch a URL from the page and report its status, size and first bytes.
FETCH = """async (url) => {
  const r = await fetch(url);
  const b = new Uint8Array(await r.arrayBuffer());
  return {status: r.status, size: b.length, head: String.fromCharCode(...b.slice(0, 4))};
}"""


def chromium_path() -> str:
    path = os.environ.get("HIFISYNTH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail("the browser test needs Chromium: apt-get install chromium (Debian), or set "
                    "HIFISYNTH_CHROMIUM to a Chromium binary; HIFISYNTH_SKIP_BROWSER=1 skips "
                    "this test", pytrace=False)
    return path


@pytest.fixture
def browser_page(tmp_path):
    if os.environ.get("HIFISYNTH_SKIP_BROWSER") == "1":
        pytest.skip("HIFISYNTH_SKIP_BROWSER=1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright: pip install -e '.[test]' (the Python "
                    "package only; it drives the system Chromium)", pytrace=False)
    executable = chromium_path()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()


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
