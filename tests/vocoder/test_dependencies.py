"""vocoder.dependencies: a missing or broken package is one line with the versions and the fix;
``--version`` of both commands says which torch and torchaudio are installed."""

from __future__ import annotations

import pytest

from tests.conftest import BROKEN_SYMBOL, run_cli
from vocoder.dependencies import TESTED, require
from vocoder.errors import DependencyError, HifisynthError


def test_require_returns_the_module() -> None:
    assert require("json", "a test").dumps([1]) == "[1]"


def test_a_missing_package_names_the_extra_that_installs_it(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails: not installed
    monkeypatch.setattr("vocoder.dependencies.installed_version", lambda name: None)
    with pytest.raises(DependencyError) as info:
        require("transformers", "Hugging Face feature extractors")
    message = str(info.value)
    assert message == ("Hugging Face feature extractors needs the package 'transformers', which "
                       "is not installed; pip install 'hifisynth[hf]'")
    assert isinstance(info.value, HifisynthError) and info.value.exit_code == 1


@pytest.mark.parametrize("program", ["vocoder", "synth"])
def test_version_names_torch_and_torchaudio(program) -> None:
    done = run_cli(program, "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == (f"{program} 0.1.0 (torch {TESTED['torch']}, torchaudio "
                                   f"{TESTED['torchaudio']})")


def test_version_shows_a_mismatched_torchaudio(broken_torchaudio) -> None:
    done = run_cli("synth", "--version", path_first=broken_torchaudio)
    assert done.returncode == 0
    assert done.stdout.strip() == "synth 0.1.0 (torch 2.11.0, torchaudio 2.11.1)"


def test_commands_that_need_torchaudio_say_so_in_one_line(broken_torchaudio, tmp_path) -> None:
    from tests.conftest import speechlike, write_wav

    src = write_wav(tmp_path / "src.wav", speechlike(1.0, 16000), 16000)
    for args in (["convert", src, "--reference", src, "-o", tmp_path / "out.wav"],
                 ["voice", src, "-o", tmp_path / "me.pt"],
                 ["tts", "Hello.", "--voice", src, "-o", tmp_path / "out.wav"],
                 ["features", "--input-wavs", tmp_path, "--output-dir", tmp_path / "f"]):
        done = run_cli("synth", *args, path_first=broken_torchaudio)
        assert done.returncode == 1, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("synth: error: SSL feature extraction (voice conversion) "
                                   "needs torchaudio, and torchaudio 2.11.1 does not load with "
                                   "torch 2.11.0")
        assert f"(libtorchaudio.so: undefined symbol: {BROKEN_SYMBOL})" in lines[0]
        assert lines[0].endswith("install the tested pair: pip install torch==2.11.0 "
                                 "torchaudio==2.11.0")
        assert not (tmp_path / "out.wav").exists()
