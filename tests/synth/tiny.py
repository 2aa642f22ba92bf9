"""Tiny randomly initialised models of each wav2vec 2.0 family, built by torchaudio's factories."""

from __future__ import annotations

import math

import numpy as np
import torch
from torchaudio.models import Wav2Vec2Model, wav2vec2_model, wavlm_model

# The real front end's strides (total 320 samples at 16 kHz -> 50 Hz) with 16 channels.
TINY_CONV = [(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2
TINY_DIM = 32
TINY_LAYERS = 2


def tiny_params(family: str) -> dict:
    """Factory arguments for a 2-layer, 32-dim model of ``family``.

    ``wav2vec2``/``wavlm_base``: group-norm front end, post-LN transformer (Base models);
    ``hubert``/``wavlm``: layer-norm front end, pre-LN transformer (Large models).
    """
    base = family in ("wav2vec2", "wavlm_base")
    params = dict(
        extractor_mode="group_norm" if base else "layer_norm",
        extractor_conv_layer_config=TINY_CONV, extractor_conv_bias=not base,
        encoder_embed_dim=TINY_DIM, encoder_projection_dropout=0.1,
        encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4,
        encoder_num_layers=TINY_LAYERS, encoder_num_heads=2, encoder_attention_dropout=0.1,
        encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.1, encoder_dropout=0.1,
        encoder_layer_norm_first=not base, encoder_layer_drop=0.05, aux_num_out=None)
    if family.startswith("wavlm"):
        params.update(encoder_num_buckets=32, encoder_max_distance=100)
    return params


def tiny_model(family: str, seed: int = 0) -> Wav2Vec2Model:
    torch.manual_seed(seed)
    params = tiny_params(family)
    factory = wavlm_model if family.startswith("wavlm") else wav2vec2_model
    model = factory(**params).eval()
    # Random init leaves some parameters at 0/1; perturb norms and biases so every path matters.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


FAMILIES = ["wav2vec2", "hubert", "wavlm", "wavlm_base"]


def speechlike(seconds: float, sample_rate: int = 16000, seed: int = 0,
               f0: float = 120.0) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal with a little noise, peak about 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * math.pi * 0.7 * t))
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    wav = sum(np.sin(h * phase) / h for h in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * math.pi * 3.0 * t)
    wav = wav * envelope + 0.02 * rng.standard_normal(t.shape)
    return (0.5 * wav / np.abs(wav).max()).astype(np.float32)


def tiny_generator(input_dim: int = TINY_DIM, upsample_rates=(10, 8, 4), seed: int = 0):
    """A small feature-input HiFi-GAN generator (lin_pre) with the given upsampling."""
    from vocoder.generator import hifigan_generator

    torch.manual_seed(seed)
    gen = hifigan_generator(
        upsample_rates=list(upsample_rates),
        upsample_kernel_sizes=[2 * u + u % 2 for u in upsample_rates],  # kernel - rate even
        upsample_initial_channel=32, resblock="1", resblock_kernel_sizes=[3, 7],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], in_channels=16,
        input_dim=input_dim, weight_norm=False).eval()
    # PyTorch's default init instead of N(0, 0.01): an untrained generator then makes a
    # varied, audible waveform rather than a near-constant one.
    for m in gen.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            m.reset_parameters()
    return gen


def make_attention_local(model: Wav2Vec2Model, radius: int = 3) -> Wav2Vec2Model:
    """Make every frame's output depend only on nearby frames (for exact chunking tests).

    WavLM: the relative position bias forbids attending beyond ``radius`` frames.
    wav2vec 2.0 / HuBERT: zero value projections make attention output position-independent.
    """
    with torch.no_grad():
        for layer in model.encoder.transformer.layers:
            att = layer.attention
            if getattr(att, "rel_attn_embed", None) is not None:
                offsets = torch.arange(-200, 201)
                buckets = att._relative_positions_bucket(offsets[None], bidirectional=True)[0]
                near = set(buckets[offsets.abs() <= radius].tolist())
                for b in range(att.rel_attn_embed.weight.shape[0]):
                    if b not in near:
                        att.rel_attn_embed.weight[b] = -1e4
            elif hasattr(att, "v_proj"):
                att.v_proj.weight.zero_()
                att.v_proj.bias.zero_()
    return model


def frames_for(samples: int) -> int:
    """Frames of a wav2vec2-style encoder (window 400, stride 320) over ``samples``."""
    return (samples - 400) // 320 + 1


def check_padded_batch_equals_one_by_one(ext, layer: int = 2) -> None:
    """A padded batch of four lengths (garbage in one's padding) gives each item's features
    alone, and zeros past each item's frames: what every feature-extractor backend promises."""
    lengths = [16000, 11111, 4000, 400]
    batch = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        batch[i, :n] = torch.from_numpy(speechlike(n / 16000, seed=i))
    batch[2, 4000:] = 0.7  # garbage in the padding must not matter
    feats, flen = ext.extract(batch, torch.tensor(lengths), layer)
    assert flen.tolist() == [frames_for(n) for n in lengths] == [49, 34, 12, 1]
    assert feats.shape[:2] == (4, 49)
    for i, n in enumerate(lengths):
        single, _ = ext.extract(batch[i:i + 1, :n], None, layer)
        torch.testing.assert_close(feats[i, :flen[i]], single[0], atol=2e-5, rtol=1e-5)
        if flen[i] < 49:
            assert feats[i, flen[i]:].abs().max().item() == 0.0
