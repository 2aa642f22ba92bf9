"""SpeechBrain's HiFi-GAN, run by SpeechBrain itself: writes generator.ckpt and
hyperparams.yaml (a HyperPyYAML file as the published models have), loads them back through
``speechbrain.inference.vocoders.HIFIGAN.from_hparams`` and writes its mel of audio.npy
(``mel_spectrogram``) and its waveform of that mel (``decode_batch``)."""

import torch
from common import args, audio, randomize, save

from speechbrain.inference.vocoders import HIFIGAN
from speechbrain.lobes.models.HifiGAN import HifiganGenerator, mel_spectrogram

out, spec = args()
g = spec["generator"]
m = spec["mel"]
hyperparams = f"""# as the published speechbrain/tts-hifigan-* models
sample_rate: {m['sample_rate']}
hop_length: {m['hop_length']}
win_length: {m['win_length']}
n_fft: {m['n_fft']}
n_mel_channels: {m['n_mels']}
mel_fmin: {m['f_min']}
mel_fmax: {m['f_max']}
power: 1
norm: "slaney"
mel_scale: "slaney"
dynamic_range_compression: True
mel_normalized: False

in_channels: {m['n_mels']}
out_channels: 1
resblock_type: "{g['resblock_type']}"
resblock_dilation_sizes: {g['resblock_dilation_sizes']}
resblock_kernel_sizes: {g['resblock_kernel_sizes']}
upsample_kernel_sizes: {g['upsample_kernel_sizes']}
upsample_initial_channel: {g['upsample_initial_channel']}
upsample_factors: {g['upsample_factors']}
inference_padding: 5
cond_channels: 0
conv_post_bias: True

generator: !new:speechbrain.lobes.models.HifiGAN.HifiganGenerator
    in_channels: !ref <in_channels>
    out_channels: !ref <out_channels>
    resblock_type: !ref <resblock_type>
    resblock_dilation_sizes: !ref <resblock_dilation_sizes>
    resblock_kernel_sizes: !ref <resblock_kernel_sizes>
    upsample_kernel_sizes: !ref <upsample_kernel_sizes>
    upsample_initial_channel: !ref <upsample_initial_channel>
    upsample_factors: !ref <upsample_factors>
    inference_padding: !ref <inference_padding>
    cond_channels: !ref <cond_channels>
    conv_post_bias: !ref <conv_post_bias>

modules:
    generator: !ref <generator>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        generator: !ref <generator>
"""
(out / "hyperparams.yaml").write_text(hyperparams)
torch.manual_seed(0)
gen = HifiganGenerator(in_channels=m["n_mels"], out_channels=1, **g)
randomize(gen)
state = gen.state_dict()
if spec.get("legacy_names"):  # as checkpoints written before parametrized weight norm
    state = {k.replace("parametrizations.weight.original0", "weight_g")
             .replace("parametrizations.weight.original1", "weight_v"): v
             for k, v in state.items()}
torch.save(state, out / "generator.ckpt")

vocoder = HIFIGAN.from_hparams(source=str(out), savedir=str(out / "sb_cache"))
wav = torch.from_numpy(audio(out))
mel = mel_spectrogram(sample_rate=m["sample_rate"], hop_length=m["hop_length"],
                      win_length=m["win_length"], n_fft=m["n_fft"], n_mels=m["n_mels"],
                      f_min=m["f_min"], f_max=m["f_max"], power=1, normalized=False,
                      norm="slaney", mel_scale="slaney", compression=True, audio=wav)
waveform = vocoder.decode_batch(mel.unsqueeze(0))
save(out, mel=mel, wav=waveform.reshape(-1))
