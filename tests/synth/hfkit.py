"""Tiny randomly initialised Hugging Face speech encoders, saved with ``save_pretrained``, and
transformers' own forward of them (the reference every backend test compares with).

Needs ``transformers``: test modules call ``pytest.importorskip("transformers")`` before
importing this one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

from synth.hf_features import MODEL_CLASSES

from .tiny import TINY_DIM

# 2 layers, 32 dims, the real front end's kernels and strides with 16 channels (16 kHz -> 50 Hz);
# 8 channels per positional-convolution group (the case oneDNN gets wrong in bfloat16).
TINY = dict(hidden_size=TINY_DIM, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4)
LARGE_STYLE = dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)

ARCHS = ["wav2vec2", "hubert", "wavlm", "wavlm-base", "conformer-relative", "conformer-rotary",
         "data2vec-audio"]


def tiny_config(arch: str):
    """A 2-layer config of ``arch``: Base style (group-norm front end, post-LN) or Large style
    (layer-norm front end, pre-LN), as the published models of that family."""
    t = transformers
    return {
        "wav2vec2": lambda: t.Wav2Vec2Config(**TINY),
        "hubert": lambda: t.HubertConfig(**TINY, **LARGE_STYLE),
        "wavlm": lambda: t.WavLMConfig(**TINY, **LARGE_STYLE),
        "wavlm-base": lambda: t.WavLMConfig(**TINY),
        "conformer-relative": lambda: t.Wav2Vec2ConformerConfig(
            **TINY, feat_extract_norm="layer", conv_bias=True,
            position_embeddings_type="relative"),
        "conformer-rotary": lambda: t.Wav2Vec2ConformerConfig(
            **TINY, feat_extract_norm="layer", conv_bias=True, position_embeddings_type="rotary"),
        "data2vec-audio": lambda: t.Data2VecAudioConfig(**dict(TINY, num_conv_pos_embeddings=5)),
    }[arch]()


def model_class(config):
    return getattr(transformers, MODEL_CLASSES[config.model_type])


def save_tiny(directory: Path, arch: str, seed: int = 0) -> Path:
    """A randomly initialised tiny model of ``arch`` written by ``save_pretrained``."""
    torch.manual_seed(seed)
    config = tiny_config(arch)
    model = model_class(config)(config).eval()
    # Random init leaves norms at 1/0 and BatchNorm statistics at 0/1: perturb everything.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if "running_" in name:
                b.add_(0.1 * torch.rand_like(b))
    model.save_pretrained(directory)
    return directory


def reference_hidden_states(directory: Path, wav: torch.Tensor, **inputs) -> tuple:
    """transformers' own forward of the saved model: ``hidden_states`` for one utterance."""
    config = transformers.AutoConfig.from_pretrained(directory)
    model = model_class(config).from_pretrained(directory).eval()
    with torch.no_grad():
        return model(wav[None], output_hidden_states=True, **inputs).hidden_states
