"""`synth models list | download | path` run as a real command against a local HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vocoder.config import v3_config

REPO = Path(__file__).resolve().parents[2]
BLOB = os.urandom(70_000)
SHA = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
def env(tmp_path: Path, model_server) -> dict[str, str]:
    """Environment for `synth`: a cache in tmp_path and a registry served by model_server."""
    model_server.files["/voc.pt"] = BLOB
    (tmp_path / "v3.json").write_text(json.dumps(v3_config().to_dict()))
    common = {"kind": "mel_vocoder", "config": "v3.json", "licence": "MIT", "source": "test",
              "size": None}
    registry = {"format": 1, "models": [
        {**common, "name": "voc", "filename": "voc.pt", "urls": [model_server.url("voc.pt")],
         "sha256": SHA, "size": len(BLOB)},
        {**common, "name": "gone", "filename": "gone.pt", "urls": [model_server.url("gone.pt")],
         "sha256": None, "approx_size": 2048},
    ]}
    (tmp_path / "models.json").write_text(json.dumps(registry))
    out = {k: v for k, v in os.environ.items() if not k.startswith("HIFISYNTH_")}
    out.update(PYTHONPATH=str(REPO), HIFISYNTH_HOME=str(tmp_path / "home"),
               HIFISYNTH_REGISTRY=str(tmp_path / "models.json"))
    return out


def synth(*args: str, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth", *args], env={**env, **extra},
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_help_lists_models_command(env) -> None:
    result = synth("--help", env=env)
    assert result.returncode == 0 and "models" in result.stdout and "HIFISYNTH_HOME" in result.stdout
    result = synth("models", "--help", env=env)
    assert result.returncode == 0
    for word in ("list", "download", "path", "HIFISYNTH_OFFLINE", "Exit codes"):
        assert word in result.stdout


def test_usage_errors_are_one_line_exit_2(env) -> None:
    for args, text in ((("models",), "required: ACTION"), ((), "required: COMMAND"),
                       (("models", "fly"), "invalid choice: 'fly'"),
                       (("models", "download"), "give at least one model name"),
                       (("models", "download", "voc", "--all"), "not both")):
        result = synth(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert text in one_error_line(result)


def test_list_download_path(env, model_server, tmp_path) -> None:
    result = synth("models", "list", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SIZE", "STATE", "LICENCE"]
    assert lines[1].split()[:6] == ["voc", "mel", "vocoder", "68.4", "KiB", "missing"]
    assert lines[2].split()[:6] == ["gone", "mel", "vocoder", "~2.0", "KiB", "missing"]
    assert lines[-1] == f"cache: {tmp_path / 'home' / 'models'}"

    result = synth("models", "path", "voc", env=env)
    assert result.returncode == 1
    assert "synth models download voc" in one_error_line(result)

    result = synth("models", "download", "voc", env=env)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "home" / "models" / "voc" / "voc.pt"
    assert result.stdout.strip() == str(path)
    assert path.read_bytes() == BLOB
    assert "voc: 100%" in result.stderr  # the progress bar

    result = synth("models", "path", "voc", "--verify", env=env)
    assert result.returncode == 0 and result.stdout.strip() == str(path)
    rows = [json.loads(line) for line in synth("models", "list", "--json", env=env).stdout.splitlines()]
    assert rows[0]["name"] == "voc" and rows[0]["state"] == "verified" and rows[0]["sha256"] == SHA
    assert rows[1]["state"] == "missing" and rows[1]["urls"] == [model_server.url("gone.pt")]
    assert rows[1]["size"] is None and rows[1]["approx_size"] == 2048
    assert model_server.count("voc.pt") == 1


def test_download_failure_and_unknown_name(env, model_server, tmp_path) -> None:
    result = synth("models", "download", "gone", env=env)
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith("synth: error: cannot download model 'gone'")
    assert model_server.url("gone.pt") in line and "HTTP 404" in line
    assert str(tmp_path / "home" / "models" / "gone" / "gone.pt") in line

    result = synth("models", "download", "vco", env=env)
    assert result.returncode == 2
    assert "unknown model 'vco': did you mean 'voc'?" in one_error_line(result)
    assert model_server.count("voc.pt") == 0


def test_offline_download_says_how_to_place_the_file(env, model_server, tmp_path) -> None:
    result = synth("models", "download", "voc", env=env, HIFISYNTH_OFFLINE="1")
    assert result.returncode == 1
    line = one_error_line(result)
    cached = tmp_path / "home" / "models" / "voc" / "voc.pt"
    assert model_server.url("voc.pt") in line and str(cached) in line
    assert "HIFISYNTH_OFFLINE=1 forbids downloading" in line and "place the file by hand" in line
    assert model_server.requests == []
    # placed by hand, it is found offline
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(BLOB)
    result = synth("models", "path", "voc", env=env, HIFISYNTH_OFFLINE="1")
    assert result.returncode == 0 and result.stdout.strip() == str(cached)
    assert "(offline" in synth("models", "list", env=env, HIFISYNTH_OFFLINE="1").stdout
    assert model_server.requests == []


def test_corrupt_file_is_reported_offline_and_redownloaded_online(env, model_server, tmp_path) -> None:
    cached = tmp_path / "home" / "models" / "voc" / "voc.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(BLOB[:-1] + b"\0" if BLOB[-1] else BLOB[:-1] + b"\1")
    result = synth("models", "path", "voc", env=env, HIFISYNTH_OFFLINE="1")
    assert result.returncode == 1 and "is corrupt (sha256" in one_error_line(result)
    result = synth("models", "download", "voc", env=env)
    assert result.returncode == 0 and cached.read_bytes() == BLOB
    assert "is corrupt" in result.stderr and "downloading it again" in result.stderr


def test_path_accepts_local_files(env, tmp_path) -> None:
    local = tmp_path / "mine.pt"
    local.write_bytes(b"w")
    result = synth("models", "path", str(local), env=env)
    assert result.returncode == 0 and result.stdout.strip() == str(local.resolve())
    result = synth("models", "path", str(tmp_path / "nope.pt"), env=env)
    assert result.returncode == 2
    assert one_error_line(result) == f"synth: error: {tmp_path / 'nope.pt'}: model file not found"


def test_broken_registry_is_one_line(env, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    result = synth("models", "list", env=env, HIFISYNTH_REGISTRY=str(bad))
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"synth: error: {bad}: not valid JSON")
