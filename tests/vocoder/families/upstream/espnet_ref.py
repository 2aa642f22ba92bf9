"""ParallelWaveGAN's HiFi-GAN, run by parallel_wavegan itself: writes a training checkpoint
``checkpoint-10steps.pkl`` (as its trainer saves one: model, optimizer, scheduler, steps),
``config.yml`` and ``stats.h5`` or ``stats.npy``; loads them back with
``parallel_wavegan.utils.load_model`` and writes ``logmelfilterbank`` of audio.npy and
``inference(mel, normalize_before=True)`` of that mel."""

import numpy as np
import torch
import yaml
from common import args, audio, randomize, save

from parallel_wavegan.bin.preprocess import logmelfilterbank
from parallel_wavegan.models import HiFiGANGenerator, HiFiGANMultiPeriodDiscriminator
from parallel_wavegan.utils import load_model, write_hdf5

out, spec = args()
config = dict(spec["config"])
config["generator_type"] = "HiFiGANGenerator"
params = dict(spec["generator_params"])
torch.manual_seed(0)
gen = HiFiGANGenerator(**params)
randomize(gen)
if spec.get("typo_key"):  # released configs spell it upsample_kernal_sizes
    params["upsample_kernal_sizes"] = params.pop("upsample_kernel_sizes")
config["generator_params"] = params
config["format"] = "hdf5" if spec["stats"] == "h5" else "npy"
with open(out / "config.yml", "w") as f:
    yaml.dump(config, f, Dumper=yaml.Dumper)

disc = HiFiGANMultiPeriodDiscriminator(
    periods=[2], discriminator_params={"channels": 4, "max_downsample_channels": 16})
optimizer = torch.optim.Adam(gen.parameters(), lr=2e-4)
scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[200000, 400000],
                                                 gamma=0.5)
torch.save({"model": {"generator": gen.state_dict(), "discriminator": disc.state_dict()},
            "optimizer": {"generator": optimizer.state_dict()},
            "scheduler": {"generator": scheduler.state_dict()},
            "steps": 10, "epochs": 1}, out / "checkpoint-10steps.pkl")

num_mels = params["in_channels"]
rng = np.random.default_rng(0)
mean = rng.uniform(-6, -2, num_mels).astype(np.float32)
scale = rng.uniform(0.5, 1.5, num_mels).astype(np.float32)
if spec["stats"] == "h5":
    write_hdf5(str(out / "stats.h5"), "mean", mean)
    write_hdf5(str(out / "stats.h5"), "scale", scale)
else:
    np.save(out / "stats.npy", np.stack([mean, scale]))

model = load_model(str(out / "checkpoint-10steps.pkl"))
model.remove_weight_norm()
model.eval()
mel = logmelfilterbank(audio(out), sampling_rate=config["sampling_rate"],
                       fft_size=config["fft_size"], hop_size=config["hop_size"],
                       win_length=config["win_length"], window=config["window"],
                       num_mels=num_mels, fmin=config["fmin"], fmax=config["fmax"])
with torch.no_grad():
    wav = model.inference(mel, normalize_before=True)
save(out, mel=mel.T, wav=wav.reshape(-1))
