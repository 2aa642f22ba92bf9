"""Feature extraction speed: the transformers backend against the torchaudio backend, same WavLM.

One WavLM (Large by default, Base with --size base) with RANDOM weights is built in
transformers, and the same weights are converted to torchaudio (its
``import_huggingface_model``); both extractors then extract layer 6 (kNN-VC's) of the same
speech, alternating call by call. Printed per backend and dtype: seconds of compute per
second of audio (median of the repeats), real-time factor, and the median of the per-pair
transformers/torchaudio time ratios (robust to load that changes between pairs). The features of the two backends are also compared (they must agree).

    PYTHONPATH=. python benchmarks/hf_features_speed.py --seconds 10 --repeats 5

Speech comes from --data (default: $HIFISYNTH_LJSPEECH, else shared/data/ljspeech beside the
project), files concatenated and repeated to --seconds; without audio files a synthetic
harmonic signal is used.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machineinfo import default_speech_dir, describe_machine  # noqa: E402
from synth.audio import load_mono  # noqa: E402
from synth.features import KNNVC_LAYER, SSLFeatureExtractor  # noqa: E402
from synth.hf_features import HFFeatureExtractor  # noqa: E402
from vocoder.audio import list_audio  # noqa: E402

RATE = 16000


def wavlm_config(size: str):
    """transformers' WavLM config of the published Base or Large shape."""
    import transformers

    if size == "base":
        return transformers.WavLMConfig()
    return transformers.WavLMConfig(hidden_size=1024, num_hidden_layers=24,
                                    num_attention_heads=16, intermediate_size=4096,
                                    feat_extract_norm="layer", do_stable_layer_norm=True,
                                    conv_bias=True)


def speech(data: Path, seconds: float) -> torch.Tensor:
    """``seconds`` of 16 kHz mono speech from ``data`` (repeated), or a synthetic signal."""
    files = list_audio(data) if data.is_dir() else []
    need = int(seconds * RATE)
    if not files:
        t = torch.arange(need) / RATE
        return 0.3 * torch.sin(2 * torch.pi * 120 * t) * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t))
    parts, total, i = [], 0, 0
    while total < need:
        wav = load_mono(files[i % len(files)], RATE)
        parts.append(wav)
        total += wav.shape[0]
        i += 1
    return torch.cat(parts)[:need]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["base", "large"], default="large",
                        help="WavLM shape (default large, kNN-VC's)")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per call (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per backend (default 5)")
    parser.add_argument("--layer", type=int, default=KNNVC_LAYER, help="layer (default 6)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda...)")
    parser.add_argument("--data", type=Path, default=None,
                        help="directory of speech recordings (default: LJSpeech in shared/data)")
    args = parser.parse_args()

    import transformers
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    device = torch.device(args.device)
    print("machine:", describe_machine(args.device))
    print(f"transformers {transformers.__version__}; WavLM-{args.size.capitalize()} with RANDOM "
          f"weights (timing only), layer {args.layer}, {args.seconds:g} s per call, "
          f"median of {args.repeats}")
    torch.manual_seed(0)
    hf_model = transformers.WavLMModel(wavlm_config(args.size)).eval()
    ta_model = import_huggingface_model(hf_model)
    total = sum(p.numel() for p in hf_model.parameters())
    dropped = sum(p.numel() for layer in hf_model.encoder.layers[args.layer:]
                  for p in layer.parameters())
    print(f"parameters: {total / 1e6:.1f} M ({total * 4 / 2**30:.2f} GiB in float32); "
          f"load_hf_extractor(..., layer={args.layer}) keeps {(total - dropped) / 1e6:.1f} M "
          f"({(total - dropped) * 4 / 2**30:.2f} GiB)")
    backends = {"transformers": HFFeatureExtractor(hf_model, "wavlm"),
                "torchaudio": SSLFeatureExtractor(ta_model, "wavlm")}
    wav = speech(args.data or default_speech_dir(), args.seconds)

    print("\n| dtype | backend | s per s of audio | x real time | transformers / torchaudio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in args.dtypes:
        dtype = getattr(torch, name)
        for ext in backends.values():
            ext.to(device=device, dtype=dtype)
        outputs = {k: e.extract_list([wav[:RATE]], args.layer)[0] for k, e in backends.items()}
        times: dict[str, list[float]] = {k: [] for k in backends}
        for _ in range(args.repeats):
            for key, ext in backends.items():  # alternate, so load changes hit both alike
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
                outputs[key] = ext.extract_list([wav], args.layer)[0]
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[key].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) / args.seconds for k, v in times.items()}
        pair = statistics.median(a / b for a, b in zip(times["transformers"], times["torchaudio"]))
        for key in backends:
            ratio = f"{pair:.2f}" if key == "transformers" else ""
            print(f"| {name} | {key} | {med[key]:.4f} | {1 / med[key]:.1f} | {ratio} |")
        a, b = outputs["transformers"], outputs["torchaudio"]
        rel = ((a - b).norm() / b.norm()).item()
        print(f"|  | (features agree to {rel:.1e} relative) | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
