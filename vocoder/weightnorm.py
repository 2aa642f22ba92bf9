"""Renaming weight-norm parameters between the two names PyTorch has used for them.

PyTorch 1.x ``torch.nn.utils.weight_norm`` stored a convolution's weight as ``<stem>.weight_g``
(magnitude) and ``<stem>.weight_v`` (direction); the published HiFi-GAN checkpoints and
torchaudio's wav2vec 2.0 weights use those names. PyTorch 2's
``torch.nn.utils.parametrizations.weight_norm`` calls the same tensors
``<stem>.parametrizations.weight.original0`` and ``...original1``. The tensors are the same,
only the names differ.
"""

from __future__ import annotations

from typing import Collection, Mapping, TypeVar

V = TypeVar("V")

#: PyTorch 1.x leaf name -> PyTorch 2 (parametrization) leaf name.
LEGACY_TO_CURRENT = {"weight_g": "parametrizations.weight.original0",
                     "weight_v": "parametrizations.weight.original1"}


def current_weight_norm_names(state: Mapping[str, V], expected: Collection[str] | None = None
                              ) -> dict[str, V]:
    """Rename ``<stem>.weight_g`` / ``<stem>.weight_v`` to the parametrization names.

    Args:
        state: a state dict (any values; order kept).
        expected: the keys of the module the state is for; when given, a key is renamed only
            if its new name is one of them (spectral norm also stores a ``weight_v``, which
            must keep its name).
    """
    out: dict[str, V] = {}
    for key, value in state.items():
        stem, _, leaf = key.rpartition(".")
        if leaf in LEGACY_TO_CURRENT and stem:
            new = f"{stem}.{LEGACY_TO_CURRENT[leaf]}"
            if expected is None or new in expected:
                key = new
        out[key] = value
    return out


def legacy_weight_norm_names(state: Mapping[str, V]) -> dict[str, V]:
    """Rename ``<stem>.parametrizations.weight.original0/1`` to the published
    ``<stem>.weight_g`` / ``<stem>.weight_v`` (other keys unchanged, order kept)."""
    out: dict[str, V] = {}
    for key, value in state.items():
        for old, new in LEGACY_TO_CURRENT.items():
            if key.endswith("." + new):
                key = key[: -len(new)] + old
                break
        out[key] = value
    return out


__all__ = ["LEGACY_TO_CURRENT", "current_weight_norm_names", "legacy_weight_norm_names"]
