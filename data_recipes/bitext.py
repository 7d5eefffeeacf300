"""Recipe: English <-> X bitext from the ``bitext`` books (never a verse of train, dev or test).

Writes, under ``<out>/bitext/``::

    en-<x>.tsv       English<TAB>X, one verse (or merged verses) a line   (bitext books)
    en-<x>.ids       the line-aligned verse ids (JHN.3.16, GEN.1.17-18)
    en-<x>.dev.tsv   the same from the dev books, to watch alignment during training
    en-<x>.dev.ids
    manifest.json

Each pair is aligned for its two languages alone (a verse Bengali merged with the next is
joined in English too); read with ``optical.data.read_bitext_tsv(path, "en", x, ids_path=...)``.
"""

from __future__ import annotations

from pathlib import Path

from data_recipes._common import write_manifest
from data_recipes.bible import align_units
from data_recipes.corpus import BibleCorpus, print_table, staged_directory
from optical.data import BitextPair, write_bitext_tsv

LAYOUT = "TSV src<TAB>tgt (src English) with a line-aligned .ids file of verse ids"


def build_bitext(corpus: BibleCorpus) -> Path:
    """Write the bitext of every configured language and its manifest; return the directory."""
    final = corpus.config.output_root() / "bitext"
    counts: dict[str, dict[str, int]] = {}
    alignment: dict[str, dict] = {}
    with staged_directory(final) as out:
        for lang in corpus.config.langs:
            pair_langs = [corpus.languages["en"], corpus.languages[lang]]
            counts[lang] = {}
            for part, books, suffix in (("train", corpus.split.books("bitext"), ""), ("dev", corpus.split.dev, ".dev")):
                units, texts, stats = align_units(corpus.verses_of(books), pair_langs)
                pairs = (BitextPair(texts["en"][u.uid], texts[lang][u.uid], "en", lang, u.uid) for u in units)
                written = write_bitext_tsv(
                    out / f"en-{lang}{suffix}.tsv", pairs, ids_path=out / f"en-{lang}{suffix}.ids"
                )
                counts[lang][f"{part}_pairs"] = written
                if part == "train":
                    counts[lang]["merged"] = stats.merged_units
                    counts[lang]["dropped"] = stats.dropped_units
                    alignment[lang] = stats.as_dict()
        manifest = corpus.manifest_base("bitext", LAYOUT)
        manifest["counts"] = counts
        manifest["alignment"] = alignment
        write_manifest(out, manifest)
    print_table(f"bitext -> {final}", counts)
    return final
