"""The app as a new user meets it, in headless Chromium: nothing downloaded yet.

The page preselects a vocoder that is present and a banner says what is missing, how big it
is and how to get it; the device line appears once; an action names every model it lacks at
once; a failed download leaves the Models table in place; a download updates the choices;
MP3, FLAC and Ogg uploads work without ffmpeg; the two mel images of the Vocoder tab line up.
Screenshots go to the test's folder (printed)."""

from __future__ import annotations

import json
import time

import pytest

from tests.app.conftest import compressed_clips, start_app, stop_app

TOAST = "[data-testid='toast-text']"


@pytest.fixture(scope="module")
def new_user_app(app_models, tmp_path_factory):
    """The tiny models' registry, with sizes and one model whose download fails, over an
    empty cache; the default vocoder is a registry model (not downloaded); no models folder."""
    root = tmp_path_factory.mktemp("new-user")
    registry = json.loads(app_models.registry.read_text())
    for entry in registry["models"]:
        entry["approx_size"] = 70_000
    registry["models"].append({**registry["models"][-1], "name": "tiny-gone",
                               "urls": [(root / "nowhere.pt").as_uri()]})
    (root / "models.json").write_text(json.dumps(registry))
    server = start_app(app_models, root, "--vocoder", "tiny-extra", registry=root / "models.json",
                       home=root / "home", models_dir=False)
    try:
        yield server
    finally:
        stop_app(server)


def close_toasts(page) -> None:
    """Close every toast and wait until none is left, so the next wait sees only a new one."""
    for button in page.locator("[data-testid='toast-close']").all():
        button.click()
    page.wait_for_function(
        "() => document.querySelectorAll(\"[data-testid='toast-text']\").length === 0",
        timeout=30_000)


@pytest.mark.slow
def test_a_new_user_is_told_what_is_missing_and_the_app_still_works(new_user_app, browser_page,
                                                                    tmp_path) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    clips = compressed_clips(tmp_path)

    page.goto(new_user_app.url)
    page.wait_for_selector("#tts-text")
    page.wait_for_selector("#hs-status >> text=Device:")
    banner = page.locator("#hs-banner")
    banner.wait_for(state="visible")
    text = " ".join(banner.inner_text().split())
    assert ("Not downloaded yet: the default vocoder tiny-extra (about 68.4 KiB); Griffin-Lim "
            "(no download, lower quality) is selected until then") in text
    assert "tiny-wavlm (about 68.4 KiB) and tiny-knnvc (about 68.4 KiB)" in text
    assert "synth models download tiny-extra tiny-wavlm tiny-knnvc" in text
    assert page.inner_text("body").count("Device:") == 1
    assert page.locator("#tts-vocoder input").input_value().startswith("griffinlim")
    page.screenshot(path=str(tmp_path / "1-first-visit.png"), full_page=True)

    # Text to speech works at once, with the preselected vocoder.
    page.fill("#tts-text textarea", "Hello there.")
    page.click("#tts-run")
    page.wait_for_selector("#tts-audio a[download]", timeout=60_000)
    assert "through the griffinlim vocoder" in page.inner_text("#tts-notes")

    # Voice conversion names both missing models at once (Ogg source, FLAC reference).
    page.get_by_role("tab", name="Voice conversion").click()
    page.locator("#vc-source input[type=file]").set_input_files(str(clips[".ogg"]))
    page.locator("#vc-refs input[type=file]").set_input_files([str(clips[".flac"])])
    page.wait_for_selector("#vc-source [data-testid='waveform-controls']")
    page.wait_for_selector("#vc-refs >> text=.flac")
    page.click("#vc-run")
    toast = " ".join(page.wait_for_selector(TOAST, timeout=60_000).inner_text().split())
    assert toast.startswith("2 models are missing: tiny-wavlm (feature extractor, ~68.4 KiB), "
                            "tiny-knnvc (feature vocoder, ~68.4 KiB)")
    assert "Download them in the Models tab, or run `synth models download tiny-wavlm " \
           "tiny-knnvc`" in toast
    page.screenshot(path=str(tmp_path / "2-both-models-named.png"), full_page=True)
    close_toasts(page)

    # A failed download leaves the table in place; sizes are shown before downloading.
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#models-table")
    assert "~68.4 KiB" in table.inner_text()
    page.locator("#models-name input").fill("tiny-gone")
    page.locator("#models-name input").press("Enter")
    page.click("#models-download")
    toast = page.wait_for_selector(TOAST, timeout=60_000).inner_text()
    assert "Cannot download model 'tiny-gone'" in toast
    time.sleep(1)
    assert table.is_visible() and "tiny-extra" in table.inner_text()
    page.screenshot(path=str(tmp_path / "3-failed-download.png"), full_page=True)
    close_toasts(page)

    # Downloading the default vocoder makes it the preselected one, and the banner shrinks.
    page.locator("#models-name input").fill("tiny-extra")
    page.locator("#models-name input").press("Enter")
    page.click("#models-download")
    page.wait_for_selector("#models-notes >> text=downloaded", timeout=60_000)
    page.wait_for_function("() => !document.querySelector('#hs-banner').innerText"
                           ".includes('default vocoder')", timeout=30_000)
    assert "verified" in table.inner_text()
    page.get_by_role("tab", name="Vocoder").click()
    assert page.locator("#lab-vocoder input").input_value().startswith("tiny-extra (default)")

    # An MP3 resynthesised; the original's and the result's mels line up.
    page.locator("#lab-audio input[type=file]").set_input_files(str(clips[".mp3"]))
    page.wait_for_selector("#lab-audio [data-testid='waveform-controls']")
    page.click("#lab-run")
    page.wait_for_selector("#lab-output a[download]", timeout=60_000)
    page.wait_for_selector("#lab-orig-mel img", timeout=60_000)
    page.wait_for_selector("#lab-out-mel img", timeout=60_000)
    time.sleep(1)
    left = page.locator("#lab-orig-mel img").bounding_box()
    right = page.locator("#lab-out-mel img").bounding_box()
    assert left["y"] == right["y"] and left["height"] == right["height"] > 100
    assert "speech.mp3: 1.50 s resynthesised by tiny-extra" in page.inner_text("#lab-notes")
    page.screenshot(path=str(tmp_path / "4-mp3-resynthesised.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    assert not errors, errors
