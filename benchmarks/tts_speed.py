"""Text-to-WAV speed: Tacotron2 (torchaudio's LJSpeech shape) + HiFi-GAN V1 or V3, real-time
factor at batch 1 and with the sentences batched.

The ten LJSpeech transcripts beside the project (``shared/data/ljspeech``, or
``$HIFISYNTH_LJSPEECH``; a built-in set when absent) are each said as one text:

- **batch 1**: one ``text_to_mel`` call per text, Tacotron2 decoding one sentence at a time
  (``max_batch=1``), then each mel vocoded on its own;
- **batched**: one ``text_to_mel`` call for all texts (every sentence decoded in one batch),
  then the mels vocoded with ``vocoder.inference.vocode`` (exact, grouped);
- **torchaudio**: for reference, torchaudio's own ``Tacotron2.infer`` on the same model,
  one sentence at a time and all sentences in one padded batch (lengths sorted, as it needs).

Weights are random (speed does not depend on their values), so a stop clock is planted in
the decoder (``tests/synth/tacotron2_models.py``): every sentence stops after the mean
frames per sentence of the real LJSpeech clips (their frames per character times the mean
sentence length), short sentences too, so the stop budget is widened to allow it. RTF (real-time factor) =
processing seconds / seconds of audio made; lower is faster. Modes alternate, ``--repeats``
times after a warm-up; medians are printed.

    python benchmarks/tts_speed.py                     # CPU, 3 repeats
    python benchmarks/tts_speed.py --threads 1         # one core (steadier on a shared machine)
    python benchmarks/tts_speed.py --repeats 1 --texts 4   # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machineinfo import default_speech_dir, describe_machine  # noqa: E402
from synth.acoustic import hifigan_ljspeech_mel, text_to_mel  # noqa: E402
from synth.acoustic.tacotron2 import Tacotron2Acoustic, Tacotron2Options, Tacotron2Params  # noqa: E402
from synth.acoustic.tokens import CharacterTokenizer  # noqa: E402
from synth.text import split_sentences  # noqa: E402
from tests.synth.tacotron2_models import plant_stop_clock  # noqa: E402
from vocoder.config import preset  # noqa: E402
from vocoder.generator import hifigan_v1, hifigan_v3  # noqa: E402
from vocoder.inference import Vocoder, tune_cpu_allocator, vocode  # noqa: E402

FALLBACK = [
    "The examination and testimony of the experts enabled the Commission to conclude that "
    "five shots may have been fired.",
    "Hello world, this is a test of the text to speech pipeline.",
    "They bought their offices from one another.",
    "In the center of the chapel was the condemned pew, a large dock-like erection painted "
    "black.",
]


def load_texts(directory: Path, count: int) -> tuple[list[str], float]:
    """Transcripts and the mean frames per character of their clips (5.8 without clips)."""
    texts, frames, chars = [], 0, 0
    for listing in sorted(directory.glob("*.txt")):
        for line in listing.read_text().splitlines():
            name, _, text = line.partition("|")
            if text and (directory / name).is_file():
                texts.append(text.strip())
                frames += sf.info(str(directory / name)).frames // 256
                chars += len(text.strip())
    if not texts:
        return FALLBACK[:count], 5.8
    return texts[:count], frames / chars


def timed(fn, device: torch.device | None = None):
    """``(seconds, fn())``, the device's queued work included."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def torchaudio_infer(model, tokenizer, texts: list[str], batched: bool, seed: int) -> int:
    """torchaudio's ``Tacotron2.infer``; returns the frames made."""
    ids = [torch.tensor(tokenizer(t).ids) for t in texts]
    groups = [sorted(ids, key=len, reverse=True)] if batched else [[i] for i in ids]
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    frames = 0
    with torch.inference_mode():
        for group in groups:
            tokens = torch.nn.utils.rnn.pad_sequence(group, batch_first=True).to(device)
            _, lengths, _ = model.infer(tokens, torch.tensor([len(g) for g in group],
                                                             device=device))
            frames += int(lengths.sum())
    return frames


@dataclass
class TtsModels:
    """Tacotron2 (characters, torchaudio's LJSpeech shape, random weights, a planted stop
    clock) as a batch-1 and a batched acoustic model, and random HiFi-GAN vocoders."""

    model: torch.nn.Module
    single: Tacotron2Acoustic
    batched: Tacotron2Acoustic
    vocoders: dict[str, Vocoder]
    stop_after_frames: int
    device: torch.device


def build_models(texts: list[str], per_char: float, device: str = "cpu",
                 vocoders: tuple[str, ...] = ("V1", "V3"),
                 stop_after_frames: int | None = None) -> TtsModels:
    """Models for :func:`measure`: every sentence of ``texts`` stops after the mean frames
    a sentence of their length takes (``per_char`` frames per character), or after
    ``stop_after_frames``."""
    sentence_lengths = [len(s.text) for t in texts for s in split_sentences(t, max_chars=180)]
    target = stop_after_frames or round(per_char * statistics.mean(sentence_lengths))
    torch.manual_seed(0)
    model = Tacotron2Params.ljspeech("characters").build().eval()
    plant_stop_clock(model, target, spread=0.0)
    # every sentence stops after `target` frames, short ones too: widen the stop budget
    budget = dict(min_frames=target + 1, frames_per_token=1.0)
    single = Tacotron2Acoustic(model, CharacterTokenizer(), hifigan_ljspeech_mel(),
                               options=Tacotron2Options(max_batch=1, **budget), device=device)
    batched = Tacotron2Acoustic(model, CharacterTokenizer(), hifigan_ljspeech_mel(),
                                options=Tacotron2Options(max_batch=len(texts), **budget),
                                device=device)
    factories = {"V1": hifigan_v1, "V3": hifigan_v3}
    made = {}
    for name in vocoders:
        torch.manual_seed(0)
        made[name] = Vocoder(factories[name](), preset(name.lower()), device=device)
    return TtsModels(model, single, batched, made, target, single.device)


def measure(models: TtsModels, texts: list[str], repeats: int,
            torchaudio: bool = True) -> dict:
    """Batch-1 and batched text-to-mel, then each vocoder, alternating, ``repeats`` times
    after a warm-up; the median seconds of each (``"Tacotron2 batch 1"``, ``"V1 batched"``,
    ``"torchaudio batch 1"``...), the seconds of audio made and the number of sentences."""
    device = models.device

    def tts_batch1():
        return [text_to_mel(models.single, [t], seed=1)[0] for t in texts]

    def tts_batched():
        return text_to_mel(models.batched, texts, seed=1)

    runs: dict[str, list[float]] = {}
    speech = tts_batched()  # warm-up
    for vocoder in models.vocoders.values():
        vocode(vocoder, [s.mel for s in speech])
    seconds = sum(s.seconds for s in speech)
    sentences = sum(len(s.sentences) for s in speech)
    for repeat in range(repeats + 1):
        record = repeat > 0
        for mode, fn in (("batch 1", tts_batch1), ("batched", tts_batched)):
            elapsed, speech = timed(fn, device)
            mels = [s.mel for s in speech]
            if record:
                runs.setdefault(f"Tacotron2 {mode}", []).append(elapsed)
            for name, vocoder in models.vocoders.items():
                if mode == "batch 1":
                    elapsed, _ = timed(lambda: [vocoder.synthesize(m) for m in mels], device)
                else:
                    elapsed, _ = timed(lambda: vocode(vocoder, mels), device)
                if record:
                    runs.setdefault(f"{name} {mode}", []).append(elapsed)
        if torchaudio:
            tokenizer = CharacterTokenizer()
            sentence_texts = [s.text for sp in speech for s in sp.sentences]
            for mode, flag in (("batch 1", False), ("batched", True)):
                elapsed, frames = timed(lambda: torchaudio_infer(
                    models.model, tokenizer, sentence_texts, flag, seed=1), device)
                if record:
                    runs.setdefault(f"torchaudio {mode}", []).append(elapsed)
                    runs.setdefault(f"torchaudio {mode} frames", []).append(frames)
    median = {key: statistics.median(values) for key, values in runs.items()}
    return {"median": median, "audio_seconds": seconds, "sentences": sentences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10, help="how many transcripts to say")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speech-dir", type=Path, default=default_speech_dir())
    parser.add_argument("--no-torchaudio", action="store_true",
                        help="skip the torchaudio reference runs")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: PyTorch's, one per core)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    texts, per_char = load_texts(args.speech_dir, args.texts)
    models = build_models(texts, per_char, args.device)
    result = measure(models, texts, args.repeats, torchaudio=not args.no_torchaudio)
    median, seconds = result["median"], result["audio_seconds"]
    print(json.dumps({"machine": describe_machine(args.device), "texts": len(texts),
                      "sentences": result["sentences"], "audio_seconds": round(seconds, 2),
                      "stop_after_frames": models.stop_after_frames, "repeats": args.repeats},
                     indent=1))
    print(f"\n{'mode':<10} {'Tacotron2 s':>12} {'T2 RTF':>7} {'+V1 s':>8} {'V1 RTF':>7} "
          f"{'T2+V1 RTF':>10} {'+V3 s':>7} {'V3 RTF':>7} {'T2+V3 RTF':>10}")
    for mode in ("batch 1", "batched"):
        t2, v1, v3 = (median[f"{k} {mode}"] for k in ("Tacotron2", "V1", "V3"))
        print(f"{mode:<10} {t2:>12.2f} {t2 / seconds:>7.3f} {v1:>8.2f} {v1 / seconds:>7.3f} "
              f"{(t2 + v1) / seconds:>10.3f} {v3:>7.2f} {v3 / seconds:>7.3f} "
              f"{(t2 + v3) / seconds:>10.3f}")
    if not args.no_torchaudio:
        for mode in ("batch 1", "batched"):
            t, frames = median[f"torchaudio {mode}"], median[f"torchaudio {mode} frames"]
            audio = frames * 256 / 22050
            print(f"torchaudio Tacotron2.infer {mode}: {t:.2f} s for {audio:.1f} s of frames "
                  f"(RTF {t / audio:.3f})")


if __name__ == "__main__":
    main()
