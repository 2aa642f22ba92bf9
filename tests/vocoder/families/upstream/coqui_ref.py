"""Coqui TTS's HiFi-GAN, run by coqui-tts itself: builds ``TTS.vocoder.models.gan.GAN`` from a
``HifiganConfig``, writes its ``config.json`` (``save_json``) and a model file as Coqui's
trainer saves one (``{"model": GAN state dict with model_g./model_d. keys, "config", "step",
...}``), loads it back with ``GAN.load_checkpoint(eval=True)`` and writes
``AudioProcessor.melspectrogram`` of audio.npy and ``GAN.inference`` of that mel."""

import torch
from common import args, audio, randomize, save

from TTS.config.shared_configs import BaseAudioConfig
from TTS.utils.audio import AudioProcessor
from TTS.vocoder.configs import HifiganConfig
from TTS.vocoder.models.gan import GAN

out, spec = args()
config = HifiganConfig(audio=BaseAudioConfig(**spec["audio"]),
                       generator_model_params=spec["generator_model_params"])
config.save_json(str(out / "config.json"))
# a small discriminator instead of HiFi-GAN's 70 M-parameter one (the model file stays small;
# the vocoder ignores model_d.*)
config.discriminator_model = "melgan_multiscale_discriminator"
config.discriminator_model_params = {"base_channels": 4, "max_channels": 16,
                                     "downsample_factors": [2, 2]}
torch.manual_seed(0)
model = GAN(config)
randomize(model.model_g)
torch.save({"model": model.state_dict(), "config": config.to_dict(), "step": 10, "epoch": 1,
            "date": "Jan 01 2024", "model_loss": 0.5}, out / "model_file.pth")

loaded = GAN(config)
loaded.load_checkpoint(config, str(out / "model_file.pth"), eval=True)
ap = AudioProcessor(config.audio)
mel = ap.melspectrogram(audio(out))
with torch.no_grad():
    wav = loaded.inference(torch.from_numpy(mel).unsqueeze(0))
save(out, mel=mel, wav=wav.reshape(-1))
