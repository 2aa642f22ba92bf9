"""``vocoder eval``: how close a vocoder's resynthesis is to the original audio.

For each reference file: resynthesise it through the mel frontend and the generator (or take
the same-named file of another directory with ``--compare-wavs``), then measure

``mel_l1``
    mean absolute difference of the log-mels used by the training loss (``fmax_for_loss``);
    0 for identical audio.
``mrstft``
    multi-resolution STFT distance: for FFT sizes / hops / windows (1024, 120, 600),
    (2048, 240, 1200), (512, 50, 240), spectral convergence ``||S - S'||_F / ||S||_F`` plus
    mean ``|log S - log S'|`` of magnitudes (floored at 1e-7), averaged over resolutions;
    0 for identical audio.
``pesq_wb``
    wideband PESQ (ITU-T P.862.2, package ``pesq``) of both signals resampled to 16 kHz:
    from about 1.0 (bad) to 4.64 (identical).
``stoi``
    short-time objective intelligibility (package ``pystoi``), 0..1, 1 for identical audio.

The generated audio has ``frames * hop`` samples; the reference is cut to that length.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .audio import AUDIO_EXTENSIONS, list_audio, load_audio, resample, save_wav
from .config import AudioConfig, ConfigError, load_audio_config
from .errors import InputError, shown
from .mel import MelSpectrogram
from .melchunks import chunked_mel

STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200),
                                                      (512, 50, 240))
PESQ_RATE = 16000
#: Longest file ``vocoder eval`` scores by default (seconds); its metrics hold several
#: spectrograms of the whole file (about 2 GB at 10 minutes of 22.05 kHz audio).
MAX_EVAL_SECONDS = 600.0
#: Longest signal PESQ is computed for (the ``pesq`` library segfaults past about 80 s).
MAX_PESQ_SECONDS = 60.0
METRICS = ("mel_l1", "mrstft", "pesq_wb", "stoi")


def mel_l1_distance(ref: np.ndarray, deg: np.ndarray, audio: AudioConfig) -> float:
    """Mean |log-mel(ref) - log-mel(deg)| with the training loss's mels, ``(samples,)`` inputs."""
    mel = MelSpectrogram.for_loss(audio)
    n = min(len(ref), len(deg))
    a = chunked_mel(mel, np.ascontiguousarray(ref[:n], dtype=np.float32))
    b = chunked_mel(mel, np.ascontiguousarray(deg[:n], dtype=np.float32))
    return float((a - b).abs().mean())


def mrstft_distance(ref: np.ndarray, deg: np.ndarray,
                    resolutions: Sequence[tuple[int, int, int]] = STFT_RESOLUTIONS,
                    chunk_frames: int = 4096) -> float:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1, averaged over
    ``(n_fft, hop, win)`` resolutions) of two ``(samples,)`` signals; 0 when equal.

    Centred frames (reflect padding), magnitudes floored at 1e-7; computed ``chunk_frames``
    frames at a time with float64 sums, so a long file never holds its whole spectrogram.
    """
    n = min(len(ref), len(deg))
    x = torch.from_numpy(np.ascontiguousarray(ref[:n], dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(deg[:n], dtype=np.float32))
    total = 0.0
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win)
        pad = n_fft // 2
        xp, yp = (torch.nn.functional.pad(s[None, None], (pad, pad), mode="reflect")[0, 0]
                  for s in (x, y))
        frames = 1 + n // hop
        diff2 = ref2 = log_l1 = 0.0
        for first in range(0, frames, chunk_frames):
            last = min(frames, first + chunk_frames)
            span = slice(first * hop, (last - 1) * hop + n_fft)

            def mag(s: torch.Tensor) -> torch.Tensor:
                spec = torch.stft(s[span], n_fft, hop_length=hop, win_length=win, window=window,
                                  center=False, return_complex=True)
                return spec.abs().clamp(min=1e-7)

            mx, my = mag(xp), mag(yp)
            diff2 += float((mx - my).double().pow(2).sum())
            ref2 += float(mx.double().pow(2).sum())
            log_l1 += float((mx.log() - my.log()).abs().double().sum())
        total += math.sqrt(diff2) / math.sqrt(ref2) + log_l1 / (frames * (n_fft // 2 + 1))
    return total / len(resolutions)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> float:
    """Wideband PESQ at 16 kHz (both signals resampled). Raises InputError if PESQ cannot
    score them (too short, no speech found)."""
    from pesq import pesq

    n = min(len(ref), len(deg))
    if n > MAX_PESQ_SECONDS * sample_rate:  # the pesq library crashes past about 80 s
        raise InputError(f"PESQ: not computed for {n / sample_rate:.0f} s of audio (at most "
                         f"{MAX_PESQ_SECONDS:g} s; P.862 scores clips of 8-30 s)")
    a = resample(np.asarray(ref[:n], dtype=np.float32), sample_rate, PESQ_RATE)
    b = resample(np.asarray(deg[:n], dtype=np.float32), sample_rate, PESQ_RATE)
    try:
        return float(pesq(PESQ_RATE, a.astype(np.float64), b.astype(np.float64), "wb"))
    except Exception as exc:  # pesq raises its own error types (NoUtterancesError...)
        raise InputError(f"PESQ: {type(exc).__name__}: {exc}") from None


def stoi_score(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> float:
    """STOI (pystoi, classic, not extended) of two ``(samples,)`` signals."""
    from pystoi import stoi

    n = min(len(ref), len(deg))
    return float(stoi(np.asarray(ref[:n], np.float64), np.asarray(deg[:n], np.float64), sample_rate))


@dataclass
class FileScores:
    """Scores of one file; a metric that could not be computed is ``None`` (see ``notes``)."""

    file: str
    mel_l1: float | None = None
    mrstft: float | None = None
    pesq_wb: float | None = None
    stoi: float | None = None
    notes: str | None = None


def score(ref: np.ndarray, deg: np.ndarray, sample_rate: int, audio: AudioConfig,
          name: str) -> FileScores:
    """All metrics for one pair of ``(samples,)`` signals at ``sample_rate``."""
    out = FileScores(name)
    notes = []
    out.mel_l1 = mel_l1_distance(ref, deg, audio)
    out.mrstft = mrstft_distance(ref, deg)
    try:
        out.pesq_wb = pesq_wb(ref, deg, sample_rate)
    except InputError as exc:
        notes.append(str(exc))
    try:
        out.stoi = stoi_score(ref, deg, sample_rate)
    except Exception as exc:  # pystoi fails on signals with too few speech frames
        notes.append(f"STOI: {exc}")
    out.notes = "; ".join(notes) or None
    return out


def averages(rows: Sequence[FileScores]) -> dict[str, float | None]:
    """Mean of each metric over the files where it is defined."""
    out: dict[str, float | None] = {}
    for m in METRICS:
        vals = [getattr(r, m) for r in rows if getattr(r, m) is not None]
        out[m] = float(np.mean(vals)) if vals else None
    return out


def format_table(rows: Sequence[FileScores], mean: dict[str, float | None]) -> str:
    """A plain-text table: one line per file and a mean line."""
    width = max([len("file")] + [len(r.file) for r in rows] + [len("mean")])
    head = f"{'file':<{width}}  {'mel_l1':>8}  {'mrstft':>8}  {'pesq_wb':>8}  {'stoi':>8}"

    def fmt(v: float | None, digits: int) -> str:
        return f"{v:>8.{digits}f}" if v is not None else f"{'-':>8}"

    def line(name: str, vals: dict) -> str:
        return (f"{name:<{width}}  {fmt(vals['mel_l1'], 4)}  {fmt(vals['mrstft'], 4)}  "
                f"{fmt(vals['pesq_wb'], 3)}  {fmt(vals['stoi'], 4)}")

    lines = [head, "-" * len(head)]
    lines += [line(r.file, asdict(r)) for r in rows]
    lines += ["-" * len(head), line("mean", mean)]
    notes = [f"{r.file}: {r.notes}" for r in rows if r.notes]
    return "\n".join(lines + notes)


# ------------------------------------------------------------------------------ command

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``vocoder eval`` options."""
    src = p.add_mutually_exclusive_group(required=True)
    from .cli import CHECKPOINT_HELP, add_family_option

    src.add_argument("--checkpoint", metavar="NAME|CKPT",
                     help="vocoder to resynthesise --input-wavs with, through its family's "
                          "mel: " + CHECKPOINT_HELP)
    src.add_argument("--compare-wavs", metavar="DIR",
                     help="instead of resynthesising, score the same-named files of DIR (e.g. "
                          "another vocoder's output) against --input-wavs")
    p.add_argument("--config", help="config.json or preset (default: config.json beside the "
                                    "checkpoint; with --compare-wavs: preset v1's mel settings)")
    p.add_argument("--input-wavs", required=True, metavar="DIR", help="reference audio files")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--save-wavs", metavar="DIR", help="also write the resynthesised audio here")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    from .cli import add_max_seconds

    add_max_seconds(p, MAX_EVAL_SECONDS, "the scores hold several spectrograms of a file")
    add_family_option(p)


def _find_match(directory: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        p = directory / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def shortest_scorable(audio: AudioConfig) -> int:
    """Fewest samples a file needs to be scored: enough for the mel frontend after a
    resynthesis cuts it to whole hops, and more than half the largest multi-resolution STFT
    (its centred frames reflect-pad that much)."""
    return max(audio.min_samples + audio.hop_size,
               max(n_fft for n_fft, _, _ in STFT_RESOLUTIONS) // 2 + 1)


def _read_scorable(path: Path, audio: AudioConfig, max_seconds: float | None) -> np.ndarray:
    """Mono audio at the config's rate, long enough to score (:func:`shortest_scorable`)."""
    wav, _ = load_audio(path, audio.sampling_rate, max_seconds=max_seconds)
    shortest = shortest_scorable(audio)
    if len(wav) < shortest:
        raise InputError(f"{shown(path)}: audio of {len(wav)} samples is too short to score (at "
                         f"least {shortest} samples at {audio.sampling_rate} Hz)")
    return wav


def run(args: argparse.Namespace) -> int:
    """``vocoder eval``."""
    from .data import report

    in_dir = Path(args.input_wavs)
    if not in_dir.is_dir():
        raise ConfigError(f"{in_dir}: input directory not found")
    files = list_audio(in_dir)
    if not files:
        raise ConfigError(f"{in_dir}: no audio files found in the input directory")
    rows: list[FileScores] = []
    if args.checkpoint:
        from .cli import load_checkpoint

        loaded = load_checkpoint(args, device=args.device)
        voc, mel = loaded.vocoder, loaded.frontend
        if mel is None:
            raise ConfigError(f"{args.checkpoint}: a feature-input vocoder cannot resynthesise "
                              "audio from mels; score its output with --compare-wavs")
        audio = loaded.audio
    else:
        cmp_dir = Path(args.compare_wavs)
        if not cmp_dir.is_dir():
            raise ConfigError(f"{cmp_dir}: --compare-wavs directory not found")
        audio = load_audio_config(args.config) if args.config else AudioConfig()
    sr = audio.sampling_rate
    for path in files:
        ref = _read_scorable(path, audio, args.max_seconds)
        if args.checkpoint:
            frames = chunked_mel(mel, ref).unsqueeze(0)
            with torch.inference_mode():
                deg = voc(frames)[0].cpu().numpy()
            if args.save_wavs:
                save_wav(Path(args.save_wavs) / f"{path.stem}.wav", deg, sr)
        else:
            other = _find_match(cmp_dir, path.stem)
            if other is None:
                report(f"skipping {path.name}: no {path.stem}.* in {cmp_dir}")
                continue
            deg = _read_scorable(other, audio, args.max_seconds)
        n = min(len(ref), len(deg))
        rows.append(score(ref[:n], deg[:n], sr, audio, path.name))
    if not rows:
        raise ConfigError("no file could be scored")
    mean = averages(rows)
    if args.json:
        out = {"checkpoint": args.checkpoint, "compare_wavs": args.compare_wavs,
               "input_wavs": str(in_dir), "sample_rate": sr,
               "files": [asdict(r) for r in rows], "mean": mean}
        print(json.dumps(out, indent=2, allow_nan=False,
                         default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
    else:
        print(format_table(rows, mean))
    return 0


__all__ = ["FileScores", "STFT_RESOLUTIONS", "averages", "format_table", "mel_l1_distance",
           "mrstft_distance", "pesq_wb", "score", "stoi_score"]
