"""Self-supervised speech features from torchaudio's wav2vec 2.0 family (wav2vec 2.0, HuBERT, WavLM).

One extractor, :class:`SSLFeatureExtractor`, wraps any :class:`torchaudio.models.Wav2Vec2Model`
(built by ``wav2vec2_model`` / ``wavlm_model`` or a preset such as ``wavlm_large``) and returns
the output of one transformer layer as ``(batch, frames, dim)`` at 50 frames per second for
16 kHz input.

Layer numbering
    ``layer=n`` (``1 <= n <= num_layers``) is the output of transformer layer ``n``, counting
    from 1, before any final encoder layer norm. It equals torchaudio's
    ``model.extract_features(wav)[0][n - 1]`` and Hugging Face's ``hidden_states[n]`` (except
    the last layer of pre-LN models, where Hugging Face applies the final layer norm).
    kNN-VC uses ``layer=6`` of WavLM-Large (its ``SPEAKER_INFORMATION_LAYER``) fed with the raw
    waveform, i.e. *without* the per-utterance waveform normalisation that torchaudio's
    WavLM-Large bundle applies; ``normalize_waveform=False`` (the default) matches that.

Frames
    The convolutional front end has a receptive field of 400 samples and a stride of 320 at
    16 kHz, so ``samples`` give ``(samples - 400) // 320 + 1`` frames (computed layer by layer by
    :meth:`SSLFeatureExtractor.num_frames`); frame ``i`` covers samples ``[320 i, 320 i + 400)``.

Memory
    Audio longer than ``chunk_seconds + 2 * context_seconds`` is cut into windows of
    ``chunk_seconds`` with ``context_seconds`` of extra audio on each side; only the centre
    frames of each window are kept. The convolutional front end is exact under this cutting
    (windows start on a multiple of the 320-sample stride; the group norm of Base models uses
    statistics of the whole utterance, computed in a separate pass), so chunked and whole
    extraction differ only through the transformer's attention span and positional
    convolution, which see ``context_seconds`` beyond each kept frame. Windows of several
    utterances are batched up to ``batch_seconds`` of audio per forward pass, so memory does not
    grow with the length of the audio beyond the output itself (``frames * dim * 4`` bytes).

Batches
    Padded batches give the same features as one-by-one extraction: padding never reaches a
    valid frame (masked attention, zeroed padded frames before the positional convolution,
    per-utterance group-norm statistics).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vocoder.dependencies import require
from vocoder.errors import InputError
from vocoder.weightnorm import current_weight_norm_names

# torchaudio must match torch binary for binary; a mismatch is one line naming both versions.
torchaudio = require("torchaudio", "SSL feature extraction (voice conversion)")
from torchaudio.models import Wav2Vec2Model, wav2vec2_model, wavlm_model  # noqa: E402
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention  # noqa: E402

from .audio import load_mono, resample_tensor  # noqa: E402

SAMPLE_RATE = 16000
KNNVC_LAYER = 6
TORCHAUDIO_MODEL_URL = "https://download.pytorch.org/torchaudio/models/"


class FeatureError(InputError):
    """A model, weights file or input that the feature extractor cannot use."""


@dataclass
class ExtractorConfig:
    """How an :class:`SSLFeatureExtractor` feeds audio to its model.

    Attributes:
        sample_rate: rate the model was trained at (Hz); inputs at other rates are resampled.
        normalize_waveform: scale each utterance to zero mean, unit variance first (what the
            ``*_LARGE``/XLSR torchaudio bundles do). kNN-VC does not: keep ``False`` for it.
        chunk_seconds: centre part of each window that long audio is cut into (s).
        context_seconds: extra audio on each side of a window, dropped from the output (s).
        batch_seconds: most audio (s, padding included) in one forward pass; a single
            window longer than this still runs on its own.
    """

    sample_rate: int = SAMPLE_RATE
    normalize_waveform: bool = False
    chunk_seconds: float = 20.0
    context_seconds: float = 2.0
    batch_seconds: float = 48.0

    def validate(self) -> "ExtractorConfig":
        if self.sample_rate <= 0:
            raise FeatureError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.chunk_seconds <= 0:
            raise FeatureError(f"chunk_seconds must be positive, got {self.chunk_seconds}")
        if self.context_seconds < 0:
            raise FeatureError(f"context_seconds must be >= 0, got {self.context_seconds}")
        if self.batch_seconds <= 0:
            raise FeatureError(f"batch_seconds must be positive, got {self.batch_seconds}")
        return self


class SSLFeatureExtractor(nn.Module):
    """Features of one transformer layer of a (frozen) wav2vec 2.0 / HuBERT / WavLM model.

    Args:
        model: a torchaudio ``Wav2Vec2Model`` (any factory of the family); put in eval mode
            and frozen.
        name: what the features are called in matching sets (e.g. ``"WAVLM_LARGE"``); sets
            made with another name are refused.
        config: input handling and memory settings.
    """

    def __init__(self, model: Wav2Vec2Model, name: str,
                 config: ExtractorConfig | None = None) -> None:
        super().__init__()
        if not isinstance(model, Wav2Vec2Model):
            raise FeatureError(f"expected a torchaudio Wav2Vec2Model, got {type(model).__name__}")
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self.config = (config or ExtractorConfig()).validate()
        blocks = model.feature_extractor.conv_layers
        self._kernels = [int(b.kernel_size) for b in blocks]
        self._strides = [int(b.stride) for b in blocks]
        self.hop_length = math.prod(self._strides)
        field = 1
        for k, s in zip(reversed(self._kernels), reversed(self._strides)):
            field = (field - 1) * s + k
        self.receptive_field = field
        self.num_layers = len(model.encoder.transformer.layers)
        self.dim = int(model.encoder.feature_projection.projection.out_features)
        self.is_wavlm = isinstance(model.encoder.transformer.layers[0].attention,
                                   WavLMSelfAttention)
        self._group_norm = isinstance(blocks[0].layer_norm, nn.GroupNorm)

    def train(self, mode: bool = True) -> "SSLFeatureExtractor":
        """The wrapped model always stays in eval mode (no dropout, no layer drop)."""
        super().train(mode)
        self.model.eval()
        return self

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        """Frames per second (50.0 for 16 kHz models)."""
        return self.sample_rate / self.hop_length

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def num_frames(self, num_samples: int | Tensor) -> int | Tensor:
        """Frames for ``num_samples`` samples at the model's rate (0 if too short)."""
        n = num_samples
        for k, s in zip(self._kernels, self._strides):
            n = (n - k) // s + 1
        if isinstance(n, Tensor):
            return n.clamp_min(0)
        return max(int(n), 0)

    def _check_layer(self, layer: int) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
                or not 1 <= int(layer) <= self.num_layers:
            raise FeatureError(f"layer must be an integer in 1..{self.num_layers} (the output of "
                               f"that transformer layer, counting from 1) for {self.name}, "
                               f"got {layer!r}")
        return int(layer)

    # ------------------------------------------------------------------ public API
    def extract(self, waveforms: Tensor | np.ndarray, lengths: Tensor | Sequence[int] | None,
                layer: int, *, sample_rate: int | None = None) -> tuple[Tensor, Tensor]:
        """Features of transformer layer ``layer`` for a padded batch of audio.

        Args:
            waveforms: ``(batch, samples)``, ``(batch, channels, samples)`` (channels are
                averaged) or ``(samples,)``; float in [-1, 1].
            lengths: valid samples of each item ``(batch,)``; ``None`` means all samples.
            layer: transformer layer, 1..``num_layers`` (see the module docstring; 6 for
                kNN-VC with WavLM-Large).
            sample_rate: rate of ``waveforms`` in Hz; resampled to :attr:`sample_rate` when it
                differs (lengths are rescaled). ``None`` means the model's rate.

        Returns:
            ``(features, frame_lengths)``: float32 ``(batch, frames, dim)`` on the model's
            device, zero beyond each item's length, and ``(batch,)`` int64 valid frames
            (``frames = max(frame_lengths)``).
        """
        items = self._split_batch(waveforms, lengths)
        if not items:
            raise FeatureError("waveforms is an empty batch")
        feats = self.extract_list(items, layer, sample_rate=sample_rate)
        frame_lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
        out = torch.zeros(len(feats), int(frame_lengths.max()), self.dim, device=self.device)
        for i, f in enumerate(feats):
            out[i, :f.shape[0]] = f
        return out, frame_lengths.to(self.device)

    def extract_list(self, waveforms: Sequence[Tensor | np.ndarray], layer: int, *,
                     sample_rate: int | None = None) -> list[Tensor]:
        """Features for a list of mono waveforms ``(samples,)`` of any lengths.

        Returns one float32 ``(frames_i, dim)`` tensor per waveform. Windows of all the
        waveforms are batched together (up to ``batch_seconds`` of audio per pass).
        """
        layer = self._check_layer(layer)
        rate = self.sample_rate if sample_rate is None else int(sample_rate)
        items = []
        for i, w in enumerate(waveforms):
            w = torch.as_tensor(w)
            if w.dim() != 1:
                raise FeatureError(f"waveform {i}: expected mono audio (samples,), got shape "
                                   f"{tuple(w.shape)}")
            if not torch.is_floating_point(w):
                raise FeatureError(f"waveform {i}: expected float samples in [-1, 1], got {w.dtype}")
            if rate != self.sample_rate:
                w = resample_tensor(w.float(), rate, self.sample_rate)
            if w.shape[0] < self.receptive_field:
                raise FeatureError(
                    f"waveform {i} has {w.shape[0]} samples at {self.sample_rate} Hz; {self.name} "
                    f"needs at least {self.receptive_field} "
                    f"({1000 * self.receptive_field / self.sample_rate:.1f} ms) for one frame")
            items.append(w)
        with torch.no_grad():
            return self._extract_items(items, layer)

    def extract_file(self, path: str | os.PathLike, layer: int) -> Tensor:
        """Features ``(frames, dim)`` of an audio file (mono downmix, resampled to 16 kHz)."""
        return self.extract_list([load_mono(path, self.sample_rate)], layer)[0]

    # ------------------------------------------------------------------ internals
    def _split_batch(self, waveforms: Tensor | np.ndarray,
                     lengths: Tensor | Sequence[int] | None) -> list[Tensor]:
        x = torch.as_tensor(waveforms)
        if x.dim() == 1:
            x = x[None]
        elif x.dim() == 3:
            x = x.mean(dim=1)  # mono downmix
        elif x.dim() != 2:
            raise FeatureError("waveforms must be (batch, samples), (batch, channels, samples) or "
                               f"(samples,), got shape {tuple(x.shape)}")
        if lengths is None:
            return list(x)
        lengths = torch.as_tensor(lengths).reshape(-1)
        if lengths.shape[0] != x.shape[0]:
            raise FeatureError(f"lengths must have one entry per waveform ({x.shape[0]}), got "
                               f"{lengths.shape[0]}")
        out = []
        for i, (w, n) in enumerate(zip(x, lengths.tolist())):
            if not 0 < int(n) <= x.shape[1]:
                raise FeatureError(f"lengths[{i}] = {n} is outside 1..{x.shape[1]} (samples in "
                                   "the padded batch)")
            out.append(w[:int(n)])
        return out

    def _extract_items(self, items: list[Tensor], layer: int) -> list[Tensor]:
        device, dtype = self.device, self.dtype
        prepared, stats = [], []
        for w in items:
            w = w.to(device=device, dtype=torch.float32)
            if self.config.normalize_waveform:
                w = nn.functional.layer_norm(w, w.shape)
            prepared.append(w.to(dtype))
            stats.append(self._group_norm_stats(w.to(dtype)) if self._group_norm else None)

        # Cut every item into windows: (item, start sample, end sample, keep frames [a, b) of
        # the window, destination frame of a).
        rate, hop, rf = self.sample_rate, self.hop_length, self.receptive_field
        chunk = max(1, round(self.config.chunk_seconds * self.frame_rate))
        context = round(self.config.context_seconds * self.frame_rate)
        windows = []
        for i, w in enumerate(prepared):
            n = self.num_frames(w.shape[0])
            if n <= chunk + 2 * context:
                windows.append((i, 0, w.shape[0], 0, n, 0))
                continue
            pieces = math.ceil(n / chunk)
            size = math.ceil(n / pieces)
            for a in range(0, n, size):
                b = min(a + size, n)
                wa, wb = max(0, a - context), min(n, b + context)
                windows.append((i, wa * hop, (wb - 1) * hop + rf, a - wa, b - wa, a))

        outputs = [torch.zeros(self.num_frames(w.shape[0]), self.dim, device=device)
                   for w in prepared]
        budget = self.config.batch_seconds * rate
        group: list[tuple] = []
        for win in windows:
            longest = max(end - start for _, start, end, *_ in group + [win])
            if group and longest * (len(group) + 1) > budget:
                self._run_group(group, prepared, stats, layer, outputs)
                group = []
            group.append(win)
        if group:
            self._run_group(group, prepared, stats, layer, outputs)
        return outputs

    def _run_group(self, group: list[tuple], prepared: list[Tensor], stats: list[Any],
                   layer: int, outputs: list[Tensor]) -> None:
        longest = max(end - start for _, start, end, *_ in group)
        batch = prepared[0].new_zeros(len(group), longest)
        lengths = torch.empty(len(group), dtype=torch.long)
        for j, (i, start, end, *_) in enumerate(group):
            batch[j, :end - start] = prepared[i][start:end]
            lengths[j] = end - start
        group_stats = None
        if self._group_norm:
            group_stats = (torch.stack([stats[i][0] for i, *_ in group]),
                           torch.stack([stats[i][1] for i, *_ in group]))
        feats = self._forward(batch, lengths.to(batch.device), layer, group_stats)
        for j, (i, _, _, a, b, dest) in enumerate(group):
            outputs[i][dest:dest + b - a] = feats[j, a:b].float()

    def _group_norm_stats(self, wav: Tensor, piece_frames: int = 65536) -> tuple[Tensor, Tensor]:
        """Mean and std ``(channels,)`` of the first conv layer's output over a whole utterance.

        Base models normalise that output per channel over time (GroupNorm with one group per
        channel); computing the statistics once per utterance, in pieces, keeps windows and
        padded batches exactly consistent with whole, unpadded extraction.
        """
        block = self.model.feature_extractor.conv_layers[0]
        k, s = self._kernels[0], self._strides[0]
        frames = (wav.shape[0] - k) // s + 1
        total = torch.zeros(block.conv.out_channels, dtype=torch.float64, device=wav.device)
        squares = torch.zeros_like(total)
        for a in range(0, frames, piece_frames):
            b = min(a + piece_frames, frames)
            y = block.conv(wav[a * s:(b - 1) * s + k][None, None])[0].double()
            total += y.sum(dim=1)
            squares += (y * y).sum(dim=1)
        mean = total / frames
        var = (squares / frames - mean * mean).clamp_min(0.0)
        std = torch.sqrt(var + block.layer_norm.eps)
        return mean.to(wav.dtype), std.to(wav.dtype)

    def _positional(self, x: Tensor) -> Tensor:
        """The convolutional positional embedding of ``(batch, frames, dim)``.

        On the CPU in bfloat16/float16 it is computed in float32: oneDNN's low-precision
        grouped convolution returns wrong values on CPUs with AMX when a group has few
        channels (torch 2.11: relative error 0.5-1.1 with 8 or 12 channels per group; the
        published models' 48-64 are right). It is one small layer, so float32 costs little.
        """
        pos = self.model.encoder.transformer.pos_conv_embed
        if x.device.type != "cpu" or x.dtype == torch.float32:
            return pos(x)
        conv = pos.conv
        y = nn.functional.conv1d(x.transpose(1, 2).float(), conv.weight.float(),
                                 None if conv.bias is None else conv.bias.float(),
                                 stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                                 groups=conv.groups)
        if pos.num_remove > 0:
            y = y[..., :-pos.num_remove]
        return nn.functional.gelu(y).transpose(1, 2).to(x.dtype)

    def _forward(self, wav: Tensor, lengths: Tensor, layer: int,
                 group_stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """``(batch, samples)`` padded audio -> ``(batch, frames, dim)`` output of ``layer``.

        The same computation as ``Wav2Vec2Model.extract_features`` with masks that keep padding
        out of valid frames (torchaudio's WavLM ignores ``lengths``).
        """
        x = wav[:, None]
        for block in self.model.feature_extractor.conv_layers:
            x = block.conv(x)
            norm = block.layer_norm
            if isinstance(norm, nn.GroupNorm):
                mean, std = group_stats
                x = (x - mean[..., None]) / std[..., None]
                x = x * norm.weight[:, None] + norm.bias[:, None]
            elif norm is not None:
                x = norm(x)
            x = nn.functional.gelu(x)
        frame_lengths = self.num_frames(lengths)
        encoder = self.model.encoder
        x = encoder.feature_projection(x.transpose(1, 2))
        frames = x.shape[1]
        padded = torch.arange(frames, device=x.device)[None] >= frame_lengths[:, None]
        has_padding = bool(padded.any())
        if has_padding:
            x = x.masked_fill(padded[..., None], 0.0)
        transformer = encoder.transformer
        x = x + self._positional(x)
        if transformer.layer_norm_first:  # post-LN models (Base) normalise before the layers
            x = transformer.layer_norm(x)
        position_bias = None
        if self.is_wavlm:
            key_padding = None
            if has_padding:  # float, like the position bias it is added to
                key_padding = x.new_zeros(padded.shape).masked_fill(padded, float("-inf"))
            for block in transformer.layers[:layer]:
                x, position_bias = block(x, None, position_bias=position_bias,
                                         key_padding_mask=key_padding)
        else:
            mask = None
            if has_padding:
                mask = x.new_zeros(x.shape[0], 1, 1, frames).masked_fill(
                    padded[:, None, None, :], float("-inf")).expand(-1, 1, frames, frames)
            for block in transformer.layers[:layer]:
                x, _ = block(x, mask)
        return x


# ---------------------------------------------------------------------- building and loading
@dataclass(frozen=True)
class Architecture:
    """A torchaudio wav2vec 2.0 / HuBERT / WavLM bundle, built without torchaudio's private
    bundle attributes: its public factory, its weights file and its sample rate.

    Attributes:
        factory: the ``torchaudio.models`` function that builds the pretrained model (a
            fine-tuned bundle's encoder without the ASR head).
        file: the weights file name under :data:`TORCHAUDIO_MODEL_URL`, or a full URL.
        sample_rate: the rate the model was trained at (Hz).
    """

    factory: Any
    file: str
    sample_rate: int = SAMPLE_RATE

    @property
    def url(self) -> str:
        return self.file if self.file.startswith("https://") else TORCHAUDIO_MODEL_URL + self.file


def _architectures() -> dict[str, Architecture]:
    """torchaudio 2.11's bundles (``torchaudio.pipelines.<NAME>``), checked against the
    bundles themselves by the tests."""
    m = torchaudio.models
    table = {
        "HUBERT_BASE": (m.hubert_base, "hubert_fairseq_base_ls960.pth"),
        "HUBERT_LARGE": (m.hubert_large, "hubert_fairseq_large_ll60k.pth"),
        "HUBERT_XLARGE": (m.hubert_xlarge, "hubert_fairseq_xlarge_ll60k.pth"),
        "HUBERT_ASR_LARGE": (m.hubert_large, "hubert_fairseq_large_ll60k_asr_ls960.pth"),
        "HUBERT_ASR_XLARGE": (m.hubert_xlarge, "hubert_fairseq_xlarge_ll60k_asr_ls960.pth"),
        "WAV2VEC2_BASE": (m.wav2vec2_base, "wav2vec2_fairseq_base_ls960.pth"),
        "WAV2VEC2_ASR_BASE_10M": (m.wav2vec2_base, "wav2vec2_fairseq_base_ls960_asr_ll10m.pth"),
        "WAV2VEC2_ASR_BASE_100H": (m.wav2vec2_base, "wav2vec2_fairseq_base_ls960_asr_ls100.pth"),
        "WAV2VEC2_ASR_BASE_960H": (m.wav2vec2_base, "wav2vec2_fairseq_base_ls960_asr_ls960.pth"),
        "WAV2VEC2_LARGE": (m.wav2vec2_large, "wav2vec2_fairseq_large_ls960.pth"),
        "WAV2VEC2_ASR_LARGE_10M": (m.wav2vec2_large, "wav2vec2_fairseq_large_ls960_asr_ll10m.pth"),
        "WAV2VEC2_ASR_LARGE_100H": (m.wav2vec2_large, "wav2vec2_fairseq_large_ls960_asr_ls100.pth"),
        "WAV2VEC2_ASR_LARGE_960H": (m.wav2vec2_large, "wav2vec2_fairseq_large_ls960_asr_ls960.pth"),
        "WAV2VEC2_LARGE_LV60K": (m.wav2vec2_large_lv60k, "wav2vec2_fairseq_large_lv60k.pth"),
        "WAV2VEC2_ASR_LARGE_LV60K_10M": (m.wav2vec2_large_lv60k,
                                         "wav2vec2_fairseq_large_lv60k_asr_ll10m.pth"),
        "WAV2VEC2_ASR_LARGE_LV60K_100H": (m.wav2vec2_large_lv60k,
                                          "wav2vec2_fairseq_large_lv60k_asr_ls100.pth"),
        "WAV2VEC2_ASR_LARGE_LV60K_960H": (m.wav2vec2_large_lv60k,
                                          "wav2vec2_fairseq_large_lv60k_asr_ls960.pth"),
        "WAV2VEC2_XLSR53": (m.wav2vec2_large_lv60k, "wav2vec2_fairseq_large_xlsr53.pth"),
        "WAV2VEC2_XLSR_300M": (m.wav2vec2_xlsr_300m, "wav2vec2_xlsr_300m.pth"),
        "WAV2VEC2_XLSR_1B": (m.wav2vec2_xlsr_1b, "wav2vec2_xlsr_1b.pth"),
        "WAV2VEC2_XLSR_2B": (m.wav2vec2_xlsr_2b, "wav2vec2_xlsr_2b.pth"),
        "VOXPOPULI_ASR_BASE_10K_DE": (m.wav2vec2_base, "wav2vec2_voxpopuli_base_10k_asr_de.pt"),
        "VOXPOPULI_ASR_BASE_10K_EN": (m.wav2vec2_base, "wav2vec2_voxpopuli_base_10k_asr_en.pt"),
        "VOXPOPULI_ASR_BASE_10K_ES": (m.wav2vec2_base, "wav2vec2_voxpopuli_base_10k_asr_es.pt"),
        "VOXPOPULI_ASR_BASE_10K_FR": (m.wav2vec2_base, "wav2vec2_voxpopuli_base_10k_asr_fr.pt"),
        "VOXPOPULI_ASR_BASE_10K_IT": (m.wav2vec2_base, "wav2vec2_voxpopuli_base_10k_asr_it.pt"),
        "MMS_FA": (m.wav2vec2_large_lv60k, "https://dl.fbaipublicfiles.com/mms/torchaudio/"
                                           "ctc_alignment_mling_uroman/model.pt"),
        "WAVLM_BASE": (m.wavlm_base, "wavlm_base.pth"),
        "WAVLM_BASE_PLUS": (m.wavlm_base, "wavlm_base_plus.pth"),
        "WAVLM_LARGE": (m.wavlm_large, "wavlm_large.pth"),
    }
    return {name: Architecture(factory, file) for name, (factory, file) in table.items()}


def bundle_names() -> list[str]:
    """Names of torchaudio's wav2vec 2.0 / HuBERT / WavLM bundles (``WAVLM_LARGE``...)."""
    return sorted(_architectures())


def architecture(name: str) -> Architecture:
    """The table entry of a bundle name (case-insensitive, ``"wavlm_large"`` works too).

    Raises:
        FeatureError: no torchaudio bundle has that name.
    """
    found = _architectures().get(name.upper())
    if found is None:
        raise FeatureError(f"unknown model architecture {name!r}; use a torchaudio bundle name "
                           f"({', '.join(bundle_names())}) or a dict of factory arguments")
    return found


def build_model(arch: str | Mapping[str, Any]) -> Wav2Vec2Model:
    """A randomly initialised model of a named architecture.

    Args:
        arch: a torchaudio bundle name (``"WAVLM_LARGE"``, ``"WAV2VEC2_BASE"``,
            ``"HUBERT_BASE"``..., case-insensitive, so ``"wavlm_large"`` names the same
            architecture as the ``torchaudio.models.wavlm_large`` preset), or a mapping of
            arguments for ``torchaudio.models.wav2vec2_model`` (or ``wavlm_model`` when it has
            ``"model_type": "wavlm"``). Fine-tuned (ASR) bundles give the pretrained model
            without the CTC head.
    """
    if isinstance(arch, Mapping):
        params = dict(arch)
        kind = str(params.pop("model_type", "wav2vec2")).lower()
        factory = {"wav2vec2": wav2vec2_model, "hubert": wav2vec2_model, "wavlm": wavlm_model}
        if kind not in factory:
            raise FeatureError(f"model_type must be 'wav2vec2', 'hubert' or 'wavlm', got {kind!r}")
        params.setdefault("aux_num_out", None)
        try:
            return factory[kind](**params)
        except TypeError as exc:
            raise FeatureError(f"bad arguments for {factory[kind].__name__}: {exc}") from None
    return architecture(arch).factory(aux_num_out=None)


def default_weights_path(arch: str) -> Path:
    """Where torch.hub caches a bundle's weights (``<torch hub dir>/checkpoints/<file>``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(architecture(arch).file)


def weights_url(arch: str) -> str:
    """Download address of a torchaudio bundle's weights."""
    return architecture(arch).url


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a torchaudio-format state dict safely (``weights_only``), on the CPU.

    Accepts a plain state dict, one saved from a bundle's wrapped model (keys prefixed
    ``model.``) and one nested under ``"state_dict"`` or ``"model"``.
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: weights file not found")
    from vocoder.safeload import MAX_EXTRACTOR_BYTES, TorchFileError, torch_load

    try:  # read safely, never inflated; NaN weights refused
        state = torch_load(path, what="weights file", max_bytes=MAX_EXTRACTOR_BYTES)
    except TorchFileError as exc:
        raise FeatureError(str(exc)) from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise FeatureError(f"{path}: expected a state dict of tensors")
    if all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    return dict(state)


def load_weights(model: Wav2Vec2Model, state: Mapping[str, Tensor], source: str) -> None:
    """Load a state dict into ``model``; a mismatch raises an error naming ``source``."""
    state = {k: v for k, v in state.items() if not (model.aux is None and k.startswith("aux."))}
    own = model.state_dict()
    # torchaudio's published weights predate parametrized weight norm: the positional
    # convolution is stored as ``weight_g`` / ``weight_v``.
    state = current_weight_norm_names(state, expected=own.keys())
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    wrong = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(state[k].shape)}"
             for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} with the wrong shape (e.g. {'; '.join(wrong[:2])})")
        hint = ""
        if any(".self_attn." in k for k in state):
            hint = (" (this looks like a fairseq / Microsoft WavLM checkpoint; use torchaudio's "
                    "converted weights, e.g. " + TORCHAUDIO_MODEL_URL + "wavlm_large.pth)")
        raise FeatureError(f"{source}: weights do not fit the architecture: " + "; ".join(parts)
                           + hint)
    model.load_state_dict(state)


def load_extractor(arch: str | Mapping[str, Any], weights: str | os.PathLike | None = None, *,
                   name: str | None = None, config: ExtractorConfig | None = None,
                   device: str | torch.device = "cpu") -> SSLFeatureExtractor:
    """An extractor for a named architecture with weights from a local file.

    Nothing is downloaded. Without ``weights``, a bundle's file is looked for where torch.hub
    caches it (:func:`default_weights_path`); if it is not there the error says where to get
    it.

    Args:
        arch: torchaudio bundle name (``"WAVLM_LARGE"``) or factory arguments (see
            :func:`build_model`).
        weights: torchaudio-format state dict file (e.g. ``wavlm_large.pth``).
        name: name recorded in matching sets; default the upper-case bundle name.
        config: input/memory settings; default :class:`ExtractorConfig` with the bundle's rate.
        device: where the model runs.
    """
    if weights is None:
        if isinstance(arch, Mapping):
            raise FeatureError("a custom architecture needs a weights file (weights=...)")
        weights = default_weights_path(arch)
        if not weights.is_file():
            raise FeatureError(
                f"{arch.upper()}: weights not found at {weights}; download {weights_url(arch)} "
                "and pass the file as weights=... (or put it at that path)")
    if name is None:
        name = arch.upper() if isinstance(arch, str) else Path(weights).stem
    if config is None:
        config = ExtractorConfig()
        if isinstance(arch, str):
            config.sample_rate = int(architecture(arch).sample_rate)
    model = build_model(arch)
    load_weights(model, load_state_dict_file(weights), str(weights))
    return SSLFeatureExtractor(model, name, config).to(device)


def load_hf_extractor(directory: str | os.PathLike, *, name: str | None = None,
                      config: ExtractorConfig | None = None,
                      device: str | torch.device = "cpu") -> SSLFeatureExtractor:
    """An extractor from a Hugging Face ``transformers`` checkpoint directory.

    The directory holds ``config.json`` and the weights (as written by ``save_pretrained``) of
    a Wav2Vec2, HuBERT or WavLM model; it is read offline and converted with torchaudio's
    ``import_huggingface_model``. Needs the optional extra ``hf`` (``transformers``).
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FeatureError(f"{directory}: not a Hugging Face checkpoint directory "
                           "(no config.json)")
    try:
        import transformers
    except ImportError:
        raise FeatureError("loading a Hugging Face checkpoint needs the 'transformers' package: "
                           "pip install 'hifisynth[hf]'") from None
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    try:
        original = transformers.AutoModel.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:
        raise FeatureError(f"{directory}: cannot load the Hugging Face model "
                           f"({str(exc).strip().splitlines()[0]})") from None
    kind = type(original).__name__
    if kind not in ("Wav2Vec2Model", "HubertModel", "WavLMModel"):
        raise FeatureError(f"{directory}: expected a Wav2Vec2, HuBERT or WavLM model, got {kind}")
    model = import_huggingface_model(original.eval())
    cfg = config or ExtractorConfig()
    if config is None and getattr(original.config, "sampling_rate", None):
        cfg.sample_rate = int(original.config.sampling_rate)
    return SSLFeatureExtractor(model, name or directory.name, cfg).to(device)
