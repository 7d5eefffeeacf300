"""Tiny collections in the exact on-disk layouts, written from inline text."""

from __future__ import annotations

import pytest

QUERIES = {
    "en": {"q1": "cat sat mat", "q2": "dog ran far", "q3": "bird sings"},
    "sw": {"q1": "paka alikaa mkeka", "q2": "mbwa alikimbia mbali", "q3": "ndege anaimba"},
}
CANDIDATES = {
    "en": {"c1": "the cat sat on the mat", "c2": "a dog ran very far away", "c3": "the bird sings songs",
           "c4": "rain falls today"},
    "sw": {"c1": "paka alikaa juu ya mkeka", "c2": "mbwa alikimbia mbali sana", "c3": "ndege anaimba nyimbo",
           "c4": "mvua inanyesha leo"},
}
QRELS = "q1 0 c1 1\nq2 0 c2 2\nq3 0 c3 1\nq3 0 c4 0\n"


@pytest.fixture
def xquadr_root(tmp_path):
    """An XQuAD-R-layout set: queries/<lang>.tsv, candidates/<lang>.tsv, qrels.tsv."""
    root = tmp_path / "xquadr"
    for folder, texts in (("queries", QUERIES), ("candidates", CANDIDATES)):
        (root / folder).mkdir(parents=True)
        for lang, rows in texts.items():
            (root / folder / f"{lang}.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in rows.items()))
    (root / "qrels.tsv").write_text(QRELS)
    return root


@pytest.fixture
def wikiclir_root(tmp_path):
    """A WikiCLIR-layout set, direction sw -> en, with WikiCLIR's English queries file too."""
    base = tmp_path / "wikiclir" / "wiki-clir"
    (base / "english").mkdir(parents=True)
    (base / "swahili").mkdir()
    (base / "english" / "wiki_en.documents").write_text(
        "".join(f"{i}\tTitle {i}\t{t}\n" for i, t in CANDIDATES["en"].items())
    )
    (base / "english" / "wiki_en.queries").write_text("".join(f"{i}\t{t}\t{t}\n" for i, t in QUERIES["en"].items()))
    (base / "swahili" / "wiki_sw.queries").write_text("".join(f"{i}\t{t}\t{t}\n" for i, t in QUERIES["sw"].items()))
    (base / "swahili" / "sw2en.rel").write_text("q1\tc1\t2\nq2\tc2\t1\nq3\tc3\t1\nq3\tc4\t0\n")
    return base.parent
