"""Recipe: a FreeDict bilingual dictionary as a plain TSV: ``python -m data_recipes.freedict``.

The dictionary-translation CLIR baseline translates a query word by word
(:func:`optical.data.translate`); this recipe builds the word list it reads.

Source: the Debian package ``dict-freedict-swh-eng`` (FreeDict Swahili-English, GPL-2+), fetched
with ``apt-get download`` (nothing is installed) into ``$OPTICAL_CACHE/debs`` once, or given with
``--deb PATH``.  The package holds the dictionary in dictd format:

- ``*.index``: ``headword<TAB>offset<TAB>length`` lines, offset and length in dictd's base-64
  (digits ``A-Za-z0-9+/``, most significant first).  dictfmt folds these headwords (lowercase,
  punctuation dropped: ``ng'ombe`` is indexed as ``ngombe``), so the index only locates entries;
- ``*.dict.dz``: dictzip, a gzip-compatible file holding the entries' text.

An entry as FreeDict's TEI-to-dictd conversion writes it::

    agiza /aɡˈiza/ <v, caus>            headword(s) (", " between variants), IPA, part of speech
    1.                                  sense number (absent when there is one sense)
    order, command, instruct            a translation line: comma-separated equivalents
    ; direct, instruct, give ...        "; " starts a further group of the same sense
     period between noon and 2 p.m.     one space: a note or definition (left out)
       See also: {ahadi}                three spaces: a cross-reference (left out)
     Plural of {chaguo}: 1. choice 2.   a plural form: the equivalents of its singular, possibly
     wrapped onto further lines         wrapped onto further one-space lines, are kept

Output, under ``--out`` (default ``$OPTICAL_CACHE/dictionaries``)::

    swh-eng.tsv      headword<TAB>translation1<TAB>translation2...  (sorted by headword)
    manifest.json    per dictionary: package, version, sha256 of the .deb, licence, counts;
                     and every file's size and sha256

Headwords are lowercased (apostrophes kept: ``ng'ombe``); a headword with several entries
(homographs) gets their translations in dictionary order, repeats removed.  Translations are
cleaned by :func:`clean_translations`.  Read the TSV with :func:`optical.data.read_dictionary`.

The built files are GPL-licensed data: keep them in the cache, never in git.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_recipes._common import atomic_write, sha256, write_manifest
from optical.cache import cache_dir


@dataclass(frozen=True)
class FreeDict:
    """One FreeDict dictionary: its Debian package and the name of its files."""

    name: str
    package: str


DICTIONARIES = {"sw": FreeDict("swh-eng", "dict-freedict-swh-eng")}
DICTD_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAX_WORDS = 4  # a cleaned translation longer than this is a definition, not an equivalent
_QUOTED = re.compile(r"[{}\"]|(?:^|\s)'|'(?:\s|$|[!?.])")
_FILLERS = {"sth", "sb", "smb", "smth", "etc", "something", "somebody", "someone"}


# --------------------------------------------------------------------------- dictd format


def dictd_number(text: str) -> int:
    """Decode a dictd base-64 number (``"B"`` -> 1, ``"BA"`` -> 64); ``ValueError`` on a bad digit."""
    if not text:
        raise ValueError("empty dictd number")
    value = 0
    for char in text:
        digit = DICTD_DIGITS.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not a dictd base-64 digit in {text!r}")
        value = value * 64 + digit
    return value


def is_metadata(headword: str) -> bool:
    """Whether ``headword`` is one of dictd's ``00-database-*`` entries (folded: ``00database*``)."""
    return headword.lower().replace("-", "").startswith("00database")


def read_dictd(index_path: Path, dict_path: Path) -> list[tuple[str, str]]:
    """``(index headword, entry text)`` of every entry, in the order of the entries in the .dict file.

    Metadata entries are left out; an entry indexed under several headwords (variants) comes
    once, with its first index headword.  A malformed index line raises ``ValueError`` naming the
    file and line.
    """
    with gzip.open(dict_path, "rb") if dict_path.suffix == ".dz" else open(dict_path, "rb") as handle:
        data = handle.read()
    located: dict[tuple[int, int], str] = {}
    with open(index_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            try:
                if len(fields) != 3:
                    raise ValueError(f"expected 3 tab-separated fields, found {len(fields)}")
                offset, length = dictd_number(fields[1]), dictd_number(fields[2])
                if offset + length > len(data):
                    raise ValueError(f"entry at {offset}+{length} ends past the end of {dict_path.name}")
            except ValueError as error:
                raise ValueError(f"{index_path}, line {number}: {error}") from None
            if not is_metadata(fields[0]):
                located.setdefault((offset, length), fields[0])
    return [
        (headword, data[offset : offset + length].decode("utf-8"))
        for (offset, length), headword in sorted(located.items())
    ]


# --------------------------------------------------------------------------- entries


def parse_entry(text: str, index_headword: str = "") -> tuple[list[str], list[str]]:
    """``(headwords, translations)`` of one entry (format in the module docstring).

    Headwords are the comma-separated forms before the IPA or part of speech on the first line,
    lowercased (``index_headword`` if that line has no such marker).  Translations are the cleaned
    equivalents of the translation lines and of a ``Plural of {x}: ...`` note, in order.
    """
    lines = text.split("\n")
    head = re.split(r"\s+[/<]", lines[0], maxsplit=1)
    if len(head) == 2 and head[0].strip():
        headwords = [h.strip().lower() for h in head[0].split(",") if h.strip()]
    else:
        headwords = [index_headword.lower()] if index_headword else []
    translations: list[str] = []
    plural: list[str] | None = None
    for line in lines[1:]:
        if plural is not None:
            if line.startswith(" ") and not line.startswith("   ") and line.strip():
                plural.append(line.strip())
                continue
            translations += _plural_translations(" ".join(plural))
            plural = None
        if not line.strip() or re.fullmatch(r"\d+\.", line.strip()):
            continue
        if line.startswith(" "):
            if re.match(r" Plural of \{[^}]*\}:", line):
                plural = [line.strip()]
            continue  # a note, definition or cross-reference
        translations += clean_translations(line.lstrip(";").strip())
    if plural is not None:
        translations += _plural_translations(" ".join(plural))
    return headwords, list(dict.fromkeys(translations))


def _plural_translations(note: str) -> list[str]:
    """The equivalents of ``Plural of {x}: 1. a, b 2. c. See also: {y}``."""
    body = note.split(":", 1)[1]
    body = re.split(r"\b(?:See also|Synonyms?):", body)[0]
    found: list[str] = []
    for sense in re.split(r"(?:^|\s)\d+\.(?=\s|$)", body):
        found += clean_translations(sense)
    return found


def clean_translations(text: str) -> list[str]:
    """Split a translation line into short English equivalents.

    Parenthesised remarks are removed, the rest is split at commas and semicolons, placeholder
    words (``sth``, ``sb``, ``etc``, ...) are dropped, whitespace and edge punctuation are trimmed.
    An equivalent is left out if it has more than ``MAX_WORDS`` words (a definition) or quotes or
    cross-references a Swahili word (``reply to '{Hodi}!'``, ``reply to "shikamoo"``).

    Examples
    --------
    >>> clean_translations("(paternal) uncle")
    ['uncle']
    >>> clean_translations("quit, stop doing sth")
    ['quit', 'stop doing']
    """
    previous = None
    while previous != text:  # nested parentheses
        previous, text = text, re.sub(r"\([^()]*\)", " ", text)
    text = text.replace("(", " ").replace(")", " ")
    found = []
    for part in re.split(r"[,;]", text):
        if _QUOTED.search(part):
            continue
        words = [w for w in part.split() if w.lower().strip(".") not in _FILLERS]
        phrase = " ".join(words).strip(' .:!?"')
        if phrase and len(phrase.split()) <= MAX_WORDS:
            found.append(phrase)
    return found


def parse_dictionary(entries: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """``{headword: translations}`` from ``(index headword, entry text)`` pairs (homographs merged).

    Headwords with no usable translation are left out.
    """
    merged: dict[str, list[str]] = {}
    for index_headword, text in entries:
        headwords, translations = parse_entry(text, index_headword)
        for headword in headwords:
            known = merged.setdefault(headword, [])
            known += [t for t in translations if t not in known]
    return {h: t for h, t in sorted(merged.items()) if t}


# --------------------------------------------------------------------------- the package


def fetch_deb(package: str) -> Path:
    """``apt-get download package`` into ``$OPTICAL_CACHE/debs`` (once); return the .deb."""
    target = cache_dir("debs")
    found = sorted(target.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    how = (
        f"get the file by hand (e.g. `apt-get download {package}` on a Debian or Ubuntu machine, or "
        f"from https://packages.debian.org/stable/{package}) and pass it with --deb PATH"
    )
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"apt-get is not available to download {package}: {how}")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            raise RuntimeError(f"`apt-get download {package}` failed:\n{result.stderr.strip()}\n{how}")
        return Path(shutil.move(str(debs[-1]), target / debs[-1].name))


def _ar_members(deb: Path) -> dict[str, bytes]:
    """The members of a Debian ``ar`` archive by name."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a Debian package (no ar header)")
    members, position = {}, 8
    while position + 60 <= len(raw):
        header = raw[position : position + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = raw[position + 60 : position + 60 + size]
        position += 60 + size + (size % 2)
    return members


def _untar(payload: bytes, destination: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(payload)) as archive:
        archive.extractall(destination, filter="data")


def parse_control(text: str) -> dict[str, str]:
    """The fields of a Debian control paragraph (continuation lines joined with newlines)."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key is not None:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def extract_deb(deb: Path, destination: Path) -> dict[str, str]:
    """Extract ``deb`` into ``destination`` and return its control fields.

    Uses ``dpkg-deb`` when present, otherwise reads the ``ar`` archive and its tarballs in Python
    (``.tar.gz`` and ``.tar.xz``; ``.tar.zst`` needs dpkg-deb).
    """
    if shutil.which("dpkg-deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(destination)], check=True, capture_output=True)
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True)
        return parse_control(control.stdout)
    members = _ar_members(deb)
    data = next((v for k, v in members.items() if k.startswith("data.tar")), None)
    control = next((v for k, v in members.items() if k.startswith("control.tar")), None)
    if data is None or control is None:
        raise ValueError(f"{deb}: no data.tar.* or control.tar.* member")
    _untar(data, destination)
    with tempfile.TemporaryDirectory() as tmp:
        _untar(control, Path(tmp))
        return parse_control((Path(tmp) / "control").read_text(encoding="utf-8"))


def package_licence(copyright_text: str, name: str) -> str:
    """The ``License:`` of the ``Files: <name>/*`` stanza of a Debian copyright file ("" if none).

    Falls back to the first stanza whose ``Files:`` is ``*``.
    """
    stanzas = [parse_control(s) for s in re.split(r"\n\s*\n", copyright_text)]
    for pattern in (f"{name}/*", "*"):
        for stanza in stanzas:
            if pattern in stanza.get("Files", "").split() and "License" in stanza:
                return stanza["License"].split("\n")[0]
    return ""


def _find_dictd(tree: Path, name: str) -> tuple[Path, Path]:
    indexes = sorted(tree.rglob(f"*{name}.index")) or sorted(tree.rglob("*.index"))
    for index in indexes:
        stem = index.name[: -len(".index")]
        for suffix in (".dict.dz", ".dict"):
            if (index.parent / f"{stem}{suffix}").is_file():
                return index, index.parent / f"{stem}{suffix}"
    raise FileNotFoundError(f"{tree}: no dictd *.index with a matching *.dict.dz inside the package")


def write_dictionary(path: Path, dictionary: dict[str, list[str]]) -> None:
    """Write ``headword<TAB>translation...`` lines (atomically)."""
    with atomic_write(path) as handle:
        for headword, translations in dictionary.items():
            fields = [headword, *translations]
            if any("\t" in f or "\n" in f for f in fields):
                raise ValueError(f"cannot write {headword!r}: a tab or a line break in a field")
            handle.write("\t".join(fields) + "\n")


def build_from_tree(tree: Path, control: dict[str, str], spec: FreeDict, out: Path, *, deb: Path | None = None) -> Path:
    """Parse the extracted package ``tree`` and write ``<out>/<name>.tsv`` and the manifest.

    Parameters
    ----------
    tree
        The package's files as extracted (``usr/share/dictd/...``, ``usr/share/doc/...``).
    control
        The package's control fields (``Package``, ``Version``, ...).
    spec
        Which dictionary.
    out
        Output directory; a ``manifest.json`` already there keeps its other dictionaries.
    deb
        The ``.deb`` read (its name and sha256 go to the manifest).

    Returns
    -------
    Path
        The TSV written.
    """
    index, dict_file = _find_dictd(tree, spec.name)
    entries = read_dictd(index, dict_file)
    dictionary = parse_dictionary(entries)
    target = out / f"{spec.name}.tsv"
    write_dictionary(target, dictionary)
    copyrights = sorted(tree.rglob("usr/share/doc/*/copyright"))
    licence = package_licence(copyrights[0].read_text(encoding="utf-8"), spec.name) if copyrights else ""
    record = {
        "package": control.get("Package", spec.package),
        "version": control.get("Version", ""),
        "homepage": control.get("Homepage", ""),
        "deb": None if deb is None else {"file": deb.name, "sha256": sha256(deb), "bytes": deb.stat().st_size},
        "dictd_files": [str(index.relative_to(tree)), str(dict_file.relative_to(tree))],
        "licence": licence or "unknown (no copyright file in the package)",
        "licence_note": "FreeDict data: GPL; keep the built file in the cache, never commit or redistribute it",
        "counts": {
            "dictd_entries": len(entries),
            "headwords": len(dictionary),
            "translations": sum(len(t) for t in dictionary.values()),
            "multiword_headwords": sum(" " in h for h in dictionary),
        },
        "file": target.name,
    }
    previous = out / "manifest.json"
    known = json.loads(previous.read_text(encoding="utf-8")).get("dictionaries", {}) if previous.is_file() else {}
    manifest = {
        "recipe": "data_recipes.freedict",
        "format": "headword<TAB>translation1<TAB>translation2... (read with optical.data.read_dictionary)",
        "dictionaries": {**known, spec.name: record},
    }
    write_manifest(out, manifest)
    return target


def build_freedict(lang: str = "sw", *, out: Path | None = None, deb: Path | None = None) -> Path:
    """Fetch (or take ``deb``), extract and convert the FreeDict dictionary of ``lang``; return the TSV."""
    if lang not in DICTIONARIES:
        raise ValueError(f"no FreeDict dictionary known for {lang!r}; known: {', '.join(DICTIONARIES)}")
    spec = DICTIONARIES[lang]
    deb = Path(deb) if deb is not None else fetch_deb(spec.package)
    out = Path(out) if out is not None else cache_dir("dictionaries")
    with tempfile.TemporaryDirectory() as tmp:
        control = extract_deb(deb, Path(tmp))
        return build_from_tree(Path(tmp), control, spec, out, deb=deb)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_recipes.freedict",
        description="Build a FreeDict X-English dictionary TSV from its Debian package.",
    )
    parser.add_argument("--lang", default="sw", choices=sorted(DICTIONARIES), help="source language")
    parser.add_argument("--out", default=None, help="output directory (default $OPTICAL_CACHE/dictionaries)")
    parser.add_argument("--deb", default=None, help="use this .deb instead of `apt-get download`")
    args = parser.parse_args(argv)
    try:
        path = build_freedict(args.lang, out=args.out, deb=args.deb)
    except (RuntimeError, FileNotFoundError, ValueError) as error:
        parser.exit(1, f"error: {error}\n")
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    record = manifest["dictionaries"][path.stem]
    print(f"wrote {path}: {record['counts']['headwords']} headwords ({record['package']} {record['version']})")


if __name__ == "__main__":
    main()
