"""Shared by the upstream reference scripts (run in the side environments, not by pytest):
random weights that make every parameter matter, and reading the test's inputs."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch


def args():
    """``(out_dir, spec)`` from ``argv``: the folder to write into and a JSON spec."""
    out = Path(sys.argv[1])
    spec = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    return out, spec


def audio(out: Path) -> np.ndarray:
    """The waveform the test wrote (float32 in [-1, 1])."""
    return np.load(out / "audio.npy").astype(np.float32)


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int = 0, post_scale: float = 0.1,
              gain: float = 1.0) -> None:
    """Weights of unit-scale activations: convolution weights ~ N(0, gain^2/fan_in), weight-norm
    magnitudes 0.5-1.5 times the direction's norm, biases ~ N(0, 0.05), other parameters
    (Snake's alpha / beta) ~ U(-0.5, 0.5); the last convolution ``post_scale`` times that, so
    the output's tanh is mostly not saturated."""
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    for name, p in params.items():
        if name.endswith(("weight_v", "original1")) or (name.endswith("weight") and p.dim() > 1):
            fan_in = p[0].numel() if "ups" not in name and "upsample" not in name else p.shape[0]
            p.copy_(gain * torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    for name, p in params.items():
        if name.endswith(("weight_g", "original0")):
            v = params[name[: -len("weight_g")] + "weight_v"] if name.endswith("weight_g") \
                else params[name[: -len("original0")] + "original1"]
            norm = v.flatten(1).norm(dim=1).view(p.shape)
            p.copy_(norm * (0.5 + torch.rand(p.shape, generator=gen)))
        elif name.endswith("bias"):
            p.copy_(0.05 * torch.randn(p.shape, generator=gen))
        elif not name.endswith(("weight", "weight_v", "original1")):
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    for name, p in params.items():  # keep the output's tanh mostly out of saturation
        if name.startswith(("conv_post", "output_conv", "model_g.conv_post")) and \
                name.endswith(("weight", "weight_g", "original0")):
            p.mul_(post_scale)


def save(out: Path, **arrays) -> None:
    for name, value in arrays.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        np.save(out / f"{name}.npy", np.asarray(value, dtype=np.float32))
