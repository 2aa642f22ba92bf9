"""Several training processes: torchrun's environment, devices, and two gloo processes that
compute what one process with the same global batch computes."""

import os
import subprocess
import sys

import pytest
import torch

from tests.vocoder.trainkit import REPO, state_of, train_options
from vocoder.errors import InputError
from vocoder.train import Distributed, list_checkpoints, train

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


def test_processes_from_torchrun_environment():
    assert Distributed.from_environment({}) == Distributed(0, 1, 0)
    assert Distributed.from_environment({"WORLD_SIZE": "1", "RANK": "0"}).main
    two = Distributed.from_environment({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert (two.rank, two.world_size, two.local_rank, two.main) == (1, 2, 1, False)
    with pytest.raises(InputError, match="RANK / LOCAL_RANK are missing"):
        Distributed.from_environment({"WORLD_SIZE": "2"})
    with pytest.raises(InputError, match=r"RANK 2 is outside 0\.\.1"):
        Distributed.from_environment({"WORLD_SIZE": "2", "RANK": "2"})
    assert two.device("cpu") == torch.device("cpu")
    assert Distributed().device("cpu") == torch.device("cpu")
    assert Distributed().broadcast([3]) == [3]  # one process: nothing to exchange


@pytest.mark.slow
def test_torchrun_two_processes_gloo(data, tmp_path):
    base, wavs, cfg = data
    run = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    args = ["--nproc_per_node", "2", "--master_port", 29500 + os.getpid() % 1000, "-m",
            "vocoder", "train", "--config", cfg, "--output-dir", run, "--train-wavs", wavs,
            "--max-steps", 2, "--checkpoint-interval", 2, "--batch-size", 4, "--num-workers", 0,
            "--no-progress", "--device", "cpu"]
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list_checkpoints(run) == [2]
    assert r.stderr.count("saved g_00000002") == 1  # only rank 0 writes
    assert r.stderr.count("stopped at step 2") == 1
    # two ranks x 2 items see the same 4 items per step as one process with batch 4
    single = tmp_path / "single"
    train(train_options(cfg, single, wavs, max_steps=2, batch_size=4, log_interval=1))
    (ga, da), (gb, db) = state_of(run, 2), state_of(single, 2)
    assert da["hifisynth"]["world_size"] == 2
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=1e-4, atol=1e-6)
    for k in da["mpd"]:
        torch.testing.assert_close(da["mpd"][k], db["mpd"][k], rtol=1e-4, atol=1e-6)
