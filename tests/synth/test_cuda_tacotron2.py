"""Tacotron2 on a CUDA GPU says what it says on the CPU (skipped without CUDA;
``benchmarks/gpu_check.sh`` runs these on a GPU machine).

The prenet's dropout masks are drawn on the CPU from each sentence's seed, so a seed gives the
same masks on any device; what is left is rounding. Tolerance: every sentence stops at the
same frame, and its mel is within 2e-2 (natural-log units, on values of order 1-10) of the
CPU's: cuDNN runs the encoder's and postnet's convolutions in TF32 by default (inputs rounded
to a 10-bit mantissa), and 40 autoregressive steps carry that rounding along.
"""

from __future__ import annotations

import pytest
import torch

from synth.acoustic import hifigan_ljspeech_mel, text_to_mel
from synth.acoustic.tacotron2 import Tacotron2Acoustic, Tacotron2Options
from synth.acoustic.tokens import CharacterTokenizer
from tests.synth.tacotron2_models import tiny_tacotron2

pytestmark = pytest.mark.cuda

SENTENCES = ["hello world, this is a test.",
             "a much longer sentence that goes on and on about nothing at all, really.",
             "short one."]


@pytest.mark.parametrize("max_batch", [1, 3])
def test_cuda_tacotron2_equals_the_cpu(max_batch) -> None:
    def acoustic(device: str) -> Tacotron2Acoustic:
        return Tacotron2Acoustic(tiny_tacotron2(frames=40), CharacterTokenizer(),
                                 hifigan_ljspeech_mel(),
                                 options=Tacotron2Options(max_batch=max_batch), device=device)

    gpu = acoustic("cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    on_cpu = text_to_mel(acoustic("cpu"), SENTENCES, seed=7)
    on_gpu = text_to_mel(gpu, SENTENCES, seed=7)
    for a, b in zip(on_cpu, on_gpu):
        assert [s.frames for s in a.sentences] == [s.frames for s in b.sentences]
        assert b.mel.shape == a.mel.shape and torch.isfinite(b.mel).all()
        torch.testing.assert_close(b.mel.cpu(), a.mel.cpu(), rtol=0, atol=2e-2)
