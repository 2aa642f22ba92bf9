"""NVIDIA's BigVGAN, run by the bigvgan package itself: builds ``bigvgan.BigVGAN`` from a
config (v1: ``snake``; v2: ``snakebeta`` and the final tanh/bias options), writes
``config.json`` and ``bigvgan_generator.pt`` (``{"generator": state_dict}``, as its
``_save_pretrained`` does), loads them back, removes weight norm and writes its
``mel_spectrogram`` of audio.npy and its waveform of that mel."""

import json

import torch
from common import args, audio, randomize, save

from bigvgan import BigVGAN, load_hparams_from_json
from bigvgan.meldataset import mel_spectrogram

out, spec = args()
(out / "config.json").write_text(json.dumps(spec["config"], indent=4))
h = load_hparams_from_json(out / "config.json")
torch.manual_seed(0)
model = BigVGAN(h)
randomize(model, post_scale=spec.get("post_scale", 0.1), gain=spec.get("gain", 1.0))
torch.save({"generator": model.state_dict()}, out / "bigvgan_generator.pt")

loaded = BigVGAN(load_hparams_from_json(out / "config.json"))
loaded.load_state_dict(torch.load(out / "bigvgan_generator.pt", map_location="cpu")["generator"])
loaded.remove_weight_norm()
loaded.eval()
wav = torch.from_numpy(audio(out)).unsqueeze(0)
mel = mel_spectrogram(wav, h.n_fft, h.num_mels, h.sampling_rate, h.hop_size, h.win_size, h.fmin,
                      h.fmax)
with torch.no_grad():
    waveform = loaded(mel)
save(out, mel=mel[0], wav=waveform.reshape(-1))
