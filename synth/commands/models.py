"""``synth models list | download NAME... | path NAME``: the pretrained-model cache."""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Pretrained models known by name (see assets/models.json): list them, download them into the
cache, or print where a model's file is. Files are kept under $HIFISYNTH_HOME/models
(default ~/.cache/hifisynth/models); downloads resume where they stopped and are checked
against their sha256 before use. With HIFISYNTH_OFFLINE=1 nothing is downloaded: put the
file where 'synth models path NAME' says, or pass a file path wherever a model name is taken.
Exit codes: 0 done, 1 a model could not be fetched or is corrupt, 2 bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list, download and locate pretrained models",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions",
                                    parser_class=type(parser))
    actions.required = True

    p = actions.add_parser("list", help="the registry's models and their cache state",
                           description="List the registry's models: name, kind (with the "
                                       "vocoder family of other toolkits' models), size (~: "
                                       "approximate, before a download; the files' total, "
                                       "unpacked for an archive, once here), cache state "
                                       "(verified, cached, partial, missing) and licence.")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per model instead of a table")
    p.set_defaults(handler=_list)

    p = actions.add_parser("download", help="download models into the cache",
                           description="Download models into the cache (resuming a partial "
                                       "download) and check their sha256; prints each "
                                       "model's path.")
    p.add_argument("names", nargs="*", metavar="NAME", help="registry names")
    p.add_argument("--all", action="store_true", help="download every model in the registry")
    p.add_argument("--force", action="store_true",
                   help="download again even when a good copy is cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_download)

    p = actions.add_parser("path", help="print the local path of a model",
                           description="Print the path of a model's checked file. A file path "
                                       "is accepted too and printed as an absolute path.")
    p.add_argument("name", metavar="NAME", help="registry name or file path")
    p.add_argument("--download", action="store_true",
                   help="download the model first if it is not cached")
    p.add_argument("--verify", action="store_true",
                   help="re-hash the cached file even if it looks unchanged")
    p.set_defaults(handler=_path)


def _cache(progress: bool = True):
    from synth.models import ModelCache

    return ModelCache.from_env(progress=progress)


def _list(args: argparse.Namespace) -> int:
    from synth.models import format_size

    cache = _cache()
    rows = []
    for entry in cache.registry:
        status = cache.status(entry.name)
        size = status.bytes if status.state in ("verified", "cached") else entry.size
        rows.append({
            "name": entry.name, "kind": entry.kind, "family": entry.family, "size": size,
            "state": status.state, "approx_size": entry.approx_size,
            "partial_bytes": status.bytes if status.state == "partial" else None,
            "path": str(status.path), "sha256": entry.sha256 or status.sha256,
            "licence": entry.licence, "description": entry.description,
            "urls": list(entry.urls),
            "files": [{"filename": f.filename, "urls": list(f.urls), "sha256": f.sha256,
                       "size": f.size, "approx_size": f.approx_size, "unpack": f.unpack}
                      for f in entry.files],
        })
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    header = ("NAME", "KIND", "SIZE", "STATE", "LICENCE")
    table = [header] + [
        (r["name"], cache.registry.get(r["name"]).kind_text,
         format_size(r["size"]) if r["size"] is not None else cache.registry.get(r["name"]).size_text,
         r["state"] if r["state"] != "partial" else f"partial ({format_size(r['partial_bytes'])})",
         r["licence"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    note = " (offline: HIFISYNTH_OFFLINE is set)" if cache.offline else ""
    print(f"cache: {cache.home / 'models'}{note}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from synth.cli import CommandError, error_line
    from synth.models import ModelError

    cache = _cache(progress=not args.quiet)
    if args.all and args.names:
        raise CommandError("give model names or --all, not both")
    names = cache.registry.names() if args.all else args.names
    if not names:
        raise CommandError("give at least one model name (or --all); "
                           "'synth models list' shows them")
    for name in names:  # every name is checked before anything is downloaded
        cache.registry.get(name)
    code = 0
    for name in names:
        try:
            path = cache.download(name, force=True) if args.force else cache.get(name)
        except ModelError as exc:
            if len(names) == 1:
                raise
            print(error_line(exc), file=sys.stderr)
            code = max(code, exc.exit_code)
            continue
        print(path)
    return code


def _path(args: argparse.Namespace) -> int:
    cache = _cache()
    if args.verify and args.name in cache.registry:
        if args.download:
            cache.get(args.name)
        print(cache.verify(args.name))
        return 0
    print(cache.resolve(args.name, download=args.download).resolve())
    return 0
