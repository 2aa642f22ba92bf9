"""Mel frames of long audio, computed chunk by chunk: the same frames as one call of the
frontend, holding one chunk's STFT at a time.

One call of a frontend on three hours of 22.05 kHz audio holds an STFT of 850,000 frames
(3.5 GB) and its magnitudes; here each chunk of :data:`CHUNK_FRAMES` frames is computed from
its samples and :func:`context_samples` more on each side, so its frames see exactly the
samples (and edge padding) they would in one call. Works for every frontend that frames
audio every ``hop_size`` samples over at most ``n_fft`` samples (HiFi-GAN's, the centred
SpeechBrain/ESPnet/Coqui mels).

:func:`write_mel_file` streams a file's mel into a ``.npy`` file (the usual C-order
``(num_mels, frames)`` array), so ``vocoder mel`` needs the same memory for any length.
"""

from __future__ import annotations

import os
import struct
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from .atomic import atomic_open
from .errors import InputError, shown

#: Frames computed at once (about 48 s of 22.05 kHz audio at hop 256).
CHUNK_FRAMES = 4096
#: Bytes of the ``.npy`` header :func:`write_mel_file` writes (a multiple of 64, as numpy).
NPY_HEADER_BYTES = 128


def _settings(frontend: nn.Module) -> tuple[int, int]:
    audio = getattr(frontend, "audio", None)
    if audio is not None:
        return int(audio.hop_size), int(audio.n_fft)
    return int(frontend.hop_size), int(frontend.n_fft)


def frame_count(frontend: nn.Module, samples: int) -> int:
    """Frames ``frontend`` makes of ``samples`` samples (``samples // hop`` for HiFi-GAN's
    mel, ``1 + samples // hop`` for the centred ones)."""
    if hasattr(frontend, "num_frames"):
        return int(frontend.num_frames(samples))
    return samples // _settings(frontend)[0]


def context_samples(frontend: nn.Module) -> int:
    """Samples taken on each side of a chunk: at least ``n_fft + hop``, a whole number of
    hops (so a chunk's frames fall on the global frame grid)."""
    hop, n_fft = _settings(frontend)
    return -(-(n_fft + hop) // hop) * hop


def mel_chunks(frontend: nn.Module, blocks: Iterable[np.ndarray | Tensor], *,
               chunk_frames: int = CHUNK_FRAMES) -> Iterator[Tensor]:
    """The mel of audio arriving in blocks, as consecutive ``(num_mels, n)`` chunks.

    Args:
        frontend: a mel frontend (``(samples,) -> (num_mels, frames)``), on any device.
        blocks: mono float ``(samples,)`` pieces of the audio, in order, any sizes.
        chunk_frames: frames per chunk (the last may be shorter).

    Yields float32 chunks on the frontend's device whose concatenation equals
    ``frontend(whole audio)`` (up to float rounding of the batched FFT). Raises what the
    frontend raises for audio too short to frame.
    """
    hop, _ = _settings(frontend)
    ctx = context_samples(frontend)
    device = next((b.device for b in frontend.buffers()), torch.device("cpu"))
    pending: list[np.ndarray] = []
    buf = np.zeros(0, dtype=np.float32)
    start = 0  # global index of buf[0], a multiple of hop
    done = 0  # frames yielded
    total = 0
    chunk_frames = max(1, int(chunk_frames))

    def compute(first: int, last: int, seg_end: int) -> Tensor:
        seg_start = max(0, first * hop - ctx)
        segment = torch.from_numpy(buf[seg_start - start:seg_end - start]).to(device)
        with torch.inference_mode():
            mel = frontend(segment)
        offset = seg_start // hop
        return mel[:, first - offset:last - offset].float()

    for block in blocks:
        block = block.detach().cpu().numpy() if isinstance(block, Tensor) else np.asarray(block)
        pending.append(np.asarray(block, dtype=np.float32).reshape(-1))
        total += pending[-1].size
        ready = max(0, (total - ctx) // hop)  # frames whose samples (and context) are all here
        if ready - done < chunk_frames:
            continue
        buf = np.concatenate([buf, *pending])
        pending = []
        while ready - done >= chunk_frames:
            yield compute(done, done + chunk_frames, (done + chunk_frames) * hop + ctx)
            done += chunk_frames
            keep = max(0, done * hop - ctx)
            buf, start = buf[keep - start:], keep
    buf = np.concatenate([buf, *pending])
    frames = frame_count(frontend, total)
    if done == 0 and frames <= chunk_frames:  # one call (and its error for too short audio)
        with torch.inference_mode():
            yield frontend(torch.from_numpy(buf).to(device)).float()
        return
    while done < frames:
        last = min(frames, done + chunk_frames)
        yield compute(done, last, min(total, last * hop + ctx))
        done = last


def chunked_mel(frontend: nn.Module, wav: np.ndarray | Tensor, *,
                chunk_frames: int = CHUNK_FRAMES) -> Tensor:
    """``frontend(wav)`` for mono ``(samples,)`` audio, computed in chunks
    (:func:`mel_chunks`): float32 ``(num_mels, frames)`` on the frontend's device."""
    chunks = list(mel_chunks(frontend, [wav], chunk_frames=chunk_frames))
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)


def npy_header(shape: tuple[int, ...], descr: str = "<f4", size: int = NPY_HEADER_BYTES) -> bytes:
    """A ``.npy`` (format 1.0) header of exactly ``size`` bytes for a C-order array."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    body_len = size - 10
    if len(text) + 1 > body_len:
        raise ValueError(f"shape {shape} does not fit a {size}-byte .npy header")
    body = text.ljust(body_len - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", body_len) + body.encode("latin1")


def write_mel_file(path: str | os.PathLike, frontend: nn.Module,
                   blocks: Iterable[np.ndarray | Tensor], samples: int, *,
                   chunk_frames: int = CHUNK_FRAMES, source: str = "audio") -> tuple[int, int]:
    """Write the mel of streamed audio to ``path`` as a float32 ``(num_mels, frames)``
    ``.npy`` file (C order, as ``numpy.save`` writes it), atomically, one chunk in memory.

    Args:
        samples: how many samples ``blocks`` hold (from the audio's header), which fixes the
            number of frames before the first chunk is written.
        source: how messages name the audio.

    Returns:
        ``(num_mels, frames)``.

    Raises:
        InputError: the blocks held another number of samples than ``samples`` (a header
            that does not describe its file).
        vocoder.atomic.OutputError: the file cannot be written.
    """
    frames = frame_count(frontend, samples)
    made = 0
    mels = None
    with atomic_open(path) as handle:
        for chunk in mel_chunks(frontend, blocks, chunk_frames=chunk_frames):
            data = chunk.cpu().numpy().astype("<f4", copy=False)
            if mels is None:
                mels = data.shape[0]
                handle.write(npy_header((mels, frames)))
            n = data.shape[1]
            if made + n > frames:
                break
            for band in range(mels):  # row `band` of a C-order (mels, frames) array
                handle.seek(NPY_HEADER_BYTES + 4 * (band * frames + made))
                handle.write(data[band].tobytes())
            made += n
        if made != frames:
            raise InputError(f"{shown(source)}: its header declares {samples} samples "
                             f"({frames} frames) but the audio holds another number; the file "
                             "is damaged")
    return int(mels or 0), frames


__all__ = ["CHUNK_FRAMES", "NPY_HEADER_BYTES", "chunked_mel", "context_samples", "frame_count",
           "mel_chunks", "npy_header", "write_mel_file"]
