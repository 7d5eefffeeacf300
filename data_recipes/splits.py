"""Which books feed which part of the data: bitext for training never shares a verse with evaluation.

Four disjoint groups of books:

- ``bitext``: every book not named below; the English <-> X bitext comes from these only.
- ``train``: retrieval training (the mMARCO-style training queries, qrels and triples).
- ``dev`` and ``test``: held-out New Testament books; the WikiCLIR-, mMARCO- and XQuAD-R-style
  evaluation sets come from these (New Testament cross-references map cleanly onto KJV
  numbering, ASSETS.md).

The default split is fixed and explicit (below); :func:`draw_split` draws another one from a
seed.  Every manifest records the split in force.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from data_recipes.bible import BOOK_NUMBER, BOOKS, NEW_TESTAMENT

SPLIT_NAMES = ("train", "dev", "test")


@dataclass(frozen=True)
class BookSplit:
    """Books for retrieval training, development and test; all other books give bitext."""

    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        named = [*self.train, *self.dev, *self.test]
        unknown = sorted(set(named) - set(BOOKS))
        if unknown:
            raise ValueError(f"unknown book codes {unknown}; known: {' '.join(BOOKS)}")
        if len(set(named)) != len(named):
            raise ValueError("a book is in more than one of train, dev and test")
        for name in SPLIT_NAMES:
            if not getattr(self, name):
                raise ValueError(f"the {name} split has no book")

    def books(self, name: str) -> tuple[str, ...]:
        """The books of ``name`` (``"bitext"``, ``"train"``, ``"dev"`` or ``"test"``), canonical order."""
        if name == "bitext":
            held = {*self.train, *self.dev, *self.test}
            return tuple(b for b in BOOKS if b not in held)
        if name not in SPLIT_NAMES:
            raise ValueError(f"split must be bitext, train, dev or test, got {name!r}")
        return tuple(sorted(getattr(self, name), key=BOOK_NUMBER.__getitem__))

    def split_of(self) -> dict[str, str]:
        """``{book: split name}`` for all 66 books."""
        return {book: name for name in ("bitext", *SPLIT_NAMES) for book in self.books(name)}

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(self.books(name)) for name in ("bitext", *SPLIT_NAMES)}


# Test: the Johannine books (1,415 verses, densely cross-referenced among themselves); dev: Hebrews
# and the general epistles (602); train: seven Pauline letters (1,630).  The Gospels of Matthew,
# Mark and Luke, Acts, the other Pauline letters and the whole Old Testament give bitext.
DEFAULT_SPLIT = BookSplit(
    train=("ROM", "1CO", "2CO", "GAL", "EPH", "PHP", "COL"),
    dev=("HEB", "JAS", "1PE", "2PE", "JUD"),
    test=("JHN", "1JN", "2JN", "3JN", "REV"),
)


def draw_split(
    verse_counts: Mapping[str, int],
    seed: int,
    *,
    pool: Sequence[str] = NEW_TESTAMENT,
    train_verses: int = 1600,
    dev_verses: int = 600,
    test_verses: int = 1400,
) -> BookSplit:
    """Draw a split from ``seed``: shuffle ``pool`` and fill test, dev, then train to their verse targets.

    Deterministic for a given seed, pool and verse counts.  Books left over give bitext.
    """
    books = list(pool)
    random.Random(f"book-split:{seed}").shuffle(books)
    groups: dict[str, list[str]] = {"test": [], "dev": [], "train": []}
    targets = {"test": test_verses, "dev": dev_verses, "train": train_verses}
    for name in ("test", "dev", "train"):
        while books and sum(verse_counts.get(b, 0) for b in groups[name]) < targets[name]:
            groups[name].append(books.pop(0))
    return BookSplit(**{name: tuple(group) for name, group in groups.items()})
