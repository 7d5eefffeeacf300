"""Model cards of saved students: front matter, content, and test results from an evaluate report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from optical.data.bitext import write_bitext_tsv
from optical.distill.run import DistillConfig, distill
from optical.distill.synthetic import VOCABULARY, synthetic_pairs
from optical.models.card import (
    ModelCardInfo,
    read_evaluations,
    read_model_card_info,
    update_model_card_evaluation,
    update_model_cards,
    write_model_card,
)
from optical.models.tiny import tiny_encoder


def split_card(text: str) -> tuple[dict, str]:
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert match, "the card must open with YAML front matter"
    return yaml.safe_load(match.group(1)), match.group(2)


def table_row(body: str, first_cell: str) -> list[str]:
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny student distilled for a few steps with a dev check, saved by the distiller."""
    root = tmp_path_factory.mktemp("card")
    write_bitext_tsv(root / "train.tsv", synthetic_pairs(48))
    write_bitext_tsv(root / "dev.tsv", synthetic_pairs(16, seed=7))
    config = DistillConfig(out=str(root / "run"), teacher="tiny-teacher", student="",
                           bitext=str(root / "train.tsv"), dev_bitext=str(root / "dev.tsv"), src_lang="en",
                           tgt_lang="sw", objective="ot+nce", eps=0.1, nce_weight=0.5, steps=4, batch_size=8,
                           grad_accum=2, lr=3e-3, quiet=True, seed=3)
    result = distill(config, teacher=tiny_encoder(VOCABULARY, seed=0), student=tiny_encoder(VOCABULARY, seed=1))
    folder = root / "run" / "model"
    info = ModelCardInfo.from_config(config, bitext_pairs=48, evaluations=read_evaluations(root / "run" / "eval.jsonl"),
                                     command="optical distill --objective ot+nce", base_model="tiny-student")
    write_model_card(folder, info)
    return folder, config, result


def test_front_matter_is_yaml_with_the_hub_fields(trained):
    folder, _, _ = trained
    meta, _ = split_card((folder / "README.md").read_text())
    assert meta["library_name"] == "sentence-transformers"
    assert meta["base_model"] == "tiny-student"
    assert meta["language"] == ["sw", "en"]
    assert meta["pipeline_tag"] == "sentence-similarity"
    assert {"sentence-transformers", "optimal-transport", "optical"} <= set(meta["tags"])


def test_card_describes_the_run(trained):
    folder, config, result = trained
    _, body = split_card((folder / "README.md").read_text())
    assert table_row(body, "teacher (frozen)")[1] == "`tiny-teacher`"
    assert table_row(body, "base model (student start)")[1] == "`tiny-student`"
    assert table_row(body, "objective")[1] == "`ot+nce`"
    assert table_row(body, "bitext")[1] == f"`{config.bitext}`: 48 pairs"
    assert table_row(body, "steps")[1] == "4 × 16 pairs (64 pairs seen)"  # batch 8, accumulation 2
    assert table_row(body, "seed")[1] == "3"
    assert table_row(body, "`eps`")[1] == "`0.1`" and table_row(body, "`nce_weight`")[1] == "`0.5`"
    assert table_row(body, "`lr`")[1] == "`0.003`"
    from optical import __version__

    assert f"- optical {__version__}" in body
    assert "optical distill --objective ot+nce" in body and "2301.12566" in body
    # the dev table: the run's first and last checks, as the training loop logged them
    first, last = result.evaluations[0], result.evaluations[-1]
    assert first["step"] == 0 and last["step"] == 4
    row = table_row(body, "bitext P@1")
    assert float(row[1]) == pytest.approx(first["bitext_p@1"], abs=5e-5)
    assert float(row[2]) == pytest.approx(last["bitext_p@1"], abs=5e-5)
    assert float(table_row(body, "parallel cosine")[2]) == pytest.approx(last["parallel_cosine"], abs=5e-5)
    assert "### Test" not in body


def test_card_folder_still_loads_in_sentence_transformers(trained):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    folder, _, _ = trained
    model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    assert model.encode(["esuoh"]).shape == (1, 32)


def evaluate_report(folder: Path, other: Path) -> dict:
    """What ``optical evaluate --out`` writes to results.json (report_to_dict), for three systems."""
    def row(system, setting, label, ap, ndcg):
        return {"system": system, "setting": setting, "query_lang": "sw", "doc_langs": ["en"], "label": label,
                "task": label, "run_file": None, "queries": 10,
                "aggregates": {"AP": ap, "nDCG@10": ndcg}, "per_query": {}}
    return {
        "collection": "wikiclir-test", "measures": ["AP", "nDCG@10"], "systems": ["zero-shot", "student", "bm25"],
        "macro": {"zero-shot": {"cross": {"AP": 0.1, "nDCG@10": 0.2}},
                  "student": {"cross": {"AP": 0.31, "nDCG@10": 0.42}},
                  "bm25": {"cross": {"AP": 0.05, "nDCG@10": 0.06}}},
        "results": [row("zero-shot", "cross", "sw→en", 0.1, 0.2), row("student", "cross", "sw→en", 0.31, 0.42),
                    row("bm25", "cross", "sw→en", 0.05, 0.06)],
        "info": {"config": {"query_encoder": [str(other), str(folder), "bm25"]}},
    }


def test_evaluate_report_adds_test_results_for_this_folder(trained, tmp_path):
    folder, _, _ = trained
    before = (folder / "README.md").read_text()
    other = tmp_path / "zero-shot"
    other.mkdir()
    out = tmp_path / "eval"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(evaluate_report(folder, other)))
    try:
        assert update_model_cards(out) == [folder / "README.md"]  # the zero-shot folder has no card
        meta, body = split_card((folder / "README.md").read_text())
        assert meta["pipeline_tag"] == "sentence-similarity"
        assert "### Test (`optical evaluate`)" in body and "`wikiclir-test`, system `student`" in body
        assert table_row(body, "queries→documents") == ["queries→documents", "AP", "nDCG@10"]
        assert table_row(body, "sw→en")[1:] == ["0.3100", "0.4200"]  # the student's row, not zero-shot's
        assert table_row(body, "bitext P@1") == table_row(split_card(before)[1], "bitext P@1")  # dev kept
        assert read_model_card_info(folder).test["system"] == "student"
        assert not (other / "README.md").exists()
        with pytest.raises(ValueError, match="no optical model card"):
            update_model_card_evaluation(other, out / "results.json")
        unrelated = tmp_path / "unrelated"
        write_model_card(unrelated, read_model_card_info(folder))
        with pytest.raises(ValueError, match="no system"):
            update_model_card_evaluation(unrelated, out / "results.json")
        with pytest.raises(ValueError, match="not in the report"):
            update_model_card_evaluation(folder, out / "results.json", system="missing")
    finally:
        (folder / "README.md").write_text(before)


def test_a_real_evaluate_report_reaches_the_card(trained, tmp_path):
    """``optical evaluate --out`` on a tiny XQuAD-R-layout set, then the card update reads its results.json."""
    from optical.eval.cli import EvaluateConfig, evaluate_command

    folder, _, _ = trained
    before = (folder / "README.md").read_text()
    root = tmp_path / "xquadr"
    texts = {"queries": {"en": ["cat sat", "dog ran", "bird sings"], "sw": ["paka alikaa", "mbwa alikimbia", "ndege"]},
             "candidates": {"en": ["the cat sat on the mat", "a dog ran far", "the bird sings", "rain falls"],
                            "sw": ["paka juu ya mkeka", "mbwa alikimbia mbali", "ndege anaimba", "mvua"]}}
    for kind, by_lang in texts.items():
        (root / kind).mkdir(parents=True)
        prefix = "q" if kind == "queries" else "c"
        for lang, rows in by_lang.items():
            (root / kind / f"{lang}.tsv").write_text("".join(f"{prefix}{i}\t{t}\n" for i, t in enumerate(rows)))
    (root / "qrels.tsv").write_text("q0 0 c0 1\nq1 0 c1 1\nq2 0 c2 1\n")
    out = tmp_path / "eval"
    config = EvaluateConfig(collection=root, query_encoder=(str(folder), "bm25"), system_name=("student", "lexical"),
                            settings=("cross",), metrics=("AP", "nDCG@10"), out=out, cache=False, bias=False,
                            device="cpu")
    try:
        assert evaluate_command(config) == 0
        assert update_model_cards(out) == [folder / "README.md"]
        report = json.loads((out / "results.json").read_text())
        rows = [r for r in report["results"] if r["system"] == "student"]
        _, body = split_card((folder / "README.md").read_text())
        for row in rows:
            cells = table_row(body, row["label"])
            assert [float(c) for c in cells[1:]] == pytest.approx(
                [row["aggregates"]["AP"], row["aggregates"]["nDCG@10"]], abs=5e-5)
        assert len(rows) >= 1
    finally:
        (folder / "README.md").write_text(before)
