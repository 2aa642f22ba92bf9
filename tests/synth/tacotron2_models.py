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
