"""Batch synthesis speed: utterances/s and real-time factor, batched versus one at a time.

200 English sentences (seeded, 4-30 words each, so lengths vary as in real manifests) go
through the espeak-ng base voice and the mel frontend once; their mels are then vocoded by a
HiFi-GAN V3-sized generator (22.05 kHz, 1.46 M parameters) one at a time and in length-grouped
padded batches of several sizes, exactly as ``synth batch`` does (``Synthesizer.vocode_frames``).
Modes run alternately, ``--repeats`` times, after a warm-up; medians are reported. Weights are
random: the speed of a generator does not depend on their values. The batched output is
checked against the one-at-a-time output (largest difference printed).

RTF (real-time factor) = processing seconds / seconds of audio made; lower is faster.
"End to end" adds the base voice and mel frontend time (the same for both modes).

    python benchmarks/batch_speed.py                          # CPU
    python benchmarks/batch_speed.py --device cuda --batch-sizes 8 32 128
    python benchmarks/batch_speed.py --sentences 40 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machineinfo import describe_machine  # noqa: E402
from synth.hub import ModelHub, ModelSpec  # noqa: E402
from synth.pipeline import SynthConfig, Synthesizer  # noqa: E402
from vocoder.config import v3_config  # noqa: E402
from vocoder.generator import HiFiGANGenerator  # noqa: E402
from vocoder.inference import Vocoder, tune_cpu_allocator  # noqa: E402

WORDS = ("the a of and to in that it was for on are with as his they be at one have this from "
         "by hot word but what some is it you or had the of to and a in we can out other were "
         "which do their time if will how said an each tell does set three want air well also "
         "play small end put home read hand port large spell add even land here must big high "
         "such follow act why ask men change went light kind off need house picture try us "
         "again animal point mother world near build self earth father head stand own page "
         "should country found answer school grow study still learn plant cover food sun four "
         "between state keep eye never last let thought city tree cross farm hard start might "
         "story saw far sea draw left late run while press close night real life few north "
         "seventeen ninety 1,204 3.5 twelve Doctor Smith Saint Louis").split()


def sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` sentences of 4 to 30 words, seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        words = list(rng.choice(WORDS, size=int(rng.integers(4, 31))))
        if len(words) > 12:
            words[len(words) // 2] += ","
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + rng.choice([".", ".", ".", "?", "!"]))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthesizer_for(voc: Vocoder, max_batch_frames: int | None = None) -> Synthesizer:
    """A :class:`Synthesizer` whose default mel vocoder is ``voc`` (on ``voc``'s device)."""
    hub = ModelHub(device=voc.device, dtype=voc.dtype)
    hub.add(ModelSpec("mel_vocoder", "random-weights"), voc)
    return Synthesizer(hub, SynthConfig(vocoder="random-weights",
                                        max_batch_frames=max_batch_frames))


def base_voice_mels(synth: Synthesizer, texts: list[str]) -> list[torch.Tensor]:
    """The mel of each text spoken by the espeak-ng base voice, as ``synth batch`` makes it."""
    return [synth.mel(np.asarray(synth.base_speech(t)[0])) for t in texts]


def time_modes(synth: Synthesizer, mels: list[torch.Tensor], batch_sizes: list[int],
               repeats: int, log=print) -> tuple[dict[str, list[float]], dict[str, list]]:
    """One at a time and batched (``batched N`` for each size), alternating, ``repeats``
    times after a warm-up: the seconds of each run and the last outputs of each mode."""
    device = synth.device

    def one_at_a_time() -> list[np.ndarray]:
        return [synth.vocode_frames([m])[0] for m in mels]

    modes = {"one at a time": one_at_a_time}
    for size in batch_sizes:
        modes[f"batched {size}"] = (lambda s=size: synth.vocode_frames(mels, max_batch_size=s))

    # Warm-up (kernel selection, allocator) on a slice, then alternate the modes.
    synth.vocode_frames(mels[:8], max_batch_size=4)
    for m in mels[:4]:
        synth.vocode_frames([m])
    times: dict[str, list[float]] = {name: [] for name in modes}
    outputs: dict[str, list] = {}
    for _ in range(repeats):
        for name, run in modes.items():
            sync(device)
            start = time.perf_counter()
            outputs[name] = run()
            sync(device)
            times[name].append(time.perf_counter() - start)
            log(f"  {name}: {times[name][-1]:.2f} s")
    return times, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--max-batch-frames", type=int, default=None,
                        help="padded frames per vocoder call (default: the Synthesizer's)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()

    tune_cpu_allocator()
    torch.manual_seed(0)
    cfg = v3_config()
    voc = Vocoder(HiFiGANGenerator(cfg.generator), cfg, device=args.device, dtype=args.dtype)
    synth = synthesizer_for(voc, args.max_batch_frames)
    device = synth.device
    texts = sentences(args.sentences)

    start = time.perf_counter()
    mels = base_voice_mels(synth, texts)
    sync(device)
    frontend = time.perf_counter() - start
    frames = [m.shape[1] for m in mels]
    audio_seconds = sum(frames) * cfg.audio.hop_size / cfg.audio.sampling_rate
    print(f"{len(texts)} sentences, {audio_seconds:.1f} s of audio "
          f"({min(frames)}-{max(frames)} frames, median {int(np.median(frames))}); "
          f"base voice + mel frontend: {frontend:.2f} s; device {device}, {args.dtype}, "
          f"max_batch_frames {synth.max_batch_frames}", flush=True)

    times, outputs = time_modes(synth, mels, args.batch_sizes, args.repeats,
                                log=lambda line: print(line, flush=True))

    reference = outputs["one at a time"]
    rows = []
    base = statistics.median(times["one at a time"])
    for name, values in times.items():
        seconds = statistics.median(values)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(reference, outputs[name]))
        rows.append({"mode": name, "seconds": round(seconds, 3),
                     "utterances_per_second": round(len(texts) / seconds, 2),
                     "rtf": round(seconds / audio_seconds, 5),
                     "end_to_end_rtf": round((seconds + frontend) / audio_seconds, 5),
                     "speedup": round(base / seconds, 2), "max_abs_diff": diff})
    print(f"\n{'mode':<16}{'seconds':>9}{'utt/s':>9}{'RTF':>9}{'e2e RTF':>9}{'speed-up':>10}"
          f"{'max |diff|':>12}")
    for r in rows:
        print(f"{r['mode']:<16}{r['seconds']:>9.2f}{r['utterances_per_second']:>9.2f}"
              f"{r['rtf']:>9.4f}{r['end_to_end_rtf']:>9.4f}{r['speedup']:>9.2f}x"
              f"{r['max_abs_diff']:>12.1e}")
    info = describe_machine()
    print("\nmachine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": info, "sentences": len(texts), "audio_seconds": round(audio_seconds, 2),
             "frontend_seconds": round(frontend, 3), "device": str(device), "dtype": args.dtype,
             "max_batch_frames": synth.max_batch_frames, "repeats": args.repeats,
             "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
