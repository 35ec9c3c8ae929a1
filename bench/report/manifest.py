"""What `bench report` wrote, kept in its output folder: `<out>/.bench-report-<suite>.json` lists, per format, each
file of the suite's report (its path under the folder, and its sha256) and the results folders the report was made
from, relative to the output folder (so that a committed report's manifest reads the same in every clone).

A report replaces only the files its manifest lists, and removes those it no longer makes; a file it did not write,
or one changed since it wrote it, is never deleted, and is overwritten only with --force. Files whose bytes are the
ones the report writes anyway are not in the way (replacing them loses nothing). A report made from other results
is replaced only with --force. The manifest is read as possibly damaged or hostile: an entry that is not the suite's
own file (`<suite>.<ext>`, or under `<suite>/` for the markdown's pictures) makes the whole manifest unusable.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.errors import UsageError

MANIFEST_VERSION = 1
PICTURES_OF = ".md"  # the format whose report includes the picture folder `<suite>/`
SHA256_HEX = 64


@dataclass
class Part:
    """One format's files of a report (path under the output folder → sha256) and the results folders it was made
    from (relative to the output folder)."""

    results: list[str]
    files: dict[str, str]


Manifest = dict[str, Part]  # by the format's suffix (".md", ".html", ".tex", ".csv")


def manifest_path(out: Path, suite: str) -> Path:
    return Path(out) / f".bench-report-{suite}.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def results_named(out: Path, results: list[Path]) -> list[str]:
    """The results folders as a manifest names them: each relative to the output folder, both resolved."""
    home = Path(out).expanduser().resolve()
    return [Path(os.path.relpath(Path(r).expanduser().resolve(), home)).as_posix() for r in results]


def shown(out: Path, named: list[str]) -> str:
    """Results folders a manifest names, as the user can type them from here."""
    return ", ".join(os.path.normpath(Path(out) / name) for name in named)


def is_own(suite: str, suffix: str, name: str) -> bool:
    """Whether a manifest of `suite` may list `name` in its `suffix` part: the report's own file, or (markdown) one
    under its picture folder; never an absolute path, nor one with `..`."""
    parts = name.split("/")
    if PurePosixPath(name).is_absolute() or any(part in ("", ".", "..") for part in parts):
        return False
    return name == f"{suite}{suffix}" or (suffix == PICTURES_OF and len(parts) > 1 and parts[0] == suite)


def part_of(suite: str, suffix: str, entry: object) -> Part:
    """One part of a manifest as read back, checked entry by entry (ValueError saying what is wrong)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("results"), list) \
            or not isinstance(entry.get("files"), dict):
        raise ValueError(f"its '{suffix}' entry is not {{\"results\": [...], \"files\": {{...}}}}")
    if not all(isinstance(r, str) and r for r in entry["results"]):
        raise ValueError(f"its '{suffix}' results are not folder names")
    for name, digest in entry["files"].items():
        if not is_own(suite, suffix, name):
            raise ValueError(f"it lists '{name}', which is not a file of the {suite}{suffix} report")
        if not (isinstance(digest, str) and len(digest) == SHA256_HEX and all(c in "0123456789abcdef" for c in digest)):
            raise ValueError(f"its sha256 of '{name}' is not one")
    return Part(list(entry["results"]), dict(entry["files"]))


def read_manifest(out: Path, suite: str) -> Manifest:
    """The manifest of `suite`'s report in `out` ({} when there is none); ValueError saying what is wrong with a
    damaged one."""
    path = manifest_path(out, suite)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"it cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION or data.get("suite") != suite \
            or not isinstance(data.get("parts"), dict):
        raise ValueError(f"it is not a version-{MANIFEST_VERSION} manifest of suite '{suite}'")
    return {suffix: part_of(suite, suffix, entry) for suffix, entry in data["parts"].items()}


def previous_manifest(out: Path, suite: str, force: bool) -> Manifest:
    """The manifest of the report `out` holds; a damaged one is refused (one line), or with --force taken as none:
    the new report overwrites what it writes and deletes nothing."""
    try:
        return read_manifest(out, suite)
    except ValueError as exc:
        if force:
            return {}
        raise UsageError(f"{manifest_path(out, suite)} does not say which files bench report wrote there ({exc}): "
                         "remove it and check the folder by hand, or add --force to write the report anyway (it "
                         "overwrites its own files' names and deletes nothing)") from None


def refuse_other_results(out: Path, suite: str, old: Manifest, suffixes: tuple[str, ...], made_from: list[str]
                         ) -> None:
    """One line, when a format being written replaces a report (one of its files still there) that was made from
    other results."""
    for suffix in suffixes:
        part = old.get(suffix)
        if part is None or {os.path.normpath(r) for r in part.results} == {os.path.normpath(r) for r in made_from}:
            continue
        if any((Path(out) / name).exists() for name in part.files):
            raise UsageError(f"{Path(out) / (suite + suffix)} was made from {shown(out, part.results)}, not "
                             f"{shown(out, made_from)}: write this report elsewhere (--out DIR), or add --force to "
                             "replace it")


def staged(staging: Path, suite: str, suffixes: tuple[str, ...], made_from: list[str]) -> Manifest:
    """The manifest of the report built in `staging`: per format, its file and (markdown) its pictures."""
    parts = {}
    for suffix in suffixes:
        names = [f"{suite}{suffix}"]
        if suffix == PICTURES_OF and (staging / suite).is_dir():
            names += sorted(p.relative_to(staging).as_posix() for p in (staging / suite).rglob("*") if p.is_file())
        parts[suffix] = Part(list(made_from), {name: sha256_of(staging / name) for name in names})
    return parts


def is_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def in_the_way(out: Path, suite: str, new: Manifest, old: Manifest) -> list[tuple[str, str]]:
    """The files the new report would overwrite that it may not: (path under `out`, why); not those whose bytes are
    the new ones, nor those the last report wrote, unchanged since."""
    listed = {name: digest for part in old.values() for name, digest in part.files.items()}
    found = []
    for name, digest in ((n, d) for part in new.values() for n, d in part.files.items()):
        path = Path(out) / name
        if not (path.exists() or path.is_symlink()):
            continue
        if not path.is_file():
            found.append((name, "is not a file"))
        elif (now := sha256_of(path)) != digest and now != listed.get(name):
            found.append((name, "changed since bench report wrote it" if name in listed else
                          f"was not written by bench report (not listed in {manifest_path(out, suite).name}: made "
                          "by hand, or by an older bench)"))
    return found


def refuse_in_the_way(out: Path, suite: str, new: Manifest, old: Manifest, force: bool) -> None:
    """One line naming the first file the new report may not overwrite (and how many more): every one of them
    without --force; with it, only what cannot be replaced by a file (a folder) or leads outside `out` (a link)."""
    home = Path(out).resolve()
    outside = [(name, f"leads outside {out} (a link)") for part in new.values() for name in part.files
               if not is_inside((Path(out) / name).parent.resolve(), home)]
    found = outside + [(name, why) for name, why in in_the_way(out, suite, new, old)
                       if not force or why == "is not a file"]
    if found:
        (name, why), more = found[0], f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        forcible = not force and why != "is not a file" and not outside
        fix = "move it away or write this report elsewhere (--out DIR)" + (", or add --force to replace it"
                                                                           if forcible else "")
        raise UsageError(f"{Path(out) / name} {why}{more}: {fix}")


def write_manifest(out: Path, suite: str, parts: Manifest) -> None:
    """The manifest, replaced whole (written beside it, then renamed over it)."""
    data = {"version": MANIFEST_VERSION, "suite": suite,
            "parts": {suffix: {"results": part.results, "files": dict(sorted(part.files.items()))}
                      for suffix, part in sorted(parts.items())}}
    final = manifest_path(out, suite)
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")  # the user's umask applies, as to the report's files
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, final)


def prune_empty(folder: Path, out: Path) -> None:
    """Remove `folder` and its parents up to `out` (kept) while they are empty."""
    while folder != out and is_inside(folder, out):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def commit(staging: Path, out: Path, suite: str, new: Manifest, old: Manifest) -> None:
    """Move the staged report into `out`, then remove the files of the formats written that the old manifest
    listed, the new report does not make, and nobody changed since. The manifest first lists both reports' files
    (a crash part-way leaves every file either wrote owned), then the new one's."""
    stale = {suffix: {name: digest for name, digest in old[suffix].files.items() if name not in part.files}
             for suffix, part in new.items() if suffix in old}
    kept = {suffix: part for suffix, part in old.items() if suffix not in new}
    both = {suffix: Part(part.results, {**stale.get(suffix, {}), **part.files}) for suffix, part in new.items()}
    write_manifest(out, suite, {**kept, **both})
    for name in (n for part in new.values() for n in part.files):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / name)
    home = out.resolve()
    for name, digest in ((n, d) for files in stale.values() for n, d in files.items()):
        path = out / name
        if path.is_file() and not path.is_symlink() and is_inside(path.parent.resolve(), home) \
                and sha256_of(path) == digest:
            path.unlink()
            prune_empty(path.parent, out)
    write_manifest(out, suite, {**kept, **new})
