"""Reading the config files toolkits publish (JSON, YAML) as plain data, running nothing.

SpeechBrain's ``hyperparams.yaml`` is HyperPyYAML: tags such as ``!new:module.Class`` or
``!ref <key>`` would build objects. Here every tagged node is read as the plain mapping,
list or string under it, and ``!ref <key>`` strings are resolved against the top level, so
the numbers a vocoder needs are found whether a file states them at the top level or only
inside the generator's ``!new:`` block.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config import MAX_CONFIG_BYTES, ConfigError, read_config_json
from ..dependencies import require


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, read within :data:`vocoder.config.MAX_CONFIG_BYTES`.

    Raises:
        ConfigError: an unreadable, too large or too deeply nested file, invalid JSON, or no
            object at the top.
    """
    return dict(read_config_json(path))


def json_beside(path: Path, name: str = "config.json") -> dict[str, Any] | None:
    """The JSON object in ``name`` beside ``path``, or ``None`` when there is none or it does
    not parse (for detection, which must not fail)."""
    try:
        data = read_config_json(path.parent / name)
    except ConfigError:
        return None
    return data if isinstance(data, dict) else None


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file, tags read as plain data (module docstring).

    Raises:
        ConfigError: an unreadable file, invalid YAML, or no mapping at the top.
    """
    yaml = require("yaml", f"reading {path.name}")

    class _PlainLoader(yaml.SafeLoader):
        pass

    def plain(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _PlainLoader.add_multi_constructor("!", plain)
    _PlainLoader.add_multi_constructor("tag:yaml.org,2002:python/", plain)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file of {size:,} bytes; a config is at most "
                              f"{MAX_CONFIG_BYTES:,} bytes")
        data = yaml.load(path.read_text(), Loader=_PlainLoader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except (RecursionError, UnicodeDecodeError):
        raise ConfigError(f"{path}: not a YAML config (not UTF-8, or nested too deeply)") \
            from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    return data


def lookup(data: dict[str, Any], key: str, *blocks: str, default: Any = None) -> Any:
    """``data[key]``, else ``data[block][key]`` for the first block that has it; ``!ref
    <name>`` strings (``"<name>"``) resolve to ``data[name]``."""
    value = data.get(key)
    for block in blocks:
        if value is not None:
            break
        inner = data.get(block)
        if isinstance(inner, dict):
            value = inner.get(key)
    for _ in range(8):  # references to references
        ref = re.fullmatch(r"\s*<([^<>]+)>\s*", value) if isinstance(value, str) else None
        if ref is None:
            break
        value = data.get(ref.group(1))
    return default if value is None else value


__all__ = ["json_beside", "lookup", "read_json", "read_yaml"]
