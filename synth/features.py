"""Self-supervised speech features from torchaudio's wav2vec 2.0 family (wav2vec 2.0, HuBERT, WavLM).

:class:`SSLFeatureExtractor` wraps any :class:`torchaudio.models.Wav2Vec2Model` (built by
``wav2vec2_model`` / ``wavlm_model`` or a preset such as ``wavlm_large``) and returns the output
of one transformer layer as ``(batch, frames, dim)`` at 50 frames per second for 16 kHz input.
It is one backend of :class:`synth.extraction.FeatureExtractor`; windows, batching, resampling
and the group-norm statistics are :class:`synth.extraction.WindowedExtractor`'s, shared with
the Hugging Face backend (:mod:`synth.hf_features`). This module also builds torchaudio's
bundles from a table of public factories and weights files (:func:`architecture`,
:func:`load_extractor`).

Layer numbering
    ``layer=n`` (``1 <= n <= num_layers``) is the output of transformer layer ``n``, counting
    from 1, before any final encoder layer norm. It equals torchaudio's
    ``model.extract_features(wav)[0][n - 1]`` and, for a model converted from Hugging Face,
    ``transformers``' ``hidden_states[n]`` for every ``n`` (transformers >= 5 records the last
    layer of pre-LN models before the final norm too; ``last_hidden_state`` has it).
    kNN-VC uses ``layer=6`` of WavLM-Large (its ``SPEAKER_INFORMATION_LAYER``) fed with the raw
    waveform, i.e. *without* the per-utterance waveform normalisation that torchaudio's
    WavLM-Large bundle applies; ``normalize_waveform=False`` (the default) matches that.

Frames
    The convolutional front end has a receptive field of 400 samples and a stride of 320 at
    16 kHz, so ``samples`` give ``(samples - 400) // 320 + 1`` frames; frame ``i`` covers
    samples ``[320 i, 320 i + 400)``.

Memory and batches
    See :mod:`synth.extraction`: long audio is cut into windows with context, windows of
    several utterances are batched, and padded batches give the same features as one-by-one
    extraction (masked attention, zeroed padded frames before the positional convolution,
    per-utterance group-norm statistics).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from vocoder.dependencies import require
from vocoder.weightnorm import current_weight_norm_names

# torchaudio must match torch binary for binary; a mismatch is one line naming both versions.
torchaudio = require("torchaudio", "SSL feature extraction (voice conversion)")
from torchaudio.models import Wav2Vec2Model, wav2vec2_model, wavlm_model  # noqa: E402
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention  # noqa: E402

from .defaults import KNNVC_LAYER  # noqa: E402,F401 - also known by this module's name
from .extraction import (SAMPLE_RATE, ExtractorConfig, FeatureError,  # noqa: E402
                         WindowedExtractor, apply_group_norm)

TORCHAUDIO_MODEL_URL = "https://download.pytorch.org/torchaudio/models/"


class SSLFeatureExtractor(WindowedExtractor):
    """Features of one transformer layer of a (frozen) wav2vec 2.0 / HuBERT / WavLM model.

    Args:
        model: a torchaudio ``Wav2Vec2Model`` (any factory of the family); put in eval mode
            and frozen.
        name: what the features are called in matching sets (e.g. ``"WAVLM_LARGE"``); sets
            made with another name are refused.
        config: input handling and memory settings.
    """

    #: torchaudio's bundles normalise with ``layer_norm``'s default ``eps``.
    waveform_norm_eps = 1e-5

    def __init__(self, model: Wav2Vec2Model, name: str,
                 config: ExtractorConfig | None = None) -> None:
        if not isinstance(model, Wav2Vec2Model):
            raise FeatureError(f"expected a torchaudio Wav2Vec2Model, got {type(model).__name__}")
        blocks = model.feature_extractor.conv_layers
        super().__init__(name, config, [(b.kernel_size, b.stride) for b in blocks],
                         len(model.encoder.transformer.layers),
                         model.encoder.feature_projection.projection.out_features)
        self.model = model.eval().requires_grad_(False)
        self.is_wavlm = isinstance(model.encoder.transformer.layers[0].attention,
                                   WavLMSelfAttention)

    def _group_norm_parts(self) -> tuple[nn.Conv1d, nn.GroupNorm] | None:
        first = self.model.feature_extractor.conv_layers[0]
        if isinstance(first.layer_norm, nn.GroupNorm):
            return first.conv, first.layer_norm
        return None

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
                x = apply_group_norm(x, group_stats, norm)
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

