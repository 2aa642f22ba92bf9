"""Several training processes: torchrun's environment, devices, and two gloo processes that
compute what one process with the same global batch computes."""

import pytest
import torch

from tests.vocoder.trainkit import (assert_same_training, run_torchrun, state_of, train_args,
                                    train_options)
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
    r = run_torchrun(train_args(cfg, run, wavs, "cpu"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert list_checkpoints(run) == [2]
    assert r.stderr.count("saved g_00000002") == 1  # only rank 0 writes
    assert r.stderr.count("stopped at step 2") == 1
    # two ranks x 2 items see the same 4 items per step as one process with batch 4
    single = tmp_path / "single"
    train(train_options(cfg, single, wavs, max_steps=2, batch_size=4, log_interval=1))
    assert state_of(run, 2)[1]["hifisynth"]["world_size"] == 2
    assert_same_training(state_of(run, 2), state_of(single, 2), rtol=1e-4, atol=1e-6)
