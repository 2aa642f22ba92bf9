"""Tiny random Tacotron2 models whose decoder stops when a test wants it to.

A random Tacotron2's stop token fires at a random step (often the first), so each tiny model
gets a planted "stop clock": one unit of the decoder LSTM whose cell state grows by a step
each frame (forget gate open, output gate open) and the gate layer reading only that unit.
The step is ``2 * 0.549 / frames`` times the input gate, which reads the attention context
through random weights (``spread``): sentences stop after about ``frames`` frames, each a
little differently. ``frames=None`` makes a decoder that never stops. Everything else stays
random, so the planted unit does not make the maths any simpler than a trained model's.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from synth.acoustic.tacotron2 import SYMBOLS, Tacotron2Params

TINY = Tacotron2Params(symbol_embedding_dim=32, encoder_embedding_dim=32, decoder_rnn_dim=64,
                       attention_rnn_dim=64, attention_hidden_dim=16,
                       attention_location_n_filter=4, attention_location_kernel_size=7,
                       prenet_dim=32, postnet_embedding_dim=32)


def tiny_params(symbols: str = "characters", **changes) -> Tacotron2Params:
    """:data:`TINY` for ``symbols`` (38 or 96 embeddings), with ``changes``."""
    values = {**TINY.__dict__, "n_symbol": len(SYMBOLS[symbols]), **changes}
    return Tacotron2Params(**values)


def plant_stop_clock(model, frames: int | None, spread: float = 1.0, seed: int = 0) -> None:
    """Make ``model``'s decoder stop after about ``frames`` frames (never for ``None``)."""
    rnn, gate_layer = model.decoder.decoder_rnn, model.decoder.gate_layer
    hidden, width = rnn.hidden_size, model.decoder.encoder_embedding_dim
    step = 2 * math.atanh(0.5) / (frames or 100)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # LSTMCell gate rows: input, forget, cell, output; unit 0 of each.
        for gate, bias in enumerate((0.0, 20.0, math.atanh(step), 20.0)):
            row = gate * hidden
            rnn.weight_ih[row].zero_()
            rnn.weight_hh[row].zero_()
            rnn.bias_hh[row] = 0.0
            rnn.bias_ih[row] = bias
        rnn.weight_ih[0, -width:] = torch.randn(width, generator=generator) * spread
        gate_layer.weight.zero_()
        gate_layer.weight[0, 0] = 10.0
        gate_layer.bias.fill_(-5.0 if frames is not None else -100.0)


def tiny_tacotron2(symbols: str = "characters", frames: int | None = 40, seed: int = 0,
                   **changes):
    """A tiny random ``torchaudio.models.Tacotron2`` (eval mode) with a stop clock."""
    torch.manual_seed(seed)
    model = tiny_params(symbols, **changes).build()
    plant_stop_clock(model, frames, seed=seed)
    return model.eval()


def save_published(model, path: Path) -> Path:
    """Save ``model`` as torchaudio publishes its Tacotron2 weights: a plain state dict."""
    torch.save(model.state_dict(), path)
    return path


def save_tiny_tacotron2(path: Path, symbols: str = "characters", frames: int | None = 40,
                        seed: int = 0) -> Path:
    """A tiny random Tacotron2 (:func:`tiny_tacotron2`) saved as torchaudio publishes its
    weights; loading reads its shapes from the tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_published(tiny_tacotron2(symbols, frames=frames, seed=seed), path)


def tiny_ljspeech_config():
    """The LJSpeech HiFi-GAN mel (22.05 kHz, hop 256, 80 mels, 0-8000 Hz: what Tacotron2
    makes) with a generator of a few thousand parameters (x256 upsampling)."""
    from vocoder.config import AudioConfig, GeneratorConfig, HiFiGANConfig

    gen = GeneratorConfig(upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
                          upsample_initial_channel=32, resblock="2", resblock_kernel_sizes=[3],
                          resblock_dilation_sizes=[[1, 2]], in_channels=80)
    return HiFiGANConfig(audio=AudioConfig(), generator=gen).validate("tiny LJSpeech config")


def save_tiny_ljspeech_vocoder(directory: Path, seed: int = 0) -> Path:
    """``directory/g_00000001`` with ``config.json``: a tiny mel vocoder of the LJSpeech
    HiFi-GAN mel, the one Tacotron2 feeds."""
    from tests.synth.pipeline_models import tiny_generator
    from vocoder.checkpoint import save_generator

    directory.mkdir(parents=True, exist_ok=True)
    cfg = tiny_ljspeech_config()
    path = directory / "g_00000001"
    save_generator(path, tiny_generator(cfg, seed), cfg)
    return path


def acoustic_entry(name: str, url: str, symbols: str = "characters", **config) -> dict:
    """A registry entry (for :func:`tests.synth.pipeline_models.registry_file`) of a tiny
    Tacotron2 served at ``url``: its symbols, the LJSpeech mel and the tiny parameters."""
    import dataclasses

    from synth.acoustic import hifigan_ljspeech_mel

    mel = dataclasses.asdict(hifigan_ljspeech_mel())
    mel.pop("fmax_for_loss")
    return {"name": name, "kind": "acoustic_model", "filename": url.rsplit("/", 1)[1],
            "urls": [url], "config": {"architecture": "tacotron2", "symbols": symbols,
                                      "mel": mel,
                                      "params": dataclasses.asdict(tiny_params(symbols)),
                                      **config}}
