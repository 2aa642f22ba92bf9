"""``from vocoder import ...``: the main names, loaded on first use."""

import subprocess
import sys

import pytest

import vocoder
from tests.conftest import REPO


def test_every_main_name_imports_from_the_package():
    from vocoder import (FrameVocoder, GriffinLimVocoder, HiFiGANConfig, HiFiGANGenerator,
                         HifisynthError, MelSpectrogram, Vocoder, load_generator)
    from vocoder.inference import Vocoder as InferenceVocoder

    assert Vocoder is InferenceVocoder and issubclass(vocoder.ConfigError, HifisynthError)
    assert isinstance(Vocoder(HiFiGANGenerator(HiFiGANConfig().generator), HiFiGANConfig(),
                              device="cpu"), FrameVocoder)
    assert callable(load_generator) and MelSpectrogram and GriffinLimVocoder
    for name in vocoder.__all__:
        assert getattr(vocoder, name) is not None, name
    assert set(vocoder.__all__) <= set(dir(vocoder))
    with pytest.raises(AttributeError, match="no attribute 'Vocodr'"):
        vocoder.Vocodr


def test_importing_the_package_and_its_errors_does_not_import_torch():
    code = ("import sys, vocoder, vocoder.errors; from vocoder import HifisynthError; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
