"""A plain eager re-implementation of the published HiFi-GAN (jik876/hifi-gan) for reference.

Written here from the paper and the published layout, in the published style: an attribute
config ``h``, the legacy ``torch.nn.utils.weight_norm`` (which stores ``weight_g`` /
``weight_v``), no fused or in-place ops. Tests use it to write checkpoints in the published
layout and to check our generator and mel frontend against it; the speed benchmark uses it
as the baseline our inference must beat.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.1

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.nn.utils import remove_weight_norm, weight_norm


def attr_config(d: dict) -> SimpleNamespace:
    return SimpleNamespace(**d)


def get_padding(k: int, d: int = 1) -> int:
    return int((k * d - d) / 2)


def _wn(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return weight_norm(module)


class ResBlock1(nn.Module):
    def __init__(self, h, channels, kernel_size=3, dilation=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList([
            _wn(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                          padding=get_padding(kernel_size, d))) for d in dilation])
        self.convs2 = nn.ModuleList([
            _wn(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1,
                          padding=get_padding(kernel_size, 1))) for _ in dilation])

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = F.leaky_relu(x, LRELU_SLOPE)
            xt = c1(xt)
            xt = F.leaky_relu(xt, LRELU_SLOPE)
            xt = c2(xt)
            x = xt + x
        return x

    def remove_weight_norm(self):
        for layer in list(self.convs1) + list(self.convs2):
            remove_weight_norm(layer)


class ResBlock2(nn.Module):
    def __init__(self, h, channels, kernel_size=3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList([
            _wn(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                          padding=get_padding(kernel_size, d))) for d in dilation])

    def forward(self, x):
        for c in self.convs:
            xt = F.leaky_relu(x, LRELU_SLOPE)
            xt = c(xt)
            x = xt + x
        return x

    def remove_weight_norm(self):
        for layer in self.convs:
            remove_weight_norm(layer)


class Generator(nn.Module):
    """Published generator; with ``h.hubert_dim`` set it is kNN-VC's feature vocoder."""

    def __init__(self, h):
        super().__init__()
        self.h = h
        self.num_kernels = len(h.resblock_kernel_sizes)
        self.num_upsamples = len(h.upsample_rates)
        hubert_dim = getattr(h, "hubert_dim", None)
        in_ch = h.num_mels
        if hubert_dim is not None:
            self.lin_pre = nn.Linear(hubert_dim, h.hifi_dim)
            in_ch = h.hifi_dim
        self.conv_pre = _wn(nn.Conv1d(in_ch, h.upsample_initial_channel, 7, 1, padding=3))
        resblock = ResBlock1 if h.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes)):
            self.ups.append(_wn(nn.ConvTranspose1d(
                h.upsample_initial_channel // (2 ** i), h.upsample_initial_channel // (2 ** (i + 1)),
                k, u, padding=(k - u) // 2)))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            ch = h.upsample_initial_channel // (2 ** (i + 1))
            for k, d in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes):
                self.resblocks.append(resblock(h, ch, k, d))
        self.conv_post = _wn(nn.Conv1d(ch, 1, 7, 1, padding=3))

    def forward(self, x):
        if hasattr(self, "lin_pre"):
            x = self.lin_pre(x.transpose(1, 2)).transpose(1, 2)
        x = self.conv_pre(x)
        for i in range(self.num_upsamples):
            x = F.leaky_relu(x, LRELU_SLOPE)
            x = self.ups[i](x)
            xs = None
            for j in range(self.num_kernels):
                if xs is None:
                    xs = self.resblocks[i * self.num_kernels + j](x)
                else:
                    xs += self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        x = F.leaky_relu(x)
        x = self.conv_post(x)
        return torch.tanh(x)

    def remove_weight_norm(self):
        for layer in self.ups:
            remove_weight_norm(layer)
        for block in self.resblocks:
            block.remove_weight_norm()
        remove_weight_norm(self.conv_pre)
        remove_weight_norm(self.conv_post)


def mel_spectrogram(y, n_fft, num_mels, sampling_rate, hop_size, win_size, fmin, fmax):
    """The published frontend, step by step (torch.stft, librosa filterbank)."""
    mel_basis = torch.from_numpy(librosa.filters.mel(sr=sampling_rate, n_fft=n_fft,
                                                     n_mels=num_mels, fmin=fmin, fmax=fmax)).float()
    window = torch.hann_window(win_size)
    pad = int((n_fft - hop_size) / 2)
    y = F.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.view_as_real(torch.stft(y, n_fft, hop_length=hop_size, win_length=win_size,
                                         window=window, center=False, pad_mode="reflect",
                                         normalized=False, onesided=True, return_complex=True))
    spec = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
    spec = torch.matmul(mel_basis, spec)
    return torch.log(torch.clamp(spec, min=1e-5) * 1)


def mel_numpy(y: np.ndarray, n_fft, num_mels, sampling_rate, hop_size, win_size, fmin, fmax):
    """An independent float64 NumPy implementation of the same definition."""
    pad = (n_fft - hop_size) // 2
    y = np.pad(y.astype(np.float64), (pad, pad), mode="reflect")
    window = np.zeros(n_fft)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_size) / win_size)  # periodic Hann
    off = (n_fft - win_size) // 2
    window[off:off + win_size] = hann
    n_frames = 1 + (len(y) - n_fft) // hop_size
    frames = np.stack([y[i * hop_size:i * hop_size + n_fft] * window for i in range(n_frames)], 1)
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    basis = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=num_mels, fmin=fmin,
                                fmax=fmax, dtype=np.float64)
    return np.log(np.maximum(basis @ mag, 1e-5))
