"""Web app latency: time from a request to its audio, through the app versus the same
``Synthesizer`` call made directly.

For ``--seconds`` (default 10) of speech, each action is timed both ways:

- ``tts``: text (LJSpeech transcripts, enough for the base voice to speak ``--seconds``)
  -> espeak-ng base voice -> mel vocoder. Direct: ``Synthesizer.speak(text)``.
- ``resynth``: a recording -> mel -> mel vocoder (the Vocoder tab). Direct:
  ``Synthesizer.resynthesize(path)``.
- ``convert``: a recording converted into the voice of a reference recording of the same
  length (kNN-VC). Direct: ``Synthesizer.convert(path, [reference])`` (loudness-normalised
  to -16 LUFS like the app).

The app (``app.py`` on 127.0.0.1 with the same models) is timed two ways:

- ``gradio_client``: ``Client.predict`` from the call to the result WAV on the client's
  disk, inputs uploaded inside the call. gradio_client waits for messages in 50 ms sleeps,
  which adds about 70 ms to every request (a do-nothing Gradio endpoint takes ~75 ms this
  way, ~6 ms over plain HTTP).
- ``http``: what a browser does on a click: inputs already uploaded (when the file was
  chosen), then the POST that starts the event, its event stream until ``complete``, and
  the GET of the result WAV. This is the app's click-to-first-audio.

Models have random weights (the speed of a network does not depend on their values):
the mel vocoder is HiFi-GAN V3-sized (22.05 kHz, 1.46 M parameters); voice conversion uses
WavLM-Large-sized features (``--vc-size large``: 24 layers, 1024 dims, 1.2 GB of weights
written to the temp folder) and the kNN-VC-sized vocoder (V1 with ``lin_pre``, x320,
16 kHz), or tiny ones (``--vc-size tiny``) for a quick look. Both sides run after a warm-up,
alternately, ``--repeats`` times; medians are reported.

    python benchmarks/app_latency.py                       # CPU, every action
    python benchmarks/app_latency.py --actions tts resynth --repeats 5
    python benchmarks/app_latency.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machineinfo import default_speech_dir, describe_machine  # noqa: E402
from synth.features import build_model  # noqa: E402
from synth.pipeline import Synthesizer  # noqa: E402
from vocoder.audio import list_audio, load_audio, save_wav  # noqa: E402
from vocoder.checkpoint import save_generator  # noqa: E402
from vocoder.config import preset, v3_config  # noqa: E402
from vocoder.generator import HiFiGANGenerator, hifigan_knnvc  # noqa: E402
from vocoder.inference import tune_cpu_allocator  # noqa: E402



def build_models(folder: Path, vc_size: str) -> dict[str, str]:
    """Random-weight models on disk, as the app and Synthesizer take them."""
    torch.manual_seed(0)
    v3 = folder / "v3" / "g_00000000"
    v3.parent.mkdir(parents=True)
    cfg = v3_config()
    save_generator(v3, HiFiGANGenerator(cfg.generator, weight_norm=True), cfg)
    vc = folder / "knnvc" / "g_00000000"
    vc.parent.mkdir(parents=True)
    extractor = folder / "extractor.pth"
    if vc_size == "large":
        cfg = preset("knnvc")
        save_generator(vc, hifigan_knnvc(weight_norm=True), cfg)
        torch.save(build_model("WAVLM_LARGE").state_dict(), extractor)
        return {"vocoder": str(v3), "vc_vocoder": str(vc), "extractor": str(extractor),
                "extractor_arch": "WAVLM_LARGE"}
    sys.path.insert(0, str(ROOT))
    from tests.synth.pipeline_models import save_tiny_vc_models

    entries = save_tiny_vc_models(folder / "tiny")["entries"]
    registry = folder / "models.json"
    registry.write_text(json.dumps({"format": 1, "models": [
        dict(e, licence="MIT", source="benchmark", sha256=None, size=None) for e in entries]}))
    os.environ["HIFISYNTH_REGISTRY"] = str(registry)
    return {"vocoder": str(v3), "vc_vocoder": "tiny-knnvc", "extractor": "tiny-wavlm",
            "extractor_arch": "WAVLM_LARGE"}


def speech_clips(data: Path, seconds: float, folder: Path) -> tuple[Path, Path, str]:
    """A source and a reference recording of ``seconds`` each (LJSpeech clips joined), and
    the transcripts of the data set."""
    files = list_audio(data)
    if len(files) < 2:
        raise SystemExit(f"{data}: need LJSpeech clips (--data)")
    wavs = [load_audio(f, 22050)[0] for f in files]
    half = len(wavs) // 2

    def joined(pieces: list[np.ndarray]) -> np.ndarray:
        out = np.concatenate(pieces)
        while len(out) < seconds * 22050:
            out = np.concatenate([out, out])
        return out[: int(seconds * 22050)]

    source, reference = folder / "source.wav", folder / "reference.wav"
    save_wav(source, joined(wavs[:half]), 22050)
    save_wav(reference, joined(wavs[half:]), 22050)
    transcripts = data / "transcripts.txt"
    text = " ".join(line.split("|", 1)[1].strip() for line in
                    transcripts.read_text(encoding="utf-8").splitlines() if "|" in line)
    return source, reference, text


def text_for(synth: Synthesizer, text: str, seconds: float) -> str:
    """The shortest prefix of ``text`` (in words, ending with a full stop) that the base voice
    speaks for ``seconds`` or more."""
    words = (text + " ") * 4
    words = words.split()

    def length(n: int) -> float:
        audio, sr = synth.base_speech(" ".join(words[:n]).rstrip(",.") + ".")
        return len(audio) / sr

    lo, hi = 1, len(words)
    while lo < hi:  # binary search on the number of words
        mid = (lo + hi) // 2
        if length(mid) >= seconds:
            hi = mid
        else:
            lo = mid + 1
    return " ".join(words[:lo]).rstrip(",.") + "."


def last_request(log: Path, action: str) -> tuple[float, float]:
    """The app's last logged request for ``action``: its handler time and the Synthesizer
    time inside it (log line 'NAME done in X s (Y s in the Synthesizer)')."""
    name = {"tts": "tts", "resynth": "vocoder", "convert": "convert"}[action]
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if f"hifisynth.app: {name} done in" in line]
    if not lines:
        raise RuntimeError(f"no '{name} done' line in {log}")
    match = re.search(r"done in ([0-9.]+) s \(([0-9.]+) s in the Synthesizer\)", lines[-1])
    return float(match.group(1)), float(match.group(2))


class HttpApp:
    """The app's HTTP API as a browser uses it: files uploaded first (when chosen), then a
    click is one POST, the event stream until ``complete``, and a GET of the audio file."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=600)

    def upload(self, path: Path) -> dict:
        with open(path, "rb") as handle:
            response = self.http.post(f"{self.url}/gradio_api/upload",
                                      files={"files": (path.name, handle)})
        response.raise_for_status()
        return {"path": response.json()[0], "orig_name": path.name,
                "meta": {"_type": "gradio.FileData"}}

    def audio(self, api_name: str, data: list, output: int) -> bytes:
        """Run ``api_name`` and fetch its ``output``-th result (an audio file)."""
        response = self.http.post(f"{self.url}/gradio_api/call/{api_name}", json={"data": data})
        event = response.json()["event_id"]
        last = None
        with self.http.stream("GET", f"{self.url}/gradio_api/call/{api_name}/{event}") as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    last = (kind, line.split(":", 1)[1].strip())
                    break
        if last is None or last[0] != "complete":
            raise RuntimeError(f"{api_name} failed: {last}")
        result = json.loads(last[1])[output]
        body = self.http.get(result["url"]).content
        if not body.startswith(b"RIFF"):
            raise RuntimeError(f"{api_name}: not a WAV file")
        return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(models: dict[str, str], device: str, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--device", device,
            "--vocoder", models["vocoder"], "--vc-vocoder", models["vc_vocoder"],
            "--extractor", models["extractor"], "--extractor-arch", models["extractor_arch"],
            "--max-seconds", "120", "--max-text-chars", "10000", "--temp-dir",
            str(folder / "apptmp")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRADIO_ANALYTICS_ENABLED="False")
    log = open(folder / "app.log", "wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("app.py exited:\n" + (folder / "app.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("app.py did not start in 600 s")


def measure(actions: list[str], data: Path, device: str, seconds: float, repeats: int,
            vc_size: str, folder: Path, log=print, on_row=None) -> list[dict]:
    """Each action timed directly (``Synthesizer``) and through ``app.py`` started on
    ``device`` (``gradio_client`` and the browser's HTTP path), alternately, ``repeats`` times
    after a warm-up; one row of medians per action (also given to ``on_row`` as soon as it is
    measured). Models and clips are written in ``folder``; ``log`` gets progress lines."""
    from gradio_client import Client, handle_file

    log("building models...")
    models = build_models(folder / "models", vc_size)
    source, reference, transcripts = speech_clips(data, seconds, folder)
    synth = Synthesizer.from_pretrained(
        models["vocoder"], vc_vocoder=models["vc_vocoder"], extractor=models["extractor"],
        extractor_arch=models["extractor_arch"], device=device, loudness=-16.0)
    synth.load("vocoder", "espeak", *(["knnvc"] if "convert" in actions else []))
    text = text_for(synth, transcripts, seconds)
    log("starting app.py...")
    process, url = start_app(models, device, folder)
    try:
        client = Client(url, verbose=False, analytics_enabled=False,
                        download_files=str(folder / "client"))
        http = HttpApp(url)
        src_file, ref_file = http.upload(source), http.upload(reference)
        cases = {
            # the espeak-ng base voice through the vocoder (Tacotron2 has its own figures)
            "tts": (lambda: synth.speak(text, acoustic="espeak"),
                    lambda: client.predict(text, "base", [], None, "default", "espeak", -1,
                                           api_name="/tts"),
                    lambda: http.audio("tts", [text, "base", [], None, "default", "espeak", -1],
                                       0)),
            "resynth": (lambda: synth.resynthesize(source),
                        lambda: client.predict(handle_file(str(source)), None, "default",
                                               None, None, "", api_name="/vocoder"),
                        lambda: http.audio("vocoder", [src_file, None, "default", None,
                                                       None, ""], 0)),
            "convert": (lambda: synth.convert(source, [reference]),
                        lambda: client.predict(handle_file(str(source)),
                                               [handle_file(str(reference))], 4, True, -16,
                                               api_name="/convert"),
                        lambda: http.audio("convert", [src_file, [ref_file], 4, True, -16],
                                           0)),
        }
        results = []
        app_log = folder / "app.log"
        for action in actions:
            direct_fn, client_fn, http_fn = cases[action]
            out = direct_fn()
            client_fn()
            http_fn()  # warm-up
            direct: list[float] = []
            paired: dict[str, list[tuple[float, float, float]]] = {"gradio_client": [],
                                                                   "http": []}
            for _ in range(repeats):
                t0 = time.perf_counter()
                direct_fn()
                direct.append(time.perf_counter() - t0)
                for side, fn in (("gradio_client", client_fn), ("http", http_fn)):
                    t0 = time.perf_counter()
                    fn()
                    total = time.perf_counter() - t0
                    handler, synth_s = last_request(app_log, action)
                    paired[side].append((total, handler, synth_s))
            row: dict = {"action": action, "audio_s": round(out.seconds, 2),
                         "direct_s": round(statistics.median(direct), 3)}
            for side, values in paired.items():
                row[side] = {
                    "total_s": round(statistics.median(v[0] for v in values), 3),
                    "synthesizer_s": round(statistics.median(v[2] for v in values), 3),
                    "added_s": round(statistics.median(v[0] - v[2] for v in values), 3),
                    "added_pct": round(100 * statistics.median((v[0] - v[2]) / v[2]
                                                               for v in values), 1),
                    "all": [[round(x, 3) for x in v] for v in values]}
            row["direct_all"] = [round(t, 3) for t in direct]
            results.append(row)
            log(json.dumps(row))
            if on_row is not None:
                on_row(row)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", nargs="+", default=["tts", "resynth", "convert"],
                        choices=["tts", "resynth", "convert"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vc-size", choices=["large", "tiny"], default="large")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of LJSpeech clips with transcripts.txt")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    data = args.data or (default_speech_dir() if default_speech_dir().is_dir() else None)
    if data is None:
        raise SystemExit("no LJSpeech clips found: pass --data")
    tune_cpu_allocator()
    with tempfile.TemporaryDirectory(prefix="app-latency-") as tmp:
        results = measure(args.actions, data, args.device, args.seconds, args.repeats,
                          args.vc_size, Path(tmp), log=lambda line: print(line, flush=True))
    info = describe_machine(args.device)
    info.update(vc_size=args.vc_size, seconds=args.seconds, repeats=args.repeats)
    print()
    print(f"machine: {info}")
    print("per request: total = click to audio; Synthesizer = the same call inside it; "
          "added = total - Synthesizer (medians)")
    print(f"{'action':<8} {'audio s':>7} {'direct s':>8} | {'client: total':>13} {'synth':>6} "
          f"{'added':>6} {'%':>6} | {'HTTP: total':>11} {'synth':>6} {'added':>6} {'%':>6}")
    for r in results:
        c, h = r["gradio_client"], r["http"]
        print(f"{r['action']:<8} {r['audio_s']:>7.2f} {r['direct_s']:>8.3f} | "
              f"{c['total_s']:>13.3f} {c['synthesizer_s']:>6.3f} {c['added_s']:>6.3f} "
              f"{c['added_pct']:>5.1f}% | {h['total_s']:>11.3f} {h['synthesizer_s']:>6.3f} "
              f"{h['added_s']:>6.3f} {h['added_pct']:>5.1f}%")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
