"""The app with a torchaudio that cannot be imported (built for another torch, as the registry's
torchaudio 2.11.1 is for torch 2.11.0): the tabs that need it answer with one readable line
naming both versions and the fix, in the API and in the browser; the others keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.synth.service_models import SR
from tests.app.conftest import start_app, stop_app
from tests.app.test_app_api import app_error, predict, read
from tests.conftest import BROKEN_SYMBOL, speechlike, write_wav

EXPECTED = ("SSL feature extraction (voice conversion) needs torchaudio, and torchaudio 2.11.1 "
            "does not load with torch 2.11.0: they must be built for each other "
            f"(libtorchaudio.so: undefined symbol: {BROKEN_SYMBOL}); install the tested pair: "
            "pip install torch==2.11.0 torchaudio==2.11.0")


@pytest.fixture(scope="module")
def broken_app(app_models, broken_torchaudio, tmp_path_factory):
    server = start_app(app_models, tmp_path_factory.mktemp("broken-app"),
                       path_first=broken_torchaudio)
    try:
        yield server
    finally:
        stop_app(server)


@pytest.fixture(scope="module")
def broken_client(broken_app, tmp_path_factory):
    from gradio_client import Client

    return Client(broken_app.url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("broken-downloads")))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_wav(tmp_path_factory.mktemp("clip") / "me.wav", speechlike(1.5, SR, seed=3), SR)


@pytest.mark.slow
def test_endpoints_that_need_torchaudio_say_why(broken_client, clip) -> None:
    from gradio_client import handle_file as f

    expected = EXPECTED[:1].lower() + EXPECTED[1:]
    assert app_error(broken_client, f(clip), [f(clip)], 4, True, -16,
                     api_name="/convert") == expected
    assert app_error(broken_client, [f(clip)], "me", api_name="/save_voice") == expected
    assert app_error(broken_client, "Hello.", "clips", [f(clip)], None, "default",
                     api_name="/tts") == expected
    # What does not need torchaudio still works.
    wav_path, _ = predict(broken_client, "Hello there.", "base", [], None, "default",
                          api_name="/tts")
    audio, sr = read(wav_path)
    assert sr == SR and len(audio) > SR // 2
    notes, _ = predict(broken_client, "tiny-extra", api_name="/download_model")
    assert "tiny-extra" in notes


@pytest.mark.slow
def test_the_browser_shows_the_message(broken_app, browser_page, clip, tmp_path) -> None:
    page = browser_page
    page.goto(broken_app.url)
    page.wait_for_selector("#tts-text")
    page.get_by_role("tab", name="Voice conversion").click()
    page.locator("#vc-source input[type=file]").set_input_files(str(clip))
    page.locator("#vc-refs input[type=file]").set_input_files([str(clip)])
    page.wait_for_selector("#vc-refs >> text=me.wav")
    page.wait_for_selector("#vc-source [data-testid='waveform-controls']")
    page.click("#vc-run")
    toast = page.wait_for_selector("text=needs torchaudio", timeout=60_000)
    text = " ".join(toast.inner_text().split())
    assert "torchaudio 2.11.1 does not load with torch 2.11.0" in text
    assert "pip install torch==2.11.0 torchaudio==2.11.0" in text
    page.wait_for_timeout(1500)  # the toast fades in; it stays until closed
    assert page.locator("[data-testid='toast-text']").is_visible()
    page.screenshot(path=str(tmp_path / "broken-torchaudio.png"))
    print(f"screenshot: {tmp_path / 'broken-torchaudio.png'}")
