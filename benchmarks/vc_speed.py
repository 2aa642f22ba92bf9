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
from synth.features import SSLFeatureExtractor, build_model, load_extractor  # noqa: E402
from synth.knnvc import (KnnVC, KnnVCConfig, MatchingSet, build_matching_set,  # noqa: E402
                         knn_regress)
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


def build_converter(device: torch.device, dtype: str = "float32", weights: Path | None = None,
                    size: str = "large") -> tuple[KnnVC, str]:
    """The kNN-VC converter the benchmark times, and a line describing it.

    ``size="large"``: WavLM-Large (24 layers, 1024 dims; random weights unless ``weights``
    gives a state dict) with the kNN-VC-sized vocoder; ``"tiny"``: a 2-layer, 32-dim WavLM and
    a small feature vocoder (the test suite's), for a quick run of the same code.
    """
    torch.manual_seed(0)
    if size == "tiny":
        from tests.synth.tiny import TINY_DIM, tiny_generator, tiny_model

        extractor = SSLFeatureExtractor(tiny_model("wavlm"), "tiny-wavlm").to(device)
        vocoder = tiny_generator(TINY_DIM)
        described = "tiny WavLM (2 layers, 32 dims) and feature vocoder, RANDOM weights"
        config = KnnVCConfig(layer=2)
    else:
        if weights:
            extractor = load_extractor("WAVLM_LARGE", weights, device=device)
            described = f"WavLM-Large from {weights}"
        else:
            extractor = SSLFeatureExtractor(build_model("WAVLM_LARGE"), "WAVLM_LARGE").to(device)
            described = "WavLM-Large architecture with RANDOM weights (timing only)"
        vocoder = hifigan_knnvc(weight_norm=False)
        config = KnnVCConfig()
    torch_dtype = getattr(torch, dtype)
    extractor = extractor.to(torch_dtype)
    vocoder = vocoder.eval().to(device, torch_dtype)
    n_params = sum(p.numel() for p in vocoder.parameters())
    described += (f", layer {config.layer}; vocoder {n_params / 1e6:.2f} M parameters, weight "
                  f"norm folded; {dtype}")
    return KnnVC(extractor, vocoder, config=config), described


def measure_matching_set(vc: KnnVC, refs: list[torch.Tensor],
                         device: torch.device) -> tuple[MatchingSet, PeakMemory]:
    """A matching set from ``refs`` (16 kHz waveforms), timed, with its peak memory."""
    with PeakMemory(device) as mem:
        built = build_matching_set(vc.extractor, refs, vc.config.layer)
    return built, mem


def tile_matching_set(built: MatchingSet, minutes: float) -> tuple[MatchingSet, int]:
    """A ``minutes``-long set: ``built``'s frames repeated as needed; and the repeat count."""
    want = int(minutes * 60 * built.frame_rate)
    reps = -(-want // built.num_frames)
    feats = built.features.repeat(reps, 1)[:want]
    return MatchingSet(feats, built.model, built.layer, built.frame_rate), reps


def measure_conversion(vc: KnnVC, query: torch.Tensor, matching: MatchingSet, repeats: int,
                       device: torch.device) -> dict:
    """Convert ``query`` (16 kHz) ``repeats`` times after a 1 s warm-up; the best and median
    totals (s), the best run's parts (features, kNN, vocoder, loudness; s) and its memory."""
    vc.convert(query[:RATE], matching)  # warm-up (allocations, kernels)
    totals, parts, mems = [], [], []
    for _ in range(max(1, repeats)):
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
        mems.append(mem)
        assert wav.shape[0] == q.shape[0] * vc.vocoder.config.upsample_factor
    best = min(range(len(totals)), key=totals.__getitem__)
    return {"best_s": totals[best], "median_s": statistics.median(totals), "runs": len(totals),
            "parts_s": dict(zip(("features", "knn", "vocoder", "loudness"), parts[best])),
            "memory": mems[best]}


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

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"{args.dtype}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    vc, described = build_converter(device, args.dtype, args.weights)
    print(f"models: {described}")
    print(f"speech: {data} ({len(files)} files, repeated as needed)")

    # 1. Matching set from N minutes of reference audio.
    refs = speech_of(files, args.minutes * 60)
    built, mem = measure_matching_set(vc, refs, device)
    print(f"\nmatching set from {args.minutes:g} min of audio ({len(refs)} recordings): "
          f"{mem.seconds:.1f} s ({args.minutes * 60 / mem.seconds:.1f}x real time), "
          f"{built.num_frames} frames after trimming; {mem.describe()}")

    # 2. Conversion of 10 s with an 8-minute matching set (built frames repeated if needed).
    matching, reps = tile_matching_set(built, args.set_minutes)
    note = "" if reps == 1 else f" (the {built.num_frames} built frames repeated)"
    query = torch.cat(speech_of(files, args.query_seconds, offset=3))
    r = measure_conversion(vc, query, matching, args.repeats, device)
    f, k, v, loud = r["parts_s"].values()
    print(f"convert {args.query_seconds:g} s with a {args.set_minutes:g}-min matching set "
          f"({matching.num_frames} frames{note}):")
    print(f"  total {r['best_s']:.2f} s best of {r['runs']} (median {r['median_s']:.2f} s) = "
          f"{args.query_seconds / r['best_s']:.1f}x real time")
    print(f"  features {f:.2f} s, kNN {k:.2f} s, vocoder {v:.2f} s, loudness {loud:.2f} s; "
          f"{r['memory'].describe()}")
    if device.type == "cpu" and args.query_seconds == 10:
        goal = "meets" if r["best_s"] < 10.0 else "misses"
        print(f"  goal (10 s of speech converted in under 10 s on CPU): {goal} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
