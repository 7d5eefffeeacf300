"""The FreeDict recipe on a synthetic dictd dictionary and a synthetic .deb (no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile

import pytest

from data_recipes import freedict
from data_recipes.freedict import (
    DICTIONARIES,
    build_from_tree,
    clean_translations,
    dictd_number,
    extract_deb,
    package_licence,
    parse_entry,
    read_dictd,
)
from optical.data import read_dictionary

DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# (index headwords, entry text) in .dict order; the index is written sorted, as dictfmt does.
ENTRIES = [
    (["00databaseinfo"], "00-database-info\nSwahili-English test dictionary, GPL\n"),
    (["acha"], "acha /ˈatʃa/ <v>\n1.\nleave\n2.\nquit, stop doing sth\n"),
    (["afisa", "ofisa"], "afisa, ofisa /afˈisa/ /ofˈisa/ <n> (pl: {maafisa}, {maofisa})\n\nofficer\n"),
    (["baba mdogo"], "baba mdogo /bˈaba mdˈoɡo/ <n>\n\n(paternal) uncle\n father's younger brother\n\n"),
    (["karibu"], "karibu /karˈibu/ <adv>\n\nnear, close to (a place)\n"),
    (["karibu"], "karibu /karˈibu/ <interj>\n\nWelcome!\n; reply to '{Hodi}!'\n"),
    (
        ["maagano"],
        "maagano /mˌaaɡˈano/ <n>\n\n Plural of {agano}: 1. promise 2. agreement, contract. See also: ,\n {ahadi}\n\n",
    ),
    (
        ["vipande"],
        "vipande /vipˈande/ <n>\n\n Plural of {kipande}: 1. fragment, piece 2. part, share 3. bit, lump,\n piece\n\n",
    ),
    (["ngombe"], "ng'ombe /ˌenɟˈi ˈombe/ <n> [sg=pl]\n\ncow\n; cattle\n   See also: {fahali}\n\n"),
    (["nimeshapoa"], "nimeshapoa /nˌimeʃapˈoa/ <v, infl>\n\n(literally) I have already recovered for sure now\n"),
]
EXPECTED = {
    "acha": ["leave", "quit", "stop doing"],
    "afisa": ["officer"],
    "baba mdogo": ["uncle"],
    "karibu": ["near", "close to", "Welcome"],
    "maagano": ["promise", "agreement", "contract"],
    "ng'ombe": ["cow", "cattle"],
    "ofisa": ["officer"],
    "vipande": ["fragment", "piece", "part", "share", "bit", "lump"],
}


def b64(value: int) -> str:
    """dictd's base-64, written independently of the recipe: most significant digit first."""
    digits = DIGITS[value % 64]
    while value >= 64:
        value //= 64
        digits = DIGITS[value % 64] + digits
    return digits


def write_dictd(folder, name="freedict-swh-eng"):
    """Write ``<name>.index`` and ``<name>.dict.dz``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    blob, rows = b"", []
    for headwords, text in ENTRIES:
        raw = text.encode("utf-8")
        rows += [(h, b64(len(blob)), b64(len(raw))) for h in headwords]
        blob += raw
    index = folder / f"{name}.index"
    index.write_text("".join("\t".join(r) + "\n" for r in sorted(rows)), encoding="utf-8")
    dz = folder / f"{name}.dict.dz"
    with gzip.open(dz, "wb") as handle:
        handle.write(blob)
    return index, dz


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: FreeDict

Files: debian/*
Copyright: 2013-2022 Someone
License: GPL-3+

Files: swh-eng/*
Copyright: 2000-2022 FreeDict contributors
License: GPL-2+

Files: swh-pol/*
Copyright: 2000-2016 FreeDict contributors
License: GPL-3+ and GFDL-1.1+
"""
CONTROL = "Package: dict-freedict-swh-eng\nVersion: 2022.04.21-1\nArchitecture: all\nHomepage: https://freedict.org/\n"


def make_tree(root):
    write_dictd(root / "usr/share/dictd")
    doc = root / "usr/share/doc/dict-freedict-swh-eng"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")
    return root


def test_dictd_number():
    assert [dictd_number(s) for s in ("A", "B", "/", "BA", "DX+")] == [0, 1, 63, 64, 3 * 4096 + 23 * 64 + 62]
    with pytest.raises(ValueError, match="not a dictd base-64 digit"):
        dictd_number("a=")


def test_read_dictd_locates_every_entry_once_without_metadata(tmp_path):
    index, dz = write_dictd(tmp_path)
    entries = read_dictd(index, dz)
    assert [text for _, text in entries] == [text for _, text in ENTRIES[1:]]  # .dict order, metadata out
    assert [h for h, _ in entries][:3] == ["acha", "afisa", "baba mdogo"]


def test_read_dictd_bad_index_line_names_file_and_line(tmp_path):
    index, dz = write_dictd(tmp_path)
    lines = index.read_text(encoding="utf-8").splitlines()
    lines[2] = "acha\tB"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{index}, line 3: expected 3 tab-separated fields"):
        read_dictd(index, dz)
    lines[2] = "acha\tB\t////"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: entry at 1\\+16777215 ends past the end"):
        read_dictd(index, dz)


def test_parse_entry_headwords_senses_notes_and_plurals():
    assert parse_entry(ENTRIES[2][1]) == (["afisa", "ofisa"], ["officer"])
    assert parse_entry(ENTRIES[8][1], "ngombe") == (["ng'ombe"], ["cow", "cattle"])
    assert parse_entry(ENTRIES[7][1]) == (["vipande"], ["fragment", "piece", "part", "share", "bit", "lump"])
    assert parse_entry(ENTRIES[6][1]) == (["maagano"], ["promise", "agreement", "contract"])
    assert parse_entry(ENTRIES[3][1]) == (["baba mdogo"], ["uncle"])  # the one-space note is left out
    assert parse_entry("odd entry without markers\n\nword\n", "odd") == (["odd"], ["word"])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("(paternal) uncle", ["uncle"]),
        ("rarity (something unusual, rare, amazing)", ["rarity"]),
        ("quit, stop doing sth", ["quit", "stop doing"]),
        ("leave one another; separate, divorce.", ["leave one another", "separate", "divorce"]),
        ("Welcome!", ["Welcome"]),
        ("reply to '{Hodi}!'", []),
        ('reply to "shikamoo"', []),
        ("I'm ok, father's brother", ["I'm ok", "father's brother"]),
        ("stretch of East Africa coast where Swahili is spoken", []),
        ("the day before yesterday", ["the day before yesterday"]),
    ],
)
def test_clean_translations(line, expected):
    assert clean_translations(line) == expected


def test_package_licence_picks_the_dictionary_stanza():
    assert package_licence(COPYRIGHT, "swh-eng") == "GPL-2+"
    assert package_licence(COPYRIGHT, "swh-pol") == "GPL-3+ and GFDL-1.1+"
    assert package_licence("Files: *\nLicense: GPL-2\n", "xxx-eng") == "GPL-2"
    assert package_licence("Files: debian/*\nLicense: MIT\n", "xxx-eng") == ""


def test_build_from_tree_writes_tsv_and_manifest(tmp_path):
    tree = make_tree(tmp_path / "tree")
    deb = tmp_path / "dict-freedict-swh-eng_2022.04.21-1_all.deb"
    deb.write_bytes(b"not really a deb")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "manifest.json").write_text(json.dumps({"dictionaries": {"xxx-eng": {"kept": True}}}), encoding="utf-8")
    control = freedict.parse_control(CONTROL)
    path = build_from_tree(tree, control, DICTIONARIES["sw"], out, deb=deb)
    assert path == out / "swh-eng.tsv"
    assert read_dictionary(path) == EXPECTED
    assert path.read_text(encoding="utf-8").splitlines()[0] == "acha\tleave\tquit\tstop doing"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = manifest["dictionaries"]["swh-eng"]
    assert manifest["dictionaries"]["xxx-eng"] == {"kept": True}
    assert record["package"] == "dict-freedict-swh-eng"
    assert record["version"] == "2022.04.21-1"
    assert record["licence"] == "GPL-2+"
    assert record["deb"]["sha256"] == hashlib.sha256(b"not really a deb").hexdigest()
    assert record["counts"] == {"dictd_entries": 9, "headwords": 8, "translations": 20, "multiword_headwords": 1}
    tsv = path.read_bytes()
    assert manifest["files"]["swh-eng.tsv"] == {"bytes": len(tsv), "sha256": hashlib.sha256(tsv).hexdigest()}


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_deb(path, tree):
    """A Debian package (ar archive of debian-binary, control.tar.gz, data.tar.gz) holding ``tree``."""
    data = {f"./{p.relative_to(tree)}": p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _tar_gz({"./control": CONTROL.encode()})),
        ("data.tar.gz", _tar_gz(data)),
    ]
    raw = b"!<arch>\n"
    for name, payload in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(payload):<10}`\n".encode("ascii")
        raw += header + payload + (b"\n" if len(payload) % 2 else b"")
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("tool", ["python", "dpkg-deb"])
def test_extract_deb(tmp_path, monkeypatch, tool):
    if tool == "dpkg-deb" and shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    if tool == "python":
        monkeypatch.setattr(freedict.shutil, "which", lambda name: None)
    deb = make_deb(tmp_path / "x.deb", make_tree(tmp_path / "tree"))
    control = extract_deb(deb, tmp_path / "extracted")
    assert control["Package"] == "dict-freedict-swh-eng"
    assert control["Version"] == "2022.04.21-1"
    copied = tmp_path / "extracted/usr/share/dictd/freedict-swh-eng.index"
    assert copied.read_bytes() == (tmp_path / "tree/usr/share/dictd/freedict-swh-eng.index").read_bytes()


def test_main_with_local_deb(tmp_path, isolated_cache, capsys):
    deb = make_deb(tmp_path / "dict-freedict-swh-eng_2022.04.21-1_all.deb", make_tree(tmp_path / "tree"))
    freedict.main(["--deb", str(deb)])
    path = isolated_cache / "dictionaries" / "swh-eng.tsv"
    assert read_dictionary(path) == EXPECTED
    assert "8 headwords (dict-freedict-swh-eng 2022.04.21-1)" in capsys.readouterr().out
    record = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))["dictionaries"]["swh-eng"]
    assert record["deb"]["sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()


def test_missing_apt_get_says_how_to_get_the_deb(isolated_cache, monkeypatch):
    monkeypatch.setattr(freedict.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"apt-get is not available.*--deb PATH"):
        freedict.fetch_deb("dict-freedict-swh-eng")
    with pytest.raises(SystemExit) as stopped:
        freedict.main([])
    assert stopped.value.code == 1
