"""``optical quickstart`` end to end on the synthetic Bible sources and a tiny encoder (no downloads)."""

from __future__ import annotations

import pytest
import pytrec_eval
from bible_fixtures import SYNTHETIC_SPLIT

from data_recipes.build import build
from data_recipes.corpus import BibleRecipeConfig
from optical.data.trec import read_qrels, read_trec_run
from optical.models.tiny import tiny_encoder
from optical.quickstart import QuickstartConfig, run_quickstart


@pytest.fixture
def bible(tmp_path, synthetic_sources):
    config = BibleRecipeConfig(langs=("sw", "fr"), split=SYNTHETIC_SPLIT, train_queries=4, dev_queries=4,
                               test_queries=6, window=2, out_dir=str(tmp_path / "bible"),
                               db_path=str(synthetic_sources[0]), crossrefs_path=str(synthetic_sources[1]))
    build(["bitext", "wikiclir"], ["dev", "test"], config)
    return tmp_path / "bible"


def test_quickstart_distils_evaluates_and_saves_what_it_prints(tmp_path, bible, isolated_cache) -> None:
    words = sorted({w for line in (bible / "bitext" / "en-sw.tsv").read_text().split() for w in [line.lower()]})
    model = tiny_encoder(words[:400]).save(tmp_path / "tiny")
    lines: list[str] = []
    config = QuickstartConfig(model=str(model), data=str(bible), steps=3, batch_size=4, pairs=16,
                              out=str(tmp_path / "out"))
    table = run_quickstart(config, echo=lines.append)
    distilled = f"distilled student ({config.objective})"
    assert [line[:5] for line in lines if line.startswith("[")] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert list(table) == ["zero-shot student", distilled, "ceiling: teacher, English query"]
    assert (tmp_path / "out" / "model" / "optical_encoder.json").exists()
    # The printed MAP is what trec_eval computes from the saved run and the collection's judgments.
    qrels = read_qrels(bible / "wikiclir" / "test" / "wiki-clir" / "swahili" / "sw2en.rel")
    run_path = tmp_path / "out" / "eval" / "runs" / distilled / "cross" / "sw-en.run"
    run = {q: {d: s for d, s in ranking} for q, ranking in read_trec_run(run_path).items()}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run)
    expected = sum(v["map"] for v in per_query.values()) / len(qrels)
    assert table[distilled]["AP"] == pytest.approx(expected, abs=1e-9)
    assert any("MAP" in line for line in lines)


def test_quickstart_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="split"):
        QuickstartConfig(split="train")
    with pytest.raises(ValueError, match="pairs"):
        QuickstartConfig(pairs=2, batch_size=16)


def test_quickstart_with_a_language_it_has_no_data_for_fails_before_building(tmp_path, capsys) -> None:
    from optical.cli import main

    assert main(["quickstart", "--lang", "xx", "--data", str(tmp_path / "bible"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"optical quickstart: error: no data for this language in {tmp_path / 'bible'}")
    assert "--verse-tsv xx=VERSES.tsv" in err and err.endswith("--lang xx") and len(err.splitlines()) == 1
    assert not (tmp_path / "bible").exists() and not (tmp_path / "run").exists()  # nothing built, nothing written
