"""Tiny random-weight vocoders written in other toolkits' published file layouts, in-process
(the parity tests make theirs with each toolkit's own code, in side environments; these are
for tests of loading, downloading by name and the pipeline, which need no toolkit).

Each writer takes a :class:`~vocoder.config.HiFiGANConfig` for the generator's shape and
mel settings and returns the checkpoint's path and the equivalent plain generator (weight
norm folded, published names)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import yaml

from vocoder.checkpoint import legacy_weight_norm_names
from vocoder.config import GeneratorConfig, HiFiGANConfig
from vocoder.generator import HiFiGANGenerator


def _generator(cfg: GeneratorConfig, seed: int = 0) -> HiFiGANGenerator:
    """A weight-norm generator with PyTorch's default init (an audible, varied waveform)."""
    torch.manual_seed(seed)
    g = HiFiGANGenerator(cfg, weight_norm=False)
    for m in g.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            m.reset_parameters()
    from torch.nn.utils.parametrizations import weight_norm

    for conv in g._convs():
        weight_norm(conv)
    return g.eval()


def speechbrain_files(folder: Path, cfg: HiFiGANConfig, sample_rate: int | None = 8000,
                      seed: int = 0) -> tuple[Path, HiFiGANGenerator]:
    """generator.ckpt + hyperparams.yaml in SpeechBrain's layout (its key names: every
    convolution wrapped as '.conv.'), for a reflect-padding generator of cfg's shape."""
    folder.mkdir(parents=True, exist_ok=True)
    gen_cfg = GeneratorConfig(**{**cfg.generator.__dict__, "conv_padding_mode": "reflect"})
    g = _generator(gen_cfg, seed)
    state = {}
    for key, value in g.state_dict().items():
        stem, _, leaf = key.partition(".parametrizations.") if ".parametrizations." in key \
            else key.rpartition(".")
        state[f"{stem}.conv.{'parametrizations.' if '.parametrizations.' in key else ''}{leaf}"] \
            = value
    torch.save(state, folder / "generator.ckpt")
    gc, audio = gen_cfg, cfg.audio
    hp = {"in_channels": audio.num_mels, "out_channels": 1, "resblock_type": gc.resblock,
          "resblock_dilation_sizes": gc.resblock_dilation_sizes,
          "resblock_kernel_sizes": gc.resblock_kernel_sizes,
          "upsample_kernel_sizes": gc.upsample_kernel_sizes,
          "upsample_initial_channel": gc.upsample_initial_channel,
          "upsample_factors": gc.upsample_rates, "inference_padding": 5, "cond_channels": 0,
          "conv_post_bias": True, "hop_length": audio.hop_size, "win_length": audio.win_size,
          "n_fft": audio.n_fft, "n_mel_channels": audio.num_mels, "mel_fmin": audio.fmin,
          "mel_fmax": audio.fmax}
    if sample_rate is not None:
        hp["sample_rate"] = sample_rate
    text = yaml.safe_dump(hp) + ("generator: !new:speechbrain.lobes.models.HifiGAN."
                                 "HifiganGenerator\n  in_channels: !ref <in_channels>\n")
    (folder / "hyperparams.yaml").write_text(text)
    return folder / "generator.ckpt", g.remove_weight_norm().eval()


#: Published HiFi-GAN names -> ParallelWaveGAN's (type-1 blocks; type 2 keeps only convs1).
_TO_PWG = [(r"conv_pre\.(.*)", r"input_conv.\1"), (r"ups\.(\d+)\.(.*)", r"upsamples.\1.1.\2"),
           (r"resblocks\.(\d+)\.convs([12])\.(\d+)\.(.*)", r"blocks.\1.convs\2.\3.1.\4"),
           (r"resblocks\.(\d+)\.convs\.(\d+)\.(.*)", r"blocks.\1.convs1.\2.1.\3"),
           (r"conv_post\.(.*)", r"output_conv.1.\1")]


def espnet_files(folder: Path, cfg: HiFiGANConfig, stats: bool = True, seed: int = 0,
                 name: str = "checkpoint-10steps.pkl") -> tuple[Path, HiFiGANGenerator]:
    """A ParallelWaveGAN training checkpoint ``{"model": {"generator", "discriminator"},
    "steps"...}`` (weight norm as ``weight_g``/``weight_v``), ``config.yml`` and, with
    ``stats``, ``stats.h5`` (random ``mean`` and ``scale``)."""
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    g = _generator(cfg.generator, seed)
    state = {}
    for key, value in legacy_weight_norm_names(g.state_dict()).items():
        for pattern, repl in _TO_PWG:
            if re.fullmatch(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        state[key] = value
    torch.save({"model": {"generator": state, "discriminator": {}}, "steps": 10, "epochs": 1},
               folder / name)
    gc, audio = cfg.generator, cfg.audio
    config = {"sampling_rate": audio.sampling_rate, "fft_size": audio.n_fft,
              "hop_size": audio.hop_size, "win_length": audio.win_size, "window": "hann",
              "num_mels": audio.num_mels, "fmin": audio.fmin, "fmax": audio.fmax,
              "format": "hdf5", "generator_type": "HiFiGANGenerator",
              "generator_params": {
                  "in_channels": audio.num_mels, "out_channels": 1,
                  "channels": gc.upsample_initial_channel, "kernel_size": 7,
                  "upsample_scales": gc.upsample_rates,
                  "upsample_kernel_sizes": gc.upsample_kernel_sizes,
                  "resblock_kernel_sizes": gc.resblock_kernel_sizes,
                  "resblock_dilations": gc.resblock_dilation_sizes,
                  "use_additional_convs": gc.resblock == "1", "bias": True,
                  "nonlinear_activation": "LeakyReLU",
                  "nonlinear_activation_params": {"negative_slope": 0.1},
                  "use_weight_norm": True}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    if stats:
        rng = np.random.default_rng(seed)
        with h5py.File(folder / "stats.h5", "w") as f:
            f["mean"] = rng.uniform(-6, -2, audio.num_mels).astype(np.float32)
            f["scale"] = rng.uniform(0.5, 1.5, audio.num_mels).astype(np.float32)
    return folder / name, g.remove_weight_norm().eval()


__all__ = ["espnet_files", "speechbrain_files"]
