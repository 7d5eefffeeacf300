"""A small multi-parallel triplet set for the hybrid tests (a uniquely named module: tests import it)."""

from __future__ import annotations

from optical.hybrid import TripletSet

LANGS = ("en", "sw", "fr")


def parallel_set(name: str = "bible", size: int = 40, langs=LANGS) -> TripletSet:
    queries = {lang: {f"q{i}": f"{lang} query {i}" for i in range(size)} for lang in langs}
    passages = {lang: {f"p{i}": f"{lang} passage {i}" for i in range(size + 1)} for lang in langs}
    triplets = [(f"q{i}", f"p{i}", f"p{i + 1}") for i in range(size)]
    return TripletSet(name, triplets, queries, passages)
