"""kNN-VC speed and memory: building a matching set, and converting 10 s of speech.

Uses WavLM-Large-sized features (24 layers built, layer 6 used, 1024 dims) and the kNN-VC-sized
HiFi-GAN (input 1024 -> 512, upsampling x320, 16 kHz). Weights are random unless --weights
gives a WavLM-Large state dict: the figures are timings, not audio quality.

    PYTHONPATH=. python benchmarks/vc_speed.py --minutes 2 --device cpu

Real speech comes from --data (default: $HIFISYNTH_LJSPEECH, else shared/data/ljspeech beside
the project); files are repeated to reach the requested durations.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machineinfo import default_speech_dir  # noqa: E402
from synth.audio import load_mono, normalize_loudness  # noqa: E402
from synth.features import (KNNVC_LAYER, SSLFeatureExtractor, build_model,  # noqa: E402
                            load_extractor)
from synth.knnvc import KnnVC, MatchingSet, build_matching_set, knn_regress  # noqa: E402
from vocoder.audio import list_audio  # noqa: E402
from vocoder.generator import hifigan_knnvc  # noqa: E402

RATE = 16000


class PeakMemory:
    """Peak resident memory of this process (and CUDA memory) while the block runs."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_rss = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            time.sleep(0.005)

    def __enter__(self) -> "PeakMemory":
        self.start_rss = self.rss()
        self.peak_rss = self.start_rss
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self.rss())
        self.cuda_peak = (torch.cuda.max_memory_allocated(self.device)
                          if self.device.type == "cuda" else 0)

    def describe(self) -> str:
        text = f"peak RSS {self.peak_rss / 2**30:.2f} GiB (+{(self.peak_rss - self.start_rss) / 2**30:.2f})"
        if self.device.type == "cuda":
            text += f", peak CUDA allocated {self.cuda_peak / 2**30:.2f} GiB"
        return text


def speech_of(files: list[Path], seconds: float, offset: int = 0) -> list[torch.Tensor]:
    """Recordings (16 kHz mono) taken in turn, repeated as needed, totalling ``seconds``."""
    out, total, i = [], 0, offset
    cache: dict[Path, torch.Tensor] = {}
    while total < seconds * RATE:
        path = files[i % len(files)]
        if path not in cache:
            cache[path] = load_mono(path, RATE)
        wav = cache[path][: int(seconds * RATE) - total]
        out.append(wav)
        total += wav.shape[0]
        i += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1...)")
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="minutes of reference audio to build a matching set from (default 2)")
    parser.add_argument("--set-minutes", type=float, default=8.0,
                        help="matching-set size for the conversion timing (default 8)")
    parser.add_argument("--query-seconds", type=float, default=10.0,
                        help="source speech to convert (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed conversions (default 3)")
    parser.add_argument("--data", type=Path, default=None,
                        help="directory of speech recordings (default: LJSpeech in shared/data)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="precision of both models (default float32; bfloat16/float16 are "
                             "faster where supported, quality not verified here)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="WavLM-Large state dict (torchaudio format); default random weights")
    args = parser.parse_args()

    device = torch.device(args.device)
    data = args.data or default_speech_dir()
    if not data.is_dir() or not list_audio(data):
        print(f"error: no audio files in {data}; pass --data DIR", file=sys.stderr)
        return 2
    files = list_audio(data)
    torch.manual_seed(0)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"{args.dtype}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    if args.weights:
        extractor = load_extractor("WAVLM_LARGE", args.weights, device=device)
        print(f"features: WavLM-Large from {args.weights}, layer {KNNVC_LAYER}")
    else:
        extractor = SSLFeatureExtractor(build_model("WAVLM_LARGE"), "WAVLM_LARGE").to(device)
        print(f"features: WavLM-Large architecture with RANDOM weights (timing only), "
              f"layer {KNNVC_LAYER}")
    dtype = getattr(torch, args.dtype)
    extractor = extractor.to(dtype)
    vocoder = hifigan_knnvc(weight_norm=False).eval().to(device, dtype)
    n_params = sum(p.numel() for p in vocoder.parameters())
    print(f"vocoder: kNN-VC HiFi-GAN ({n_params / 1e6:.2f} M parameters), RANDOM weights, "
          f"weight norm folded")
    print(f"speech: {data} ({len(files)} files, repeated as needed)")
    vc = KnnVC(extractor, vocoder)

    # 1. Matching set from N minutes of reference audio.
    refs = speech_of(files, args.minutes * 60)
    with PeakMemory(device) as mem:
        built = build_matching_set(extractor, refs, KNNVC_LAYER)
    print(f"\nmatching set from {args.minutes:g} min of audio ({len(refs)} recordings): "
          f"{mem.seconds:.1f} s ({args.minutes * 60 / mem.seconds:.1f}x real time), "
          f"{built.num_frames} frames after trimming; {mem.describe()}")

    # 2. Conversion of 10 s with an 8-minute matching set (built frames repeated if needed).
    want = int(args.set_minutes * 60 * extractor.frame_rate)
    reps = -(-want // built.num_frames)
    feats = built.features.repeat(reps, 1)[:want]
    note = "" if reps == 1 else f" (the {built.num_frames} built frames repeated)"
    matching = MatchingSet(feats, built.model, built.layer, built.frame_rate)
    query = torch.cat(speech_of(files, args.query_seconds, offset=3))
    vc.convert(query[:RATE], matching)  # warm-up (allocations, oneDNN kernels)
    totals, parts = [], []
    for _ in range(max(1, args.repeats)):
        with PeakMemory(device) as mem:
            t0 = time.perf_counter()
            q = vc.query_features(query)
            t1 = time.perf_counter()
            matched = knn_regress(q, matching, vc.config.k)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t2 = time.perf_counter()
            wav = vc.vocode(matched)
            t3 = time.perf_counter()
            normalize_loudness(wav.numpy(), vc.sample_rate, -16.0)
            t4 = time.perf_counter()
        totals.append(mem.seconds)
        parts.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
        assert wav.shape[0] == q.shape[0] * 320
    best = min(range(len(totals)), key=totals.__getitem__)
    f, k, v, loud = parts[best]
    print(f"convert {args.query_seconds:g} s with a {args.set_minutes:g}-min matching set "
          f"({matching.num_frames} frames{note}):")
    print(f"  total {totals[best]:.2f} s best of {len(totals)} (median "
          f"{statistics.median(totals):.2f} s) = {args.query_seconds / totals[best]:.1f}x real time")
    print(f"  features {f:.2f} s, kNN {k:.2f} s, vocoder {v:.2f} s, loudness {loud:.2f} s; "
          f"{mem.describe()}")
    if device.type == "cpu" and args.query_seconds == 10:
        goal = "meets" if totals[best] < 10.0 else "misses"
        print(f"  goal (10 s of speech converted in under 10 s on CPU): {goal} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
