"""The app launched for real (``python app.py``) on 127.0.0.1 with tiny models, once per test
session, and a ``gradio_client`` connected to it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.synth.service_models import AppModels, build_app_models
from tests.conftest import REPO

MAX_UPLOAD_MB = 1.0
MAX_SECONDS = 8.0


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen
    models: AppModels
    voices_dir: Path
    temp_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


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


def compressed_clips(folder: Path, seconds: float = 1.5, rate: int = 22050) -> dict[str, Path]:
    """The same speech-like signal as ``speech.mp3``, ``speech.flac`` and ``speech.ogg``
    (Vorbis) in ``folder``, by suffix."""
    import soundfile as sf

    from tests.conftest import speechlike

    speech = speechlike(seconds, rate, seed=2)
    clips = {}
    for suffix, fmt, subtype in ((".mp3", "MP3", "MPEG_LAYER_III"), (".flac", "FLAC", "PCM_16"),
                                 (".ogg", "OGG", "VORBIS")):
        clips[suffix] = folder / f"speech{suffix}"
        sf.write(str(clips[suffix]), speech, rate, format=fmt, subtype=subtype)
    return clips


def choose(page, elem_id: str, text: str) -> None:
    """Pick the option of dropdown ``#elem_id`` whose label contains ``text``, by clicking it in
    the list (Enter picks the list's active option, which the typed text need not have
    filtered to yet)."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(text)
    page.locator(f"#{elem_id} [data-testid='dropdown-option']", has_text=text).first.click()
    page.wait_for_function(
        "([id, text]) => document.querySelector(`#${id} input`).value.includes(text)",
        arg=[elem_id, text], timeout=10_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(models: AppModels, root: Path, *extra: str, timeout: float = 180,
              path_first: Path | None = None, registry: Path | None = None,
              home: Path | None = None, models_dir: bool = True) -> AppServer:
    """Start ``app.py`` with the tiny models and wait until it answers HTTP; ``path_first``
    goes first on ``PYTHONPATH`` (e.g. ``tests.conftest.make_broken_torchaudio``);
    ``registry``/``home`` replace the models' own; ``extra`` options come last (and win)."""
    port = free_port()
    voices = root / "voices"
    temp = root / "apptmp"
    log = root / "app.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), HIFISYNTH_HOME=str(home or models.home),
               HIFISYNTH_REGISTRY=str(registry or models.registry),
               GRADIO_ANALYTICS_ENABLED="False")
    env.pop("HIFISYNTH_OFFLINE", None)
    if path_first is not None:
        env["PYTHONPATH"] = str(path_first) + os.pathsep + env["PYTHONPATH"]
    args = [sys.executable, str(REPO / "app.py"), "--host", "127.0.0.1", "--port", str(port),
            "--device", "cpu", "--vocoder", str(models.vocoder),
            "--vc-vocoder", "tiny-knnvc", "--extractor", "tiny-wavlm",
            *(["--models-dir", str(models.models_dir)] if models_dir else []),
            "--voices-dir", str(voices),
            "--temp-dir", str(temp), "--max-upload-mb", str(MAX_UPLOAD_MB),
            "--max-seconds", str(MAX_SECONDS), "--max-text-chars", "300", *extra]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n"
                               + log.read_text(errors="replace")[-4000:])
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"app.py did not answer within {timeout} s:\n"
                               + log.read_text(errors="replace")[-4000:])
        time.sleep(0.25)
    return AppServer(url, process, models, voices, temp, log)


def stop_app(server: AppServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture(scope="session")
def app_models(tmp_path_factory) -> AppModels:
    return build_app_models(tmp_path_factory.mktemp("app-models"))


@pytest.fixture(scope="session")
def app_server(app_models, tmp_path_factory) -> Iterator[AppServer]:
    """One server for every app test (start-up costs several seconds of imports)."""
    server = start_app(app_models, tmp_path_factory.mktemp("app-server"))
    try:
        yield server
    finally:
        stop_app(server)


@pytest.fixture(scope="session")
def client(app_server, tmp_path_factory):
    from gradio_client import Client

    return Client(app_server.url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("client-downloads")))
