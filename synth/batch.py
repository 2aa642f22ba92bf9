"""Batch synthesis: a manifest of utterances -> ``<id>.wav`` files, resumable and shardable.

Manifest formats (detected per file; blank lines and lines starting with ``#`` are skipped):

- **JSONL** (a ``.jsonl``/``.json`` file, or one whose first line starts with ``{``): one object
  per line, ``{"id": ..., "text": ...}`` or ``{"id": ..., "source": "in.wav"}``, optionally
  ``"voice"`` (a path, or a list of reference clip paths); ``id`` defaults to the line number;
- **pipe lines**: ``id|text`` or ``id|text|voice``;
- **plain text**: any other line is one utterance, its id the line number (``0007``).

Relative paths (``source``, ``voice``) are relative to the manifest's folder. A voice is a saved
matching set (``.pt``), a reference clip, or a folder of clips.

Items are numbered in manifest order (bad lines included) and shard ``i`` of ``n`` takes those
whose number is ``i`` modulo ``n``, so shards that read the same manifest share every item out
exactly once. An item whose ``<id>.wav`` exists is skipped: outputs are written atomically, so
an existing file is complete, and a killed run resumes where it stopped.

Text items go through the synthesizer's acoustic model (Tacotron2, or the espeak-ng base
voice): each item is decoded on its own with the seed :func:`item_seed` derives from the run's
seed and the item's id, so a rerun, a resumed run or another sharding gives every item the
same audio.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vocoder.atomic import MAX_NAME_BYTES, make_dir, remove_stale_temps, write_text
from vocoder.audio import resample
from vocoder.errors import HifisynthError, InputError, one_line

from .audio import load_input_audio

_ID_MAX = 200
_BAD_ID = re.compile(r"[/\\\x00-\x1f\x7f]")


class ManifestError(InputError):
    """A manifest that cannot be read at all (missing, not text); bad lines are items that fail."""


@dataclass(frozen=True)
class Item:
    """One utterance of a manifest.

    ``text`` or ``source`` is set; ``voice`` is a path (or list of paths) or ``None``.
    ``error`` is set for a line that cannot be an utterance (it is reported as failed).
    """

    id: str | None
    line: int
    text: str | None = None
    source: Path | None = None
    voice: Path | list[Path] | None = None
    error: str | None = None


# ------------------------------------------------------------------------------ manifests


def read_manifest(path: str | os.PathLike) -> list[Item]:
    """Parse a manifest (see the module docstring) into items, in order.

    Raises:
        ManifestError: the file is missing, unreadable or not UTF-8 text.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: manifest is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc.strerror})") from None
    base = path.parent
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    jsonl = path.suffix.lower() in (".jsonl", ".json") or bool(lines and lines[0][1].startswith("{"))
    width = max(4, len(str(lines[-1][0]))) if lines else 4
    items = [_parse_json_line(n, line, base, width) if jsonl else _parse_text_line(n, line, base, width)
             for n, line in lines]
    first_line: dict[str, int] = {}
    out = []
    for item in items:
        if item.error is None and item.id is not None:
            if item.id in first_line:
                item = Item(item.id, item.line, error=f"duplicate id '{item.id}' (first on line "
                                                      f"{first_line[item.id]})")
            else:
                first_line[item.id] = item.line
        out.append(item)
    return out


def _check_id(value: str) -> str | None:
    if not value:
        return "empty id"
    if len(value) > _ID_MAX:
        return f"id longer than {_ID_MAX} characters"
    if value.startswith(".") or _BAD_ID.search(value):
        return f"id {value!r} cannot be a file name (no '/', '\\', control characters or leading '.')"
    size = len(f"{value}.wav".encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:  # file systems count bytes: 150 CJK characters are 450
        return (f"id too long for a file name: '{value[:20]}...' makes a {size}-byte name "
                f"(at most {MAX_NAME_BYTES} bytes in UTF-8, with '.wav')")
    return None


def _voice_paths(value: Any, base: Path) -> Path | list[Path] | None | str:
    """Voice paths resolved against ``base``, ``None``, or an error message (str)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return base / value.strip()
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return [base / v.strip() for v in value]
    return f"'voice' must be a path or a list of paths, got {value!r}"


def _parse_text_line(n: int, line: str, base: Path, width: int) -> Item:
    if "|" not in line:
        return Item(str(n).zfill(width), n, text=line)
    fields = [f.strip() for f in line.split("|")]
    if len(fields) > 3:
        return Item(None, n, error=f"expected id|text or id|text|voice, got {len(fields)} fields")
    ident, text = fields[0], fields[1]
    problem = _check_id(ident)
    if problem:
        return Item(None, n, error=problem)
    if not text:
        return Item(ident, n, error="empty text")
    voice = _voice_paths(fields[2] if len(fields) == 3 else None, base)
    return Item(ident, n, text=text, voice=voice)  # type: ignore[arg-type]


def _parse_json_line(n: int, line: str, base: Path, width: int) -> Item:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return Item(None, n, error=f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, Mapping):
        return Item(None, n, error=f"expected a JSON object, got {type(obj).__name__}")
    ident = obj.get("id", str(n).zfill(width))
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        return Item(None, n, error=f"'id' must be a string, got {ident!r}")
    ident = str(ident).strip()
    problem = _check_id(ident)
    if problem:
        return Item(None, n, error=problem)
    has_text, has_source = obj.get("text") is not None, obj.get("source") is not None
    if has_text == has_source:
        return Item(ident, n, error="give exactly one of 'text' and 'source'")
    voice = _voice_paths(obj.get("voice"), base)
    if isinstance(voice, str):
        return Item(ident, n, error=voice)
    if has_text:
        text = obj["text"]
        if not isinstance(text, str):
            return Item(ident, n, error=f"'text' must be a string, got {type(text).__name__}")
        if not text.strip():
            return Item(ident, n, error="empty text")
        return Item(ident, n, text=text, voice=voice)
    source = obj["source"]
    if not isinstance(source, str) or not source.strip():
        return Item(ident, n, error=f"'source' must be a file path, got {source!r}")
    return Item(ident, n, source=base / source.strip(), voice=voice)


# ------------------------------------------------------------------------------ sharding


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N`` (shards count from 0, like torchrun ranks)."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"--shard must look like I/N (e.g. 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: need N >= 1 and 0 <= I < N (shards count from 0)")
    return index, count


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(RANK, WORLD_SIZE)`` as torchrun sets them, or ``None`` when not under a launcher."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return None
    try:
        index, count = int(env.get("RANK", "0")), int(env["WORLD_SIZE"])
    except ValueError:
        raise ValueError(f"RANK={env.get('RANK')!r} / WORLD_SIZE={env.get('WORLD_SIZE')!r} "
                         "are not integers") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"RANK={index} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={count})")
    return index, count


def shard_items(items: Sequence[Item], index: int, count: int) -> list[Item]:
    """The items of shard ``index`` of ``count``: every ``count``-th item from ``index``."""
    return [item for position, item in enumerate(items) if position % count == index]


# ------------------------------------------------------------------------------ seeds


def item_seed(seed: int, item_id: str) -> int:
    """The seed of item ``item_id`` in a run seeded with ``seed``: 31 bits of
    ``sha256("<seed>:<id>")``, the same in every run, shard and resumption."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# ------------------------------------------------------------------------------ running


@dataclass
class BatchSummary:
    """What a run did; :meth:`to_dict` is the summary JSON."""

    manifest: str
    output_dir: str
    shard: tuple[int, int]
    items: int = 0
    done_ids: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    audio_seconds: float = 0.0
    processing_seconds: float = 0.0
    load_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return len(self.done_ids)

    @property
    def rtf(self) -> float | None:
        """Processing seconds per second of audio made (lower is faster)."""
        return self.processing_seconds / self.audio_seconds if self.audio_seconds else None

    def to_dict(self) -> dict[str, Any]:
        rtf = self.rtf
        return {
            "manifest": self.manifest, "output_dir": self.output_dir,
            "shard": {"index": self.shard[0], "count": self.shard[1]},
            "items": self.items, "done": self.done, "skipped": self.skipped,
            "failed": len(self.failed), "failures": self.failed,
            "audio_seconds": round(self.audio_seconds, 3),
            "processing_seconds": round(self.processing_seconds, 3),
            "load_seconds": round(self.load_seconds, 3),
            "rtf": None if rtf is None else round(rtf, 5),
            "utterances_per_second": (round(self.done / self.processing_seconds, 3)
                                      if self.processing_seconds and self.done else None),
            **self.settings, "done_ids": self.done_ids,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the summary JSON atomically (:class:`vocoder.atomic.OutputError` if it
        cannot be written)."""
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


@dataclass
class _Ready:
    """An item after its frontend: a mel waiting for the vocoder, or finished audio."""

    item: Item
    mel: Any = None
    audio: np.ndarray | None = None
    sample_rate: int = 0


class BatchRunner:
    """Synthesise manifest items into ``output_dir/<id>.wav`` with a :class:`Synthesizer`.

    Args:
        synth: the synthesizer (its vocoder, device and batch limits are used).
        output_dir: where ``<id>.wav`` files go (created).
        batch_size: most utterances per vocoder call.
        window: utterances prepared before each round of vocoding; they are grouped by length
            into batches (default ``4 * batch_size``).
        overwrite: redo items whose output exists instead of skipping them.
        progress: show a progress bar (with real-time factor) on stderr.
        report: called with one line per failed item (default: printed on stderr).
        explain: turns an error into the reason reported (default: its message on one
            line); a front end passes its own, with its hints.
        seed: the run's seed; text item ``id`` is decoded with ``item_seed(seed, id)``.
    """

    def __init__(self, synth, output_dir: str | os.PathLike, *, batch_size: int = 16,
                 window: int | None = None, overwrite: bool = False, progress: bool = True,
                 report: Callable[[str], None] | None = None,
                 explain: Callable[[BaseException], str] | None = None, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.synth = synth
        self.output_dir = Path(output_dir)
        self.batch_size = batch_size
        self.window = window or 4 * batch_size
        self.overwrite = overwrite
        self.progress = progress
        self.report = report
        self.explain = explain or one_line
        self.seed = seed
        self.acoustic = None  # the acoustic model text items use (None: the base voice)

    def output_path(self, item: Item) -> Path:
        return self.output_dir / f"{item.id}.wav"

    def run(self, items: Sequence[Item], summary: BatchSummary) -> BatchSummary:
        """Process ``items`` (one shard), filling and returning ``summary``."""
        make_dir(self.output_dir)
        remove_stale_temps(self.output_dir,  # a killed run's, for this shard's items only
                           {f"{item.id}.wav" for item in items if item.id is not None})
        summary.items = len(items)
        pending: list[Item] = []
        bad: list[tuple[Item, str]] = []
        for item in items:
            if item.error is not None:
                bad.append((item, item.error))
            elif not self.overwrite and _is_file(self.output_path(item)):
                summary.skipped += 1
            elif (problem := _voice_problem(item)) is not None:
                bad.append((item, problem))
            else:
                pending.append(item)
        started = time.perf_counter()
        pending = self._load_models(pending, summary)  # a missing model stops here, first
        summary.load_seconds = time.perf_counter() - started
        for item, reason in bad:
            self._fail(summary, item, reason)
        pending.sort(key=self._length_hint)
        bar = self._bar(len(items), len(items) - len(pending))
        started = time.perf_counter()
        try:
            for a in range(0, len(pending), self.window):
                window = pending[a:a + self.window]
                ready = [r for r in (self._frontend(item, summary) for item in window) if r]
                self._vocode(ready, summary)
                for r in ready:
                    if r.audio is not None:
                        self._write(r, summary)
                summary.processing_seconds = time.perf_counter() - started
                if bar is not None:
                    bar.update(len(window))
                    rtf = summary.rtf
                    bar.set_postfix_str(f"done {summary.done}, failed {len(summary.failed)}, "
                                        f"RTF {rtf:.3f}" if rtf is not None else "")
        finally:
            summary.processing_seconds = time.perf_counter() - started
            if bar is not None:
                bar.close()
        return summary

    # -------------------------------------------------------------------- steps

    def _load_models(self, pending: list[Item], summary: BatchSummary) -> list[Item]:
        """Load what the items need before starting. A missing mel vocoder or base voice stops
        the run at once (raises) rather than failing nearly every item; missing voice-conversion
        models fail only the items with a voice, reported once. Returns the items to do."""
        synth = self.synth
        if any(i.voice is None and (i.source is not None or synth.has_mel_vocoder())
               for i in pending):
            synth.load("vocoder")
        if any(i.text is not None for i in pending):
            self.acoustic = synth.acoustic_model()
            if self.acoustic is not None:  # a vocoder that cannot take its mel stops the run
                synth.check_pairing(self.acoustic)
            else:
                synth.load("espeak")
        if any(i.voice is not None for i in pending):
            try:
                synth.load("knnvc")
            except Exception as exc:  # noqa: BLE001 - reported for the items that need it
                if _is_bug(exc):
                    raise
                reason = f"voice conversion unavailable: {self.explain(exc)}"
                self._say(f"synth: {reason}")
                for item in [i for i in pending if i.voice is not None]:
                    self._fail(summary, item, "voice conversion unavailable (see above)",
                               quiet=True)
                pending = [i for i in pending if i.voice is None]
        return pending

    @staticmethod
    def _length_hint(item: Item) -> tuple[int, float]:
        """Sort key that puts utterances of similar length together (text length, file size)."""
        if item.text is not None:
            return (0, len(item.text))
        try:
            return (1, item.source.stat().st_size)  # type: ignore[union-attr]
        except OSError:
            return (1, 0)

    def _frontend(self, item: Item, summary: BatchSummary) -> _Ready | None:
        synth = self.synth
        try:
            seed = item_seed(self.seed, str(item.id))
            if item.voice is not None:
                if item.text is not None:
                    result = synth.speak(item.text, voice=item.voice, seed=seed)
                else:
                    result = synth.convert(item.source, item.voice)
                return _Ready(item, audio=result.audio, sample_rate=result.sample_rate)
            if item.text is not None and self.acoustic is not None:
                (speech,) = synth.text_to_mel([item.text], acoustic=self.acoustic, seed=seed)
                return _Ready(item, mel=speech.mel)
            if item.text is not None:
                audio, sr = synth.base_speech(item.text)
                if not synth.has_mel_vocoder():
                    return _Ready(item, audio=audio, sample_rate=sr)
                wav = resample(audio, sr, synth.sample_rate)
            else:
                if not synth.has_mel_vocoder():
                    raise ValueError("resynthesising a source needs a mel vocoder (not 'none')")
                wav, _ = load_input_audio(item.source, target_rate=synth.sample_rate,
                                          what=str(item.source))
            return _Ready(item, mel=synth.mel(wav, _describe(item)))
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
            if _is_bug(exc):
                raise
            self._fail(summary, item, self.explain(exc))
            return None

    def _vocode(self, ready: list[_Ready], summary: BatchSummary) -> None:
        waiting = [r for r in ready if r.mel is not None]
        if not waiting:
            return
        synth = self.synth
        try:
            wavs = synth.vocode_frames([r.mel for r in waiting], max_batch_size=self.batch_size)
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory: fail these, go on
            if _is_bug(exc):
                raise
            for r in waiting:
                self._fail(summary, r.item, f"vocoder failed: {self.explain(exc)}")
                r.mel = None
            return
        for r, wav in zip(waiting, wavs):
            r.audio, r.sample_rate, r.mel = wav, synth.sample_rate, None

    def _write(self, ready: _Ready, summary: BatchSummary) -> None:
        from vocoder.audio import save_wav

        try:
            save_wav(self.output_path(ready.item), ready.audio, ready.sample_rate)
        except (HifisynthError, OSError) as exc:  # a full disk, a folder in the way...
            self._fail(summary, ready.item, self.explain(exc))
            return
        summary.done_ids.append(str(ready.item.id))
        summary.audio_seconds += len(ready.audio) / ready.sample_rate

    def _bar(self, total: int, initial: int):
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="utt", desc="synth batch", file=sys.stderr,
                    dynamic_ncols=True, mininterval=0.5, disable=None)  # a terminal only

    def _fail(self, summary: BatchSummary, item: Item, reason: str, quiet: bool = False) -> None:
        summary.failed.append({"id": item.id, "line": item.line, "reason": reason})
        if not quiet:
            label = f"'{item.id}'" if item.id is not None else "(no id)"
            self._say(f"synth: item {label} (line {item.line}) failed: {reason}")

    def _say(self, line: str) -> None:
        if self.report is not None:
            self.report(line)
        elif self.progress:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


def _voice_problem(item: Item) -> str | None:
    """Why the item's voice cannot be used, checked without loading any model."""
    if item.voice is None:
        return None
    from vocoder.audio import AUDIO_EXTENSIONS

    from .voices import MATCHING_SET_SUFFIXES

    for path in item.voice if isinstance(item.voice, list) else [item.voice]:
        if not path.exists():
            return f"unknown voice: {path} not found"
        if path.is_file() and path.suffix.lower() not in MATCHING_SET_SUFFIXES + AUDIO_EXTENSIONS:
            return (f"unknown voice: {path} is neither a saved voice (.pt) nor reference audio "
                    f"({', '.join(AUDIO_EXTENSIONS)})")
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name the file system refuses: not done
        return False


def _describe(item: Item) -> str:
    return f"item '{item.id}'" + (f" ({item.source})" if item.source is not None else "")


def _is_bug(exc: BaseException) -> bool:
    """True for exceptions that are programming errors rather than bad input or data."""
    if isinstance(exc, (ValueError, OSError, RuntimeError)):
        return False
    return not isinstance(exc, HifisynthError)


def default_summary_path(output_dir: str | os.PathLike, shard: tuple[int, int]) -> Path:
    """``OUT/summary.json``, or ``OUT/summary-shard-I-of-N.json`` for one of several shards."""
    index, count = shard
    name = "summary.json" if count == 1 else f"summary-shard-{index}-of-{count}.json"
    return Path(output_dir) / name


__all__ = ["BatchRunner", "BatchSummary", "Item", "ManifestError", "default_summary_path",
           "item_seed", "parse_shard", "read_manifest", "shard_from_env", "shard_items"]
