"""Training speed: steps/s of our HiFi-GAN step vs a plain eager published step.

For each model (V1, V3), precision (32, bf16, fp16) and implementation, one fresh process
builds the generator and the published discriminators, runs ``--warmup`` steps, then times
``--steps`` steps and prints the median step time, steps/s and peak memory (GPU: max
allocated; CPU: peak resident set of the process).

Implementations:

``published``
    a plain eager transcription of the published training step (jik876/hifi-gan
    ``train.py``): each discriminator is called on real and on generated audio, twice per
    step (discriminator update, generator update), with autograd through all of it, and
    ``torch.optim.AdamW`` with default settings.
``ours``
    :class:`vocoder.train.step.TrainStep`: one concatenated pass where that gives the same
    numbers, real audio without autograd and frozen discriminators in the generator update,
    fused AdamW (see its docstring).

``--check`` runs one step of each from the same weights on the same batch and prints the
largest parameter difference afterwards (float32; the maths is the same, so only rounding).

Examples::

    python benchmarks/train_speed.py                         # V1 and V3, batch 16, seg 8192
    python benchmarks/train_speed.py --device cpu --batch-size 2 --steps 3 --models v3
    python benchmarks/train_speed.py --check --batch-size 2 --models v3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from vocoder.config import preset  # noqa: E402
from vocoder.discriminators import HiFiGANDiscriminator  # noqa: E402
from vocoder.generator import HiFiGANGenerator  # noqa: E402
from vocoder.inference import tune_cpu_allocator  # noqa: E402
from vocoder.mel import MelSpectrogram  # noqa: E402
from vocoder.train.step import TrainStep, build_optimizers  # noqa: E402

DTYPES = {"32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ------------------------------------------------------------ the published step, plainly

def _published_pair(discs, pools, y, y_hat):
    """Published MPD/MSD forward(y, y_hat): every sub-discriminator on y, then on y_hat."""
    rs, gs, frs, fgs = [], [], [], []
    for i, d in enumerate(discs):
        if pools is not None and i != 0:
            y, y_hat = pools[i - 1](y), pools[i - 1](y_hat)
        r, fr = d(y)
        g, fg = d(y_hat)
        rs.append(r), gs.append(g), frs.append(fr), fgs.append(fg)
    return rs, gs, frs, fgs


def _d_loss(rs, gs):
    loss = 0
    for r, g in zip(rs, gs):
        loss = loss + torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)
    return loss


def _g_loss(gs):
    loss = 0
    for g in gs:
        loss = loss + torch.mean((1 - g.float()) ** 2)
    return loss


def _fm_loss(frs, fgs):
    loss = 0
    for dr, dg in zip(frs, fgs):
        for r, g in zip(dr, dg):
            loss = loss + torch.mean(torch.abs(r.float() - g.float()))
    return loss * 2


class PublishedStep:
    """The published training step, transcribed plainly (default AdamW, two passes)."""

    def __init__(self, generator, disc: HiFiGANDiscriminator, config, device, precision):
        self.g, self.mpd, self.msd = generator, disc.mpd, disc.msd
        t = config.train
        self.optim_g = torch.optim.AdamW(generator.parameters(), t.learning_rate,
                                         betas=[t.adam_b1, t.adam_b2])
        self.optim_d = torch.optim.AdamW(list(self.msd.parameters()) + list(self.mpd.parameters()),
                                         t.learning_rate, betas=[t.adam_b1, t.adam_b2])
        self.mel = MelSpectrogram(config.audio).to(device)
        self.mel_loss = MelSpectrogram.for_loss(config.audio).to(device)
        self.device, self.dtype = device, DTYPES[precision]
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def ac(self):
        import contextlib
        return (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype
                else contextlib.nullcontext())

    def __call__(self, audio):
        with torch.no_grad():
            x = self.mel(audio)
            y_mel = self.mel_loss(audio)
        y = audio.unsqueeze(1)
        with self.ac():
            y_g_hat = self.g(x)
        with torch.autocast(self.device.type, enabled=False):
            y_g_hat_mel = self.mel_loss(y_g_hat.squeeze(1).float())
        self.optim_d.zero_grad()
        with self.ac():
            f_r, f_g, _, _ = _published_pair(self.mpd.discriminators, None, y, y_g_hat.detach())
            s_r, s_g, _, _ = _published_pair(self.msd.discriminators, self.msd.meanpools, y,
                                             y_g_hat.detach())
        loss_d = _d_loss(s_r, s_g) + _d_loss(f_r, f_g)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.optim_d)
        self.optim_g.zero_grad()
        loss_mel = F.l1_loss(y_mel, y_g_hat_mel) * 45
        with self.ac():
            f_r, f_g, ff_r, ff_g = _published_pair(self.mpd.discriminators, None, y, y_g_hat)
            s_r, s_g, fs_r, fs_g = _published_pair(self.msd.discriminators, self.msd.meanpools,
                                                   y, y_g_hat)
        loss_g = (_g_loss(s_g) + _g_loss(f_g) + _fm_loss(fs_r, fs_g) + _fm_loss(ff_r, ff_g)
                  + loss_mel)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.optim_g)
        self.scaler.update()
        return loss_g.detach(), loss_d.detach()


# ------------------------------------------------------------------------------- one run

def build(model: str, impl: str, precision: str, device: torch.device, seed: int = 0,
          disc_width_divisor: int = 1):
    """The ``model`` preset's generator, the discriminators (published widths, or narrower by
    ``disc_width_divisor`` for a quick run) and the ``impl`` step over them."""
    cfg = preset(model)
    torch.manual_seed(seed)
    g = HiFiGANGenerator(cfg.generator).to(device).train()
    d = HiFiGANDiscriminator(width_divisor=disc_width_divisor).to(device).train()
    if impl == "published":
        return PublishedStep(g, d, cfg, device, precision), g, d
    if device.type == "cpu":
        tune_cpu_allocator()  # what the `vocoder` command does on CPU
    og, od = build_optimizers(g, d, cfg)
    return TrainStep(g, d, og, od, cfg, device, precision), g, d


def batch(n: int, segment: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(123)
    t = torch.arange(segment) / 22050
    f0 = 100 + 80 * torch.rand(n, 1, generator=gen)
    wav = 0.3 * torch.sin(2 * torch.pi * f0 * t) + 0.02 * torch.randn(n, segment, generator=gen)
    return wav.to(device)


def run_one(a: argparse.Namespace) -> dict:
    device = torch.device(a.device)
    step, g, d = build(a.model, a.impl, a.precision, device)
    audio = batch(a.batch_size, a.segment, device)
    times = []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(a.warmup + a.steps):
        sync()
        t0 = time.perf_counter()
        if a.impl == "published":
            step(audio)
        else:
            step(torch.empty(0), audio)
        sync()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"model": a.model, "impl": a.impl, "precision": a.precision, "median_s": med,
            "steps_per_s": 1 / med, "times": times, "peak_gib": peak}


def interleaved(model: str, precision: str, device: torch.device, batch_size: int,
                segment: int, warmup: int, steps: int, disc_width_divisor: int = 1) -> dict:
    """Both implementations in one process from the same weights, steps alternating
    (published, ours, ours, published, ...), so load from other processes on a shared machine
    hits both alike. Records wall and process CPU time per step (after ``warmup`` pairs)
    and, on a GPU, the peak memory allocated by both together."""
    ours, g1, d1 = build(model, "ours", precision, device, disc_width_divisor=disc_width_divisor)
    pub, g2, d2 = build(model, "published", precision, device,
                        disc_width_divisor=disc_width_divisor)
    g2.load_state_dict(g1.state_dict())
    d2.load_state_dict(d1.state_dict())
    audio = batch(batch_size, segment, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    calls = {"published": lambda: pub(audio), "ours": lambda: ours(torch.empty(0), audio)}
    wall = {"published": [], "ours": []}
    cpu = {"published": [], "ours": []}
    for i in range(warmup + steps):
        order = ("published", "ours") if i % 2 == 0 else ("ours", "published")
        for impl in order:
            sync()
            w0, c0 = time.perf_counter(), time.process_time()
            calls[impl]()
            sync()
            if i >= warmup:
                wall[impl].append(time.perf_counter() - w0)
                cpu[impl].append(time.process_time() - c0)
    ratios = [p / o for p, o in zip(wall["published"], wall["ours"])]
    result = {"model": model, "precision": precision, "wall": wall, "cpu": cpu,
              "wall_ratio_median": statistics.median(ratios),
              "cpu_ratio": statistics.median(cpu["published"]) / statistics.median(cpu["ours"])}
    if device.type == "cuda":
        result["peak_gib_both"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def run_pair(a: argparse.Namespace) -> dict:
    """:func:`interleaved` with the command line's settings."""
    return interleaved(a.model, a.precision, torch.device(a.device), a.batch_size, a.segment,
                       a.warmup, a.steps)


def check(a: argparse.Namespace) -> None:
    """One float32 step of each implementation from the same state: parameter differences."""
    device = torch.device(a.device)
    ours, g1, d1 = build(a.model, "ours", "32", device)
    pub, g2, d2 = build(a.model, "published", "32", device)
    g2.load_state_dict(g1.state_dict())
    d2.load_state_dict(d1.state_dict())
    audio = batch(a.batch_size, a.segment, device)
    for _ in range(2):
        lo = ours(torch.empty(0), audio)
        lg, ld = pub(audio)
    print(f"{a.model}: losses after step 2: ours G {lo.gen_total.item():.6f} D {lo.disc.item():.6f}"
          f" | published G {lg.item():.6f} D {ld.item():.6f}")
    for name, m1, m2 in (("generator", g1, g2), ("discriminators", d1, d2)):
        s1, s2 = m1.state_dict(), m2.state_dict()
        diff = max((s1[k].float() - s2[k].float()).abs().max().item() for k in s1)
        scale = max(s1[k].float().abs().max().item() for k in s1)
        print(f"{a.model}: {name}: max |difference| after 2 steps {diff:.3g} "
              f"(largest value {scale:.3g})")


def _run_child(a: argparse.Namespace, model: str, prec: str, extra: list[str],
               label: str) -> dict | None:
    """Run one measurement in a fresh process (``--one``) and parse its ``RESULT`` line;
    print the child's stderr and return ``None`` when it fails."""
    cmd = [sys.executable, __file__, "--one", *extra, "--model", model, "--precision", prec,
           "--batch-size", str(a.batch_size), "--segment", str(a.segment), "--steps",
           str(a.steps), "--warmup", str(a.warmup), "--device", a.device]
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode or not line:
        print(f"{label}: failed\n{out.stderr[-2000:]}")
        return None
    return json.loads(line[0][len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="v1,v3")
    p.add_argument("--precisions", default=None,
                   help="comma list of 32,bf16,fp16 (default: all on GPU, 32,bf16 on CPU)")
    p.add_argument("--impls", default="published,ours")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--segment", type=int, default=8192)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--check", action="store_true", help="compare one step of both, then exit")
    p.add_argument("--json", metavar="FILE", help="also write the results here")
    p.add_argument("--interleave", action="store_true",
                   help="for a shared/noisy CPU: run both implementations in one process with "
                        "alternating steps and report the median per-step ratio and the ratio of "
                        "median process CPU times (no peak memory in this mode)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--impl", help=argparse.SUPPRESS)
    p.add_argument("--precision", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_pair(a) if a.interleave else run_one(a)))
        return
    if a.check:
        for model in a.models.split(","):
            a.model = model
            check(a)
        return
    precisions = (a.precisions or ("32,bf16,fp16" if a.device.startswith("cuda") else "32,bf16")
                  ).split(",")
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {dev}; torch {torch.__version__}; batch {a.batch_size}, segment {a.segment}, "
          f"{a.warmup} warm-up + {a.steps} timed steps (median)")
    results = []
    for model in a.models.split(","):
        for prec in precisions:
            if a.interleave:
                r = _run_child(a, model, prec, ["--interleave"], f"{model} {prec}")
                if r is None:
                    continue
                results.append(r)
                for impl in ("published", "ours"):
                    print(f"{model:3s} {prec:>4s} {impl:9s}: median "
                          f"{statistics.median(r['wall'][impl]):7.3f} s/step wall, "
                          f"{statistics.median(r['cpu'][impl]):7.3f} s CPU; steps "
                          f"{' '.join(f'{t:.2f}' for t in r['wall'][impl])}", flush=True)
                print(f"{model:3s} {prec:>4s} speed-up: {r['wall_ratio_median']:.2f}x (median of "
                      f"per-step wall ratios), {r['cpu_ratio']:.2f}x (CPU time)", flush=True)
                continue
            row = {}
            for impl in a.impls.split(","):
                r = _run_child(a, model, prec, ["--impl", impl], f"{model} {prec} {impl}")
                if r is None:
                    continue
                results.append(r)
                row[impl] = r
                print(f"{model:3s} {prec:>4s} {impl:9s}: {r['median_s']:7.3f} s/step  "
                      f"{r['steps_per_s']:7.3f} steps/s  peak {r['peak_gib']:.2f} GiB", flush=True)
            if "ours" in row and "published" in row:
                print(f"{model:3s} {prec:>4s} speed-up: "
                      f"{row['published']['median_s'] / row['ours']['median_s']:.2f}x", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
