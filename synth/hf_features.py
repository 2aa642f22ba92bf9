"""SSL features from Hugging Face ``transformers`` speech encoders, Wav2Vec2-Conformer included.

:func:`load_hf_extractor` reads a directory written by ``save_pretrained`` (``config.json`` and
the weights), offline, and returns an :class:`HFFeatureExtractor`: the same interface and
guarantees as :class:`synth.features.SSLFeatureExtractor` (see :mod:`synth.extraction`), over
the ``transformers`` model itself. Architectures (``model_type`` in ``config.json``):
wav2vec2, hubert, wavlm, wav2vec2-conformer (relative or rotary position embeddings) and
data2vec-audio; checkpoints of their CTC or pre-training heads load without the head.

Layer numbering
    ``layer=n`` (``1 <= n <= num_layers``) is ``hidden_states[n]`` of the model's own forward
    (``model(wav, output_hidden_states=True)``): the output of encoder layer ``n``, before any
    final encoder layer norm (transformers >= 5 records the last layer that way too).
    Only layers ``1..n`` run.

How the model runs
    The extractor runs the steps of ``<Model>.forward`` itself, each with the model's own
    modules: the convolutional front end, the feature projection and the encoder, with the
    encoder's layer list cut after layer ``n``. Three things differ, all so that padding and
    windows give what a lone, whole utterance gives:

    - a group-norm front end (Base models: ``feat_extract_norm="group"``) normalises with
      statistics of the whole utterance (transformers normalises over the padded batch, which
      is why its processors give these models no attention mask);
    - every convolution over time inside the encoder (the positional convolutions, the
      conformer's depthwise convolution) sees zeros at padded frames, as at the end of a lone
      utterance: transformers zeroes padded frames once, before the positional convolution,
      so data2vec-audio's five stacked positional convolutions and each conformer layer's
      depthwise convolution would otherwise carry padding into the last valid frames;
    - on the CPU in bfloat16/float16, grouped convolutions with several channels per group are
      computed in float32: oneDNN's low-precision grouped convolution returns wrong values on
      CPUs with AMX for 2-14 channels per group (relative error about 1; torch 2.11); the
      published models' 48-64 channels per group and depthwise convolutions are right.

    The padded frames of a batch are masked in attention with the model's own attention mask.
    Nothing is changed in the loaded model: each pass runs on a light copy of the encoder that
    shares its parameters (safe to use from several threads).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from vocoder.dependencies import require

from .extraction import ExtractorConfig, FeatureError, WindowedExtractor, apply_group_norm

#: ``model_type`` in ``config.json`` -> the ``transformers`` class of the bare encoder.
MODEL_CLASSES = {
    "wav2vec2": "Wav2Vec2Model",
    "hubert": "HubertModel",
    "wavlm": "WavLMModel",
    "wav2vec2-conformer": "Wav2Vec2ConformerModel",
    "data2vec-audio": "Data2VecAudioModel",
}

#: Parameters a checkpoint may lack without changing the hidden states (SpecAugment's mask
#: vector, used in training only; the adapter after the last layer).
_UNUSED_PARAMETERS = ("masked_spec_embed", "adapter.")


def _transformers():
    return require("transformers", "Hugging Face feature extractors")


# ---------------------------------------------------------------------- encoder views
class _Tap(nn.Module):
    """Runs a layer and keeps its hidden-states output (what transformers records)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.output: Tensor | None = None

    def forward(self, *args, **kwargs):
        out = self.layer(*args, **kwargs)
        self.output = out[0] if isinstance(out, tuple) else out
        return out


class _PaddingSafeConv(nn.Module):
    """A convolution over time ``(batch, channels, frames)`` that sees zeros at padded frames.

    Args:
        conv: the model's convolution (shared, not copied).
        valid: ``(batch, frames)`` bool, ``True`` at real frames; ``None`` when nothing is
            padded.
        float32: compute in float32 and return the input's dtype (see the module docstring).
    """

    def __init__(self, conv: nn.Conv1d, valid: Tensor | None, float32: bool) -> None:
        super().__init__()
        self.conv = conv
        self.valid = valid
        self.float32 = float32

    def forward(self, x: Tensor) -> Tensor:
        if self.valid is not None:
            x = x.masked_fill(~self.valid[:, None, :], 0.0)
        if not self.float32:
            return self.conv(x)
        conv = self.conv
        bias = None if conv.bias is None else conv.bias.float()
        y = nn.functional.conv1d(x.float(), conv.weight.float(), bias, stride=conv.stride,
                                 padding=conv.padding, dilation=conv.dilation, groups=conv.groups)
        return y.to(x.dtype)


def _sharing_copy(module: nn.Module, children: dict[str, nn.Module]) -> nn.Module:
    """A copy of ``module`` with other submodules; parameters, buffers and attributes shared."""
    view = module.__class__.__new__(module.__class__)
    view.__dict__.update(module.__dict__)
    view.__dict__["_modules"] = children
    return view


def _replace_modules(module: nn.Module,
                     replace: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """``module`` with every submodule for which ``replace`` returns a module swapped for it.

    Copy-on-write: subtrees without replacements are the original modules; nothing is
    modified in place.
    """
    new = replace(module)
    if new is not None:
        return new
    children = {name: _replace_modules(child, replace) if child is not None else None
                for name, child in module._modules.items()}
    if all(children[name] is child for name, child in module._modules.items()):
        return module
    return _sharing_copy(module, children)


def _encoder_view(encoder: nn.Module, layer: int, valid: Tensor | None,
                 float32_grouped_convs: bool) -> tuple[nn.Module, _Tap]:
    """The encoder cut after ``layer``, with padding-safe convolutions, and a tap on its last layer.

    Args:
        encoder: a transformers encoder (``model.encoder``) with a ``layers`` list.
        layer: layers ``1..layer`` are kept.
        valid: ``(batch, frames)`` bool mask of real frames, ``None`` when nothing is padded.
        float32_grouped_convs: compute grouped convolutions with more than one channel per
            group in float32.

    Returns:
        ``(view, tap)``: calling ``view(hidden_states, attention_mask=valid)`` runs the
        encoder's own forward; ``tap.output`` is then the output of layer ``layer``.
    """

    def replace(module: nn.Module) -> nn.Module | None:
        if isinstance(module, nn.Conv1d) and module.kernel_size[0] > 1:
            grouped = module.groups > 1 and module.in_channels // module.groups > 1
            if valid is not None or (grouped and float32_grouped_convs):
                return _PaddingSafeConv(module, valid, grouped and float32_grouped_convs)
        if hasattr(module, "cached_rotary_positional_embedding"):
            # The conformer's rotary table is cached by length only: a private, empty cache
            # per pass, so a cache from another dtype or device is never reused.
            fresh = _sharing_copy(module, dict(module._modules))
            fresh.__dict__.update(cached_sequence_length=None,
                                  cached_rotary_positional_embedding=None)
            return fresh
        return None

    layers = [_replace_modules(m, replace) for m in list(encoder.layers)[:layer]]
    tap = _Tap(layers[-1])
    layers[-1] = tap
    children = {name: _replace_modules(child, replace)
                for name, child in encoder._modules.items() if name != "layers"}
    children["layers"] = nn.ModuleList(layers)
    return _sharing_copy(encoder, children), tap


# ---------------------------------------------------------------------- the extractor
class HFFeatureExtractor(WindowedExtractor):
    """Features of one encoder layer of a (frozen) Hugging Face speech encoder.

    Args:
        model: a ``transformers`` ``Wav2Vec2Model``, ``HubertModel``, ``WavLMModel``,
            ``Wav2Vec2ConformerModel`` or ``Data2VecAudioModel``; put in eval mode and
            frozen, otherwise left as it is.
        name: what the features are called in matching sets.
        config: input handling and memory settings (``normalize_waveform`` as the model's
            processor's ``do_normalize``).
    """

    #: transformers' processors normalise with ``(x - mean) / sqrt(var + 1e-7)``.
    waveform_norm_eps = 1e-7

    def __init__(self, model: nn.Module, name: str, config: ExtractorConfig | None = None) -> None:
        kind = type(model).__name__
        if kind not in MODEL_CLASSES.values():
            raise FeatureError(f"expected a transformers {', '.join(MODEL_CLASSES.values())}, "
                               f"got {kind}")
        cfg = model.config
        super().__init__(name, config, list(zip(cfg.conv_kernel, cfg.conv_stride)),
                         len(model.encoder.layers), cfg.hidden_size)
        self.model = model.eval().requires_grad_(False)

    def _group_norm_parts(self) -> tuple[nn.Conv1d, nn.GroupNorm] | None:
        first = self.model.feature_extractor.conv_layers[0]
        if isinstance(getattr(first, "layer_norm", None), nn.GroupNorm):
            return first.conv, first.layer_norm
        return None

    def _forward(self, wav: Tensor, lengths: Tensor, layer: int,
                 group_stats: tuple[Tensor, Tensor] | None) -> Tensor:
        """``(batch, samples)`` padded audio -> ``(batch, frames, dim)`` ``hidden_states[layer]``.

        The steps of ``<Model>.forward`` in eval mode (SpecAugment masking is training-only).
        """
        x = wav[:, None]
        for i, block in enumerate(self.model.feature_extractor.conv_layers):
            if i == 0 and group_stats is not None:
                x = block.activation(apply_group_norm(block.conv(x), group_stats, block.layer_norm))
            else:
                x = block(x)
        projected = self.model.feature_projection(x.transpose(1, 2))
        hidden = projected[0] if isinstance(projected, tuple) else projected
        frames = hidden.shape[1]
        valid = torch.arange(frames, device=hidden.device)[None] < self.num_frames(lengths)[:, None]
        if bool(valid.all()):
            valid = None
        low_precision_cpu = hidden.device.type == "cpu" and hidden.dtype != torch.float32
        encoder, tap = _encoder_view(self.model.encoder, layer, valid, low_precision_cpu)
        encoder(hidden, attention_mask=valid)
        return tap.output


# ---------------------------------------------------------------------- loading
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeatureError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise FeatureError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_processor_config(directory: str | os.PathLike) -> ExtractorConfig:
    """Input settings from ``preprocessor_config.json`` when the directory has one.

    ``sampling_rate`` -> ``sample_rate`` and ``do_normalize`` -> ``normalize_waveform``;
    without the file: 16 kHz and no normalisation (the raw waveform, as kNN-VC feeds WavLM).
    """
    path = Path(directory) / "preprocessor_config.json"
    config = ExtractorConfig()
    if path.is_file():
        data = _read_json(path)
        config.sample_rate = int(data.get("sampling_rate", config.sample_rate))
        config.normalize_waveform = bool(data.get("do_normalize", False))
    return config.validate()


def _check_weight_files(directory: Path) -> None:
    """Refuse PyTorch weight files (``pytorch_model*.bin``) that would inflate or hold more
    than an extractor can need, before transformers reads them (vocoder.safeload); the
    safetensors format holds no compressed or code-running data."""
    from vocoder.safeload import MAX_EXTRACTOR_BYTES, check_archive

    for path in sorted(directory.glob("pytorch_model*.bin")):
        check_archive(path, MAX_EXTRACTOR_BYTES, what="weights file")


def load_hf_extractor(directory: str | os.PathLike, layer: int | None = None, *,
                      name: str | None = None, config: ExtractorConfig | None = None,
                      device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32) -> HFFeatureExtractor:
    """An extractor over a Hugging Face model directory, read offline.

    Args:
        directory: ``config.json`` and weights (``model.safetensors`` or
            ``pytorch_model.bin``) as written by ``save_pretrained``; a
            ``preprocessor_config.json`` beside them sets the input rate and normalisation
            (:func:`read_processor_config`).
        layer: the deepest layer that will be extracted: only layers ``1..layer`` are kept
            (WavLM-Large for kNN-VC: 6 of 24, a quarter of the encoder's memory; loading
            itself still holds the whole model for a moment). ``None`` keeps every layer.
        name: recorded in matching sets; default the directory's name.
        config: input and memory settings; default from :func:`read_processor_config`.
        device: where the model runs.
        dtype: parameter dtype (``torch.float32``, ``torch.bfloat16``, ``torch.float16``);
            features are returned as float32 whatever it is.

    Needs the optional extra ``hf`` (``transformers``). No code from the directory runs
    (``trust_remote_code`` stays off; ``.bin`` weights are read with ``weights_only``).
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FeatureError(f"{directory}: not a Hugging Face model directory (no config.json)")
    model_type = _read_json(directory / "config.json").get("model_type")
    if model_type not in MODEL_CLASSES:
        raise FeatureError(f"{directory}: model type {model_type!r} is not a supported speech "
                           f"encoder (supported: {', '.join(MODEL_CLASSES)})")
    transformers = _transformers()
    model_class = getattr(transformers, MODEL_CLASSES[model_type])
    try:
        hf_config = model_class.config_class.from_pretrained(directory, local_files_only=True)
    except Exception as exc:
        raise FeatureError(f"{directory}/config.json: not a valid {model_type} config "
                           f"({' '.join(str(exc).split())})") from None
    total = int(hf_config.num_hidden_layers)
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int)
                              or not 1 <= layer <= total):
        raise FeatureError(f"layer must be an integer in 1..{total} (the encoder layers of "
                           f"{directory}), got {layer!r}")
    _check_weight_files(directory)
    try:
        model, info = model_class.from_pretrained(
            directory, config=hf_config, local_files_only=True, dtype=dtype,
            ignore_mismatched_sizes=True, output_loading_info=True)
    except Exception as exc:
        raise FeatureError(f"{directory}: cannot load the weights "
                           f"({' '.join(str(exc).split())[:300]})") from None
    missing = sorted(k for k in info.get("missing_keys", [])
                     if not k.startswith(_UNUSED_PARAMETERS))
    mismatched = [f"{key}: expected {tuple(want)}, got {tuple(got)}"
                  for key, got, want in sorted(info.get("mismatched_keys", []))]
    if missing or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} with the wrong shape (e.g. {mismatched[0]})")
        raise FeatureError(f"{directory}: weights do not fit config.json: {'; '.join(parts)}")
    if layer is not None:  # dropped after loading: transformers reports skipped weights loudly
        model.encoder.layers = model.encoder.layers[:layer]
        model.config.num_hidden_layers = layer
    extractor = HFFeatureExtractor(model, name or directory.name,
                                   config or read_processor_config(directory))
    return extractor.to(device)
