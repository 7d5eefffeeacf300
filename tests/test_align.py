"""``optical align`` on tiny encoders, against an independent float64 POT computation."""

from __future__ import annotations

import re
import sys

import numpy as np
import ot as pot
import pytest
import torch

from optical.align import AlignConfig, align
from optical.cli import main
from optical.models import Encoder
from optical.models.tiny import tiny_encoder
from optical.plots import alignment_figsize

WORDS = ["query", "in", "the", "beginning", "was", "word", "hapo", "mwanzo", "kulikuwa", "neno"]
SOURCE = "In the beginning was the Word."
TARGET = "Hapo mwanzo kulikuwa na Neno"
EXACT = {"ot_tol": None, "ot_max_iter": 3000}  # run the solver to convergence for the comparisons


@pytest.fixture
def encoders() -> tuple[Encoder, Encoder]:
    # dropout on: align must switch it off, or the plan would not match the reference below
    teacher = tiny_encoder(WORDS, seed=0, dropout=0.3, query_prefix="query: ")
    student = tiny_encoder(WORDS, seed=1, dropout=0.3, query_prefix="query: ")
    return teacher, student


def _config(**values) -> AlignConfig:
    return AlignConfig(**{"source": SOURCE, "target": TARGET, "teacher": "tiny", **values})


def _reference_states(encoder: Encoder, text: str, layer: int = -1) -> tuple[np.ndarray, list[str]]:
    """Token states (of hidden layer ``layer``) and wordpieces of the transported tokens, straight
    from the transformers model."""
    batch = encoder.tokenizer(["query: " + text], return_tensors="pt", return_special_tokens_mask=True)
    keep = ~batch.pop("special_tokens_mask")[0].bool()
    encoder.model.eval()
    with torch.no_grad():
        states = encoder.model(**batch, output_hidden_states=True).hidden_states[layer][0][keep]
    return states.double().numpy(), encoder.tokenizer.convert_ids_to_tokens(batch["input_ids"][0][keep].tolist())


def _reference(teacher: Encoder, student: Encoder, eps: float = 0.05, layer: int = -1):
    x, source_tokens = _reference_states(teacher, SOURCE, layer)
    y, target_tokens = _reference_states(student, TARGET, layer)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    cost = 1.0 - x @ y.T
    n, m = cost.shape
    plan = pot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), cost, eps, method="sinkhorn_log",
                        numItermax=100_000, stopThr=1e-12)
    return plan, cost, source_tokens, target_tokens


def test_plan_and_cost_equal_pot_on_the_transported_tokens(encoders) -> None:
    teacher, student = encoders
    result = align(_config(**EXACT), teacher=teacher, student=student)
    plan, cost, source_tokens, target_tokens = _reference(*encoders)
    assert result.source_tokens == source_tokens
    assert result.target_tokens == target_tokens
    # the query prefix is transported (so shown), special tokens are not
    assert result.source_tokens[:2] == ["query", ":"] and result.target_tokens[:2] == ["query", ":"]
    assert not {"[CLS]", "[SEP]", "[PAD]"} & set(result.source_tokens + result.target_tokens)
    assert "##a" in result.target_tokens  # "na" is not in the vocabulary: wordpieces are shown
    assert result.plan.shape == (len(source_tokens), len(target_tokens)) == (9, 8)
    assert np.abs(result.plan - plan).max() < 1e-5
    assert result.cost == pytest.approx(float((plan * cost).sum()), abs=1e-5)


def test_ot_layer_aligns_the_token_states_of_that_hidden_layer(encoders) -> None:
    teacher, student = encoders
    result = align(_config(**EXACT, ot_layer=1), teacher=teacher, student=student)
    plan, cost, _, _ = _reference(teacher, student, layer=1)
    assert np.abs(result.plan - plan).max() < 1e-5
    assert result.cost == pytest.approx(float((plan * cost).sum()), abs=1e-5)
    output_layer, _, _, _ = _reference(teacher, student)
    assert np.abs(result.plan - output_layer).max() > 1e-4  # another layer, another plan (tolerance 1e-5)


def test_plan_marginals_are_the_uniform_token_weights(encoders) -> None:
    result = align(_config(**EXACT), teacher=encoders[0], student=encoders[1])
    n, m = result.plan.shape
    assert np.abs(result.plan.sum(1) - 1 / n).max() < 1e-4
    assert np.abs(result.plan.sum(0) - 1 / m).max() < 1e-4
    # with the distiller's default tolerance, the reported error is the plan's own and within it
    default = align(_config(), teacher=encoders[0], student=encoders[1])
    error = np.abs(default.plan.sum(1) - 1 / n).sum() + np.abs(default.plan.sum(0) - 1 / m).sum()
    assert default.marginal_error == pytest.approx(error, abs=1e-6)
    assert default.marginal_error <= 1e-3


def test_encoders_go_back_to_their_modes_and_the_result_is_deterministic(encoders) -> None:
    teacher, student = encoders
    teacher.train()
    student.eval()
    first = align(_config(), teacher=teacher, student=student)
    assert teacher.training and not student.training
    second = align(_config(), teacher=teacher, student=student)
    assert np.array_equal(first.plan, second.plan)


def test_without_a_student_the_teacher_aligns_a_sentence_with_itself(encoders) -> None:
    teacher, _ = encoders
    result = align(_config(target=SOURCE, eps=0.01), teacher=teacher)
    assert result.source_tokens == result.target_tokens
    # "the" occurs twice: each copy is as close to the other, so compare the words that occur once
    for source, target, _ in result.pairs():
        if result.source_tokens.count(source) == 1:
            assert target == source
    diagonal = np.diagonal(result.plan).sum()
    assert diagonal > 0.7


def test_centered_option_changes_the_cost_as_the_distiller_does(encoders) -> None:
    from optical.distill.ot import OTObjective

    teacher, student = encoders
    result = align(_config(centered=True), teacher=teacher, student=student)
    teacher.eval()
    student.eval()
    with torch.no_grad():
        expected = OTObjective(0.05, centered=True)(teacher.encode_tokens([SOURCE]), student.encode_tokens([TARGET]))
    assert result.cost == pytest.approx(expected.logs["ot"], abs=1e-6)
    assert result.cost != pytest.approx(align(_config(), teacher=teacher, student=student).cost, abs=1e-3)


def test_format_lists_top_targets_per_source_token_and_the_cost(encoders) -> None:
    result = align(_config(), teacher=encoders[0], student=encoders[1])
    lines = result.format(top=2).splitlines()
    body = lines[1:-1]
    assert len(body) == 2 * len(result.source_tokens)
    for (_source, target, mass), line in zip(result.pairs(top=2), body, strict=True):
        fields = line.split()
        assert fields[-3:-1] == [target, f"{mass:.4f}"]
    assert [line.split()[0] for line in body[::2]] == result.source_tokens
    assert lines[-1].startswith(f"transport cost <P, C> = {result.cost:.4f}")


# --- the command -----------------------------------------------------------------------------


def test_align_command_prints_the_table_and_writes_the_heat_map(encoders, tmp_path, capsys) -> None:
    teacher, student = encoders
    teacher.save(tmp_path / "teacher")
    student.save(tmp_path / "student")
    out = tmp_path / "figures" / "plan.png"
    code = main(["align", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "student"),
                 "--source", SOURCE, "--target", TARGET, "--out", str(out), "--ot-tol", "none",
                 "--ot-max-iter", "3000"])
    assert code == 0
    printed = capsys.readouterr().out
    plan, cost, source_tokens, target_tokens = _reference(teacher, student)
    match = re.search(r"transport cost <P, C> = (\d+\.\d+)", printed)
    assert match and float(match.group(1)) == pytest.approx(float((plan * cost).sum()), abs=1e-4)
    rows = printed.splitlines()[1:1 + len(source_tokens)]
    assert [row.split()[:2] for row in rows] == [[s, target_tokens[j]] for s, j in zip(source_tokens,
                                                                                       plan.argmax(1), strict=True)]
    assert f"heat map written to {out}" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    width, height = alignment_figsize(9, 8)  # 9 source rows, 8 target columns
    assert imread(out).shape == (round(height * 100), round(width * 100), 4)


def test_align_command_errors(tmp_path, capsys, monkeypatch) -> None:
    assert main(["align", "--source", SOURCE, "--target", TARGET]) == 2
    assert "--teacher is required" in capsys.readouterr().err
    assert main(["align", "--teacher", "x", "--source", "", "--target", TARGET]) == 2
    assert "--source and --target" in capsys.readouterr().err
    # without matplotlib --out fails at once, before any model is loaded ("missing" does not exist)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["align", "--teacher", str(tmp_path / "missing"), "--source", SOURCE, "--target", TARGET,
                 "--out", str(tmp_path / "plan.png")])
    assert code == 2
    assert "pip install 'optical[plots]'" in capsys.readouterr().err
