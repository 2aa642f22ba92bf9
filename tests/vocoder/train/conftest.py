"""Training data for the tests of vocoder.train: six tiny speech-like clips and a tiny config."""

import pytest

from tests.vocoder.trainkit import tiny_config, write_config, write_wavs

pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated")


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """``(base, wavs, config.json)``: 6 clips of 0.5 s at 8 kHz and a tiny mel vocoder's config."""
    base = tmp_path_factory.mktemp("train")
    wavs = base / "wavs"
    write_wavs(wavs, 6)
    cfg = write_config(base / "config.json", tiny_config())
    return base, wavs, cfg
