"""State-dict surgery shared by the family loaders: fold weight norm, rename keys.

Toolkits store the same convolutions under their own names and with weight normalisation
either in the legacy form (``weight_g`` / ``weight_v``) or the parametrized one
(``parametrizations.weight.original0`` / ``original1``). Loaders first fold weight norm into
plain ``weight`` tensors (:func:`fold_weight_norm`), then map names (:func:`rename`).
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import Tensor

from ..weightnorm import LEGACY_TO_CURRENT

# (magnitude, direction) suffixes of a weight-norm pair, in the legacy and the current names
_PAIRS = ((".weight_g", ".weight_v"),
          tuple(f".{LEGACY_TO_CURRENT[leaf]}" for leaf in ("weight_g", "weight_v")))


def fold_weight_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace every weight-norm pair by its plain weight ``g * v / ||v||``.

    The norm is taken over all dimensions but the first (``dim=0``, the default of both
    ``torch.nn.utils.weight_norm`` and its parametrized successor). Other entries are kept.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for g_suffix, v_suffix in _PAIRS:
            if key.endswith(v_suffix):
                break
            if key.endswith(g_suffix):
                stem = key[: -len(g_suffix)]
                v = state[stem + v_suffix].float()
                norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
                out[stem + ".weight"] = v * (value.float() / norm)
                break
        else:
            out[key] = value
    return out


def has_weight_norm(state: Mapping[str, Tensor]) -> bool:
    """Whether any entry is one half of a weight-norm pair."""
    return any(key.endswith(g) for key in state for g, _ in _PAIRS)


def rename(state: Mapping[str, Tensor], rules: list[tuple[str, str]]) -> dict[str, Tensor]:
    """Rename keys with regular-expression ``(pattern, replacement)`` rules, the first rule
    that matches a key wins; keys no rule matches are kept as they are."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for pattern, repl in compiled:
            if pattern.fullmatch(key):
                key = pattern.sub(repl, key)
                break
        out[key] = value
    return out


def tensors(obj: object) -> dict[str, Tensor]:
    """The tensor entries of a mapping (a state dict may carry other values)."""
    if not isinstance(obj, Mapping):
        return {}
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


__all__ = ["fold_weight_norm", "has_weight_norm", "rename", "tensors"]
