"""Vocoder inference speed: generated kHz and real-time factor for 10 s of audio at batch 1.

For each of V1/V2/V3 and each dtype, times our `vocoder.inference.Vocoder` against a plain
eager implementation of the published model (weight norm removed, ``torch.no_grad``), run
alternately (A B A B ...) so drift on a shared machine hits both equally; prints medians and
the median of the per-pair speed-up. Random weights: speed does not depend on their values,
and the bf16 SNR is measured against our own float32 output.

    python benchmarks/vocoder_speed.py                       # CPU, float32 and bfloat16
    python benchmarks/vocoder_speed.py --device cuda --dtypes float32 bfloat16 float16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference.published_hifigan import Generator as PublishedGenerator  # noqa: E402
from tests.reference.published_hifigan import attr_config  # noqa: E402
from vocoder.config import preset  # noqa: E402
from vocoder.generator import HiFiGANGenerator  # noqa: E402
from vocoder.inference import Vocoder, tune_cpu_allocator  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, x, device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn(x)
    _sync(device)
    return time.perf_counter() - start


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    noise = (test.float() - reference.float()).pow(2).sum()
    return float(10 * torch.log10(reference.float().pow(2).sum() / noise.clamp_min(1e-20)))


def bench_model(name: str, device: torch.device, dtypes: list[str], seconds: float,
                repeats: int, baseline: bool) -> list[dict]:
    cfg = preset(name)
    sr, hop = cfg.audio.sampling_rate, cfg.audio.hop_size
    frames = int(seconds * sr) // hop
    torch.manual_seed(0)
    ours_gen = HiFiGANGenerator(cfg.generator)
    published = PublishedGenerator(attr_config(cfg.to_dict()))
    published.load_state_dict({k.replace("parametrizations.weight.original0", "weight_g")
                               .replace("parametrizations.weight.original1", "weight_v"): v
                               for k, v in ours_gen.state_dict().items()})
    published.remove_weight_norm()
    published.eval().to(device)
    x = torch.randn(1, cfg.input_channels, frames, device=device) - 5.0
    audio_s = frames * hop / sr

    def run_published(inp):
        with torch.no_grad():
            return published(inp)

    rows = []
    reference_out = None
    for dtype in dtypes:
        voc = Vocoder(HiFiGANGenerator(cfg.generator), cfg, device=device, dtype=dtype)
        voc.generator.load_state_dict(
            Vocoder(ours_gen, cfg, device=device).generator.state_dict())
        out = voc(x)  # warm-up
        if dtype == "float32":
            reference_out = out
        if baseline:
            run_published(x)
        ours_t, base_t, ratios = [], [], []
        for _ in range(repeats):
            t_ours = _time(voc, x, device)
            ours_t.append(t_ours)
            if baseline:
                t_base = _time(run_published, x, device)
                base_t.append(t_base)
                ratios.append(t_base / t_ours)
        row = {"model": name, "dtype": dtype, "ours_s": statistics.median(ours_t),
               "audio_s": audio_s}
        if baseline:
            row["published_s"] = statistics.median(base_t)
            row["speedup"] = statistics.median(ratios)
        if reference_out is not None and dtype != "float32":
            row["snr_db"] = snr_db(reference_out, out)
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["v1", "v2", "v3"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per variant (median)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--no-baseline", action="store_true", help="skip the published-model baseline")
    p.add_argument("--no-allocator-tuning", action="store_true",
                   help="leave glibc's malloc thresholds alone (to measure what tuning gives)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tuned = False if args.no_allocator_tuning else tune_cpu_allocator()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, allocator tuning {'on' if tuned else 'off'}, "
          f"{args.seconds:g} s of audio, batch 1, median of {args.repeats}")
    header = (f"{'model':<5} {'dtype':<9} {'ours s':>8} {'kHz':>9} {'x real time':>12} "
              f"{'published s':>12} {'published x':>12} {'speed-up':>9} {'SNR dB':>7}")
    print(header)
    for model in args.models:
        for r in bench_model(model, device, args.dtypes, args.seconds, args.repeats,
                             not args.no_baseline):
            khz = r["audio_s"] * preset(model).audio.sampling_rate / r["ours_s"] / 1000
            line = (f"{r['model']:<5} {r['dtype']:<9} {r['ours_s']:>8.3f} {khz:>9.1f} "
                    f"{r['audio_s'] / r['ours_s']:>12.1f}")
            if "published_s" in r:
                line += (f" {r['published_s']:>12.3f} {r['audio_s'] / r['published_s']:>12.1f} "
                         f"{r['speedup']:>8.2f}x")
            else:
                line += f" {'-':>12} {'-':>12} {'-':>9}"
            line += f" {r['snr_db']:>7.1f}" if "snr_db" in r else f" {'-':>7}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
