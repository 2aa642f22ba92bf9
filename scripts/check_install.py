"""Check an installation of hifisynth before its tests run: import every module of the product
(``vocoder``, every ``synth`` module, ``app.py``) and run torchaudio's wav2vec2, WavLM and
Tacotron2 models once on tiny random weights.

A broken dependency then shows as one line per module that cannot be imported, naming the
module and the error, instead of as test collection errors::

    python scripts/check_install.py          # exit 0: all good; 1: something is broken
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cause(exc: BaseException) -> str:
    """One line: the exception and, when different, the most specific error behind it."""
    from vocoder.errors import HifisynthError, one_line

    if isinstance(exc, HifisynthError):  # already says what is wrong and how to fix it
        return one_line(exc)
    first = f"{type(exc).__name__}: {one_line(exc)}"
    inner = exc.__cause__ or exc.__context__
    while inner is not None and (inner.__cause__ or inner.__context__) is not None:
        inner = inner.__cause__ or inner.__context__
    if inner is not None:
        first += f" (caused by {type(inner).__name__}: {one_line(inner)})"
    return first


def product_modules() -> list[str]:
    """Every module of the ``vocoder`` and ``synth`` packages, found on disk (not imported)."""
    names = []
    for package in ("vocoder", "synth"):
        names.append(package)
        path = [str(ROOT / package)]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if not info.name.endswith(".__main__"):  # importing it would run the command
                names.append(info.name)
    return names


def import_app() -> None:
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)


def run_torchaudio_models() -> None:
    """wav2vec2, WavLM and Tacotron2 from torchaudio, tiny and random, one forward pass each."""
    import torch

    from vocoder.dependencies import require

    models = require("torchaudio.models", "the installation check")
    Tacotron2, wav2vec2_model, wavlm_model = models.Tacotron2, models.wav2vec2_model, models.wavlm_model

    torch.manual_seed(0)
    wav = torch.randn(1, 4000)
    common = dict(extractor_mode="group_norm", extractor_conv_layer_config=[(8, 10, 5), (8, 3, 2)],
                  extractor_conv_bias=False, encoder_embed_dim=16, encoder_projection_dropout=0.0,
                  encoder_pos_conv_kernel=8, encoder_pos_conv_groups=2, encoder_num_layers=1,
                  encoder_num_heads=2, encoder_ff_interm_features=32, encoder_layer_norm_first=False,
                  encoder_layer_drop=0.0, aux_num_out=None)
    with torch.inference_mode():
        feats, _ = wav2vec2_model(**common, encoder_attention_dropout=0.0,
                                  encoder_ff_interm_dropout=0.0, encoder_dropout=0.0).eval()(wav)
        assert feats.shape[-1] == 16 and torch.isfinite(feats).all()
        feats, _ = wavlm_model(**common, encoder_num_buckets=8, encoder_max_distance=16,
                               encoder_attention_dropout=0.0, encoder_ff_interm_dropout=0.0,
                               encoder_dropout=0.0).eval()(wav)
        assert feats.shape[-1] == 16 and torch.isfinite(feats).all()
        taco = Tacotron2(n_symbol=10, n_mels=8, symbol_embedding_dim=16, encoder_embedding_dim=16, encoder_n_convolution=1,
                         encoder_kernel_size=5, decoder_rnn_dim=16, decoder_max_step=20,
                         attention_rnn_dim=16, attention_hidden_dim=16,
                         attention_location_n_filter=4, attention_location_kernel_size=3,
                         prenet_dim=16, postnet_n_convolution=1, postnet_kernel_size=5,
                         postnet_embedding_dim=16).eval()
        mel, lengths, _ = taco.infer(torch.tensor([[1, 2, 3, 4]]))
        assert mel.shape[1] == 8 and int(lengths[0]) >= 1


def main() -> int:
    sys.path.insert(0, str(ROOT))
    try:
        from vocoder.dependencies import version_line
        import vocoder

        header = version_line("hifisynth", vocoder.__version__)
    except Exception as exc:  # noqa: BLE001 - even vocoder itself may not import
        print(f"import check: vocoder: {_cause(exc)}", file=sys.stderr)
        return 1
    failures = []
    modules = product_modules()
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a broken import counts
            failures.append(f"{name}: {_cause(exc)}")
    try:
        import_app()
    except BaseException as exc:  # noqa: BLE001
        failures.append(f"app.py: {_cause(exc)}")
    try:
        run_torchaudio_models()
    except Exception as exc:  # noqa: BLE001
        failures.append(f"torchaudio models (wav2vec2, WavLM, Tacotron2): {_cause(exc)}")
        if "--verbose" in sys.argv:
            traceback.print_exc()
    for line in failures:
        print(f"import check: {line}", file=sys.stderr)
    total = len(modules) + 2
    if failures:
        print(f"import check: {len(failures)} of {total} checks failed ({header})", file=sys.stderr)
        return 1
    print(f"import check: {len(modules)} modules, app.py and torchaudio's models are fine "
          f"({header})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
