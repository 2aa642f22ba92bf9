"""Vocoder inference speed: generated kHz and real-time factor for 10 s of audio at batch 1.

For each of V1/V2/V3 and each dtype, times our ``vocoder.inference.Vocoder`` against a plain
eager implementation of the published model (``tests/reference/published_hifigan.py``: weight
norm removed, ``torch.no_grad``, float32), the way the published inference script runs it:
in a process of its own with PyTorch's defaults. The two run alternately (A B A B ...), each
in its own process, so drift on a shared machine hits both equally; printed are medians and
the median of the per-pair speed-ups. Random weights (speed does not depend on their values);
the bf16/fp16 SNR is measured against our own float32 output.

    python benchmarks/vocoder_speed.py                       # CPU, float32 and bfloat16
    python benchmarks/vocoder_speed.py --device cuda --dtypes float32 bfloat16 float16
    python benchmarks/vocoder_speed.py --no-allocator-tuning  # what the allocator setting gives
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference.published_hifigan import Generator as PublishedGenerator  # noqa: E402
from tests.reference.published_hifigan import attr_config  # noqa: E402
from vocoder.weightnorm import legacy_weight_norm_names  # noqa: E402
from vocoder.config import preset  # noqa: E402
from vocoder.generator import HiFiGANGenerator  # noqa: E402


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, x, device: torch.device) -> float:
    """Seconds for ``fn(x)``, the device's queued work included (synchronised before and after)."""
    sync(device)
    start = time.perf_counter()
    fn(x)
    sync(device)
    return time.perf_counter() - start


def random_generator(name: str) -> HiFiGANGenerator:
    """The ``name`` preset's generator (``v1``, ``v2``, ``v3``) with seeded random weights."""
    torch.manual_seed(0)
    return HiFiGANGenerator(preset(name).generator)


def random_mel(name: str, seconds: float, device: torch.device) -> torch.Tensor:
    """``(1, channels, frames)``: ``seconds`` of random log-mel-like frames for ``name``."""
    cfg = preset(name)
    frames = int(seconds * cfg.audio.sampling_rate) // cfg.audio.hop_size
    return torch.randn(1, cfg.input_channels, frames, generator=torch.Generator().manual_seed(1)
                       ).to(device) - 5.0


def _published_worker(conn, name: str, seconds: float, device: str, threads: int | None) -> None:
    """Child process: the published model with PyTorch's defaults; times one call per request."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = preset(name)
    model = PublishedGenerator(attr_config(cfg.to_dict()))
    model.load_state_dict(legacy_weight_norm_names(random_generator(name).state_dict()))
    model.remove_weight_norm()
    model.eval().to(dev)
    x = random_mel(name, seconds, dev)

    def run(inp):
        with torch.no_grad():
            return model(inp)

    run(x)  # warm-up
    conn.send("ready")
    while conn.recv() == "run":
        conn.send(time_call(run, x, dev))
    conn.close()


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    """Signal-to-noise ratio of ``test`` against ``reference``, in dB."""
    noise = (test.float() - reference.float()).pow(2).sum()
    return float(10 * torch.log10(reference.float().pow(2).sum() / noise.clamp_min(1e-20)))


def bench_model(name: str, device: torch.device, dtypes: list[str], seconds: float,
                repeats: int, baseline: bool, threads: int | None) -> list[dict]:
    from vocoder.inference import Vocoder

    cfg = preset(name)
    x = random_mel(name, seconds, device)
    audio_s = x.shape[-1] * cfg.audio.hop_size / cfg.audio.sampling_rate
    child = conn = None
    if baseline:
        conn, child_conn = mp.get_context("spawn").Pipe()
        child = mp.get_context("spawn").Process(
            target=_published_worker, args=(child_conn, name, seconds, str(device), threads))
        child.start()
        assert conn.recv() == "ready"
    rows, reference_out = [], None
    try:
        for dtype in dtypes:
            voc = Vocoder(random_generator(name), cfg, device=device, dtype=dtype)
            out = voc(x)  # warm-up
            if dtype == "float32":
                reference_out = out
            ours_t, base_t, ratios = [], [], []
            for _ in range(repeats):
                t_ours = time_call(voc, x, device)
                ours_t.append(t_ours)
                if baseline:
                    conn.send("run")
                    t_base = conn.recv()
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
    finally:
        if child is not None:
            conn.send("stop")
            child.join()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["v1", "v2", "v3"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per variant (median)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads, both sides")
    p.add_argument("--no-baseline", action="store_true", help="skip the published-model baseline")
    p.add_argument("--no-allocator-tuning", action="store_true",
                   help="leave glibc's malloc thresholds alone in our process (to measure "
                        "what vocoder.inference.tune_cpu_allocator gives)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_allocator_tuning and args.device == "cpu":
        from vocoder.inference import tune_cpu_allocator

        tune_cpu_allocator()  # what the commands and the app do on CPU
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, allocator tuning "
          f"{'off' if args.no_allocator_tuning else 'on'} (ours), {args.seconds:g} s of audio, "
          f"batch 1, median of {args.repeats}; published model in its own default process")
    print(f"{'model':<5} {'dtype':<9} {'ours s':>8} {'kHz':>9} {'x real time':>12} "
          f"{'published s':>12} {'published x':>12} {'speed-up':>9} {'SNR dB':>7}")
    for model in args.models:
        for r in bench_model(model, device, args.dtypes, args.seconds, args.repeats,
                             not args.no_baseline, args.threads):
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
