"""ir_datasets ids, read back from a small dataset registered with ir_datasets' own registry (offline)."""

from __future__ import annotations

import pytest

from optical.data import BitextPair, Document, Query
from optical.data.irds import irds_id, load_irds, load_irds_training, open_bitext
from optical.data.mmarco import open_training

ir_datasets = pytest.importorskip("ir_datasets", reason="the irds extra")

TEXTS = {
    "en": {"queries": "1\twhat is a cat\n2\twhere do dogs live\n3\tbirds\n",
           "docs": "a\tthe cat sat on the mat\nb\tdogs live in houses\nc\tbirds fly south\n"},
    "sw": {"queries": "1\tpaka ni nini\n2\tmbwa wanaishi wapi\n",
           "docs": "a\tpaka alikaa mkekani\nb\tmbwa wanaishi nyumbani\nc\tndege wanaruka kusini\n"},
}
QRELS = "1 0 a 1\n2 0 b 1\n"
DOCPAIRS = "1\ta\tb\n2\tb\tc\n"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """``optical-test/{en,sw}``: mMARCO-like, ids shared across the two languages."""
    from ir_datasets.formats import TrecQrels, TsvDocPairs, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    root = tmp_path_factory.mktemp("irds")
    for lang, texts in TEXTS.items():
        name = f"optical-test/{lang}"
        if name in ir_datasets.registry:
            continue
        for part, text in {**texts, "qrels": QRELS, "docpairs": DOCPAIRS}.items():
            (root / f"{lang}.{part}").write_text(text, encoding="utf-8")
        ir_datasets.registry.register(name, ir_datasets.Dataset(
            TsvDocs(LocalDownload(root / f"{lang}.docs"), lang=lang),
            TsvQueries(LocalDownload(root / f"{lang}.queries"), lang=lang),
            TrecQrels(LocalDownload(root / f"{lang}.qrels"), {1: "relevant"}),
            TsvDocPairs(LocalDownload(root / f"{lang}.docpairs")),
        ))
    return "irds:optical-test/{lang}"


def test_irds_ids_take_a_language():
    assert irds_id("irds:mmarco/v2/{lang}/train", "pt") == "mmarco/v2/pt/train"
    assert irds_id("irds:neuclir/1/fa") == "neuclir/1/fa"
    with pytest.raises(ValueError, match="needs a language code"):
        irds_id("irds:mmarco/v2/{lang}/train")
    with pytest.raises(ValueError, match="irds:<id>"):
        irds_id("mmarco/v2/pt/train")


def test_a_registered_dataset_loads_as_a_collection(registered):
    collection = load_irds("optical-test/sw")
    assert collection.name == "irds/optical-test/sw"
    assert collection.queries["1"] == Query("1", "paka ni nini", "sw")
    assert collection.documents["c"] == Document("c", "ndege wanaruka kusini", "sw")
    assert collection.qrels == {"1": {"a": 1}, "2": {"b": 1}}


def test_bitext_pairs_queries_by_their_shared_ids(registered):
    pairs = list(open_bitext(registered, "en", "sw"))
    assert pairs == [BitextPair("what is a cat", "paka ni nini", "en", "sw", "1"),
                     BitextPair("where do dogs live", "mbwa wanaishi wapi", "en", "sw", "2")]
    assert list(open_bitext("irds:optical-test/en,optical-test/sw", "en", "sw")) == pairs


def test_training_triplets_with_every_languages_texts(registered):
    texts = open_training(registered, ("en", "sw"), limit=1)
    assert texts.triplets == [("1", "a", "b")]
    assert texts.queries == {"en": {"1": "what is a cat"}, "sw": {"1": "paka ni nini"}}
    assert texts.passages["sw"] == {"a": "paka alikaa mkekani", "b": "mbwa wanaishi nyumbani"}
    with pytest.raises(ValueError, match="give the languages"):
        load_irds_training(registered, ())


def test_train_hybrid_reads_an_irds_spec(registered):
    from optical.hybrid.run import load_mmarco_triplet_set

    triplet_set = load_mmarco_triplet_set(registered, ("en", "sw"))
    assert triplet_set.languages == ("en", "sw") and len(triplet_set.triplets) == 2
    triplet_set.check()


def test_evaluate_takes_a_dataset_id(registered, tmp_path, capsys, monkeypatch):
    import torch

    from optical.cli import main

    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    try:
        assert main(["evaluate", "--dataset", "irds:optical-test/en", "--query-encoder", "bm25", "--metrics", "AP",
                     "--out", str(tmp_path / "out")]) == 0
    finally:
        torch.set_flush_denormal(False)  # main turns flush-to-zero on; later tests (hypothesis) need subnormals
    out = capsys.readouterr().out
    # Both queries find their one relevant passage first.
    assert "| en→en | 1.0000 |" in out
    assert (tmp_path / "out" / "runs" / "bm25" / "mono" / "en-en.run").is_file()
