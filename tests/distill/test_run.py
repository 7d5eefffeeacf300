"""The distiller end to end on tiny models and a bitext whose alignment is known."""

from __future__ import annotations

import copy

import pytest
import torch

from optical.distill.run import DistillConfig, bitext_check, distill
from optical.distill.synthetic import VOCABULARY, synthetic_pairs
from optical.models import Encoder
from optical.models.tiny import tiny_encoder
from optical.ot import cosine_cost, sinkhorn


def _pair_of_encoders(seed: int = 0):
    teacher = tiny_encoder(VOCABULARY, seed=seed, hidden=32)
    student = tiny_encoder(VOCABULARY, seed=seed + 1, hidden=32)
    return teacher, student


def _config(tmp_path, bitext_file, **overrides) -> DistillConfig:
    values = dict(out=str(tmp_path / "run"), bitext=str(bitext_file), steps=30, batch_size=8, lr=3e-3, warmup=0.1,
                  quiet=True, checkpoint_every=10, objective="ot", eps=0.1, src_lang="en", tgt_lang="xx")
    values.update(overrides)
    return DistillConfig(**values)


def _aligned_mass(teacher: Encoder, student: Encoder) -> float:
    """Share of transport mass on the true (same-position word) alignment."""
    pairs = synthetic_pairs(16, seed=99)
    with torch.no_grad():
        t = teacher.encode_tokens([p.src for p in pairs])
        s = student.encode_tokens([p.tgt for p in pairs])
        plan = sinkhorn(cosine_cost(t.embeddings, s.embeddings, t.token_mask, s.token_mask), eps=0.1,
                        mask_a=t.token_mask, mask_b=s.token_mask).plan
    # word k sits at position k + 1 on both sides ([CLS] first, one token per word)
    diagonal = torch.diagonal(plan, dim1=1, dim2=2).sum()
    return float(diagonal / plan.sum())


def test_teacher_is_frozen_and_student_learns_the_alignment(tmp_path, bitext_file) -> None:
    teacher, student = _pair_of_encoders()
    before_teacher = copy.deepcopy(teacher.state_dict())
    before_mass = _aligned_mass(teacher, student)
    result = distill(_config(tmp_path, bitext_file, steps=200, lr=1e-2), teacher=teacher, student=student)
    losses = [h["ot"] for h in result.history]
    assert sum(losses[-5:]) / 5 < 0.2 * sum(losses[:5]) / 5
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before_teacher[name]), name
    assert all(p.grad is None for p in teacher.parameters())
    after_mass = _aligned_mass(teacher, student)
    assert before_mass < 0.3 and after_mass > 0.8


@pytest.mark.parametrize("objective", ["mse", "cos", "nce", "token-mse", "ot+mse", "ot+nce"])
def test_every_objective_trains(tmp_path, bitext_file, objective) -> None:
    teacher, student = _pair_of_encoders()
    result = distill(_config(tmp_path, bitext_file, steps=12, objective=objective), teacher=teacher, student=student)
    key = {"token-mse": "token_mse"}.get(objective, objective.split("+")[0])
    assert result.history[-1][key] < result.history[0][key]


class Crash(Exception):
    pass


def test_resume_after_interruption_reproduces_the_uninterrupted_run(tmp_path, bitext_file, monkeypatch) -> None:
    import optical.train.loop as loop

    teacher, student = _pair_of_encoders()
    distill(_config(tmp_path / "a", bitext_file, steps=20), teacher=teacher, student=student)
    uninterrupted = copy.deepcopy(student.state_dict())

    real_save = loop.save_checkpoint

    def save_then_crash(path, payload):
        real_save(path, payload)
        if payload["step"] == 10:
            raise Crash  # the process dies right after the checkpoint of step 10

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    teacher, student = _pair_of_encoders()
    config = _config(tmp_path / "b", bitext_file, steps=20)
    with pytest.raises(Crash):
        distill(config, teacher=teacher, student=student)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    teacher, fresh_student = _pair_of_encoders(seed=7)  # different weights: everything must come from the checkpoint
    distill(config, teacher=_pair_of_encoders()[0], student=fresh_student)
    for name, value in fresh_student.state_dict().items():
        assert torch.equal(value, uninterrupted[name]), name


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path, bitext_file) -> None:
    teacher, student = _pair_of_encoders()
    distill(_config(tmp_path, bitext_file, steps=2), teacher=teacher, student=student)
    with pytest.raises(ValueError, match="different configuration"):
        distill(_config(tmp_path, bitext_file, steps=4, lr=1e-2), teacher=teacher, student=student)


def test_saved_student_reloads_with_the_same_embeddings(tmp_path, bitext_file) -> None:
    teacher, student = _pair_of_encoders()
    distill(_config(tmp_path, bitext_file, steps=3), teacher=teacher, student=student)
    texts = [p.tgt for p in synthetic_pairs(4)]
    reloaded = Encoder.load(tmp_path / "run" / "model")
    assert torch.allclose(reloaded.encode(texts), student.encode(texts), atol=1e-6)
    assert (tmp_path / "run" / "model" / "README.md").read_text().startswith("---\n")  # the model card
    pytest.importorskip("matplotlib")
    assert (tmp_path / "run" / "training.png").read_bytes()[:4] == b"\x89PNG"  # loss terms and dev checks


def test_widths_must_match_without_a_projection(tmp_path, bitext_file) -> None:
    teacher = tiny_encoder(VOCABULARY, hidden=32)
    student = tiny_encoder(VOCABULARY, hidden=16)
    with pytest.raises(ValueError, match="--projection"):
        distill(_config(tmp_path, bitext_file), teacher=teacher, student=student)


def test_empty_bitext_is_an_error(tmp_path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    teacher, student = _pair_of_encoders()
    with pytest.raises(ValueError, match="no pairs"):
        distill(_config(tmp_path, empty), teacher=teacher, student=student)


def test_unknown_objective_is_an_error(tmp_path, bitext_file) -> None:
    teacher, student = _pair_of_encoders()
    with pytest.raises(ValueError, match="unknown part"):
        distill(_config(tmp_path, bitext_file, objective="ot+kl"), teacher=teacher, student=student)


def test_long_pairs_are_truncated_and_counted(tmp_path) -> None:
    from optical.data.bitext import write_bitext_tsv
    from optical.data.records import BitextPair

    path = tmp_path / "long.tsv"
    write_bitext_tsv(path, [BitextPair(" ".join(["house"] * 80), " ".join(["esuoh"] * 80), "en", "xx")] * 8)
    teacher, student = _pair_of_encoders()
    result = distill(_config(tmp_path, path, steps=1, max_length=16), teacher=teacher, student=student)
    assert result.history[0]["truncated"] == 8


def test_bitext_check_finds_translations_of_a_trained_student(tmp_path, bitext_file) -> None:
    teacher, student = _pair_of_encoders()
    before = bitext_check(teacher, student, synthetic_pairs(32, seed=5))
    distill(_config(tmp_path, bitext_file, steps=60, objective="nce"), teacher=teacher, student=student)
    after = bitext_check(teacher, student, synthetic_pairs(32, seed=5))
    assert after["bitext_p@1"] > before["bitext_p@1"]


def test_teacher_cache_gives_the_same_losses_and_encodes_each_text_once(tmp_path, bitext_file) -> None:
    from optical.distill.teacher_cache import TeacherCache

    histories = []
    for cached in (False, True):
        teacher, student = _pair_of_encoders()
        config = _config(tmp_path / f"cache-{cached}", bitext_file, steps=12, teacher_cache=cached, ot_tol=None,
                         ot_max_iter=50)
        histories.append(distill(config, teacher=teacher, student=student).history)
    for plain, cached in zip(*histories, strict=True):
        assert cached["ot"] == pytest.approx(plain["ot"], abs=1e-5)
    teacher, _ = _pair_of_encoders()
    teacher.eval()  # as distillation holds it (no dropout)
    cache = TeacherCache(teacher)
    texts = [p.src for p in synthetic_pairs(64)]
    first = cache.tokens(texts[:10])
    again = cache.tokens(texts[5:10] + texts[:3])
    assert cache.encoded == 10  # nothing encoded twice
    assert torch.equal(again.embeddings[0, : int(again.attention_mask[0].sum())],
                       first.embeddings[5, : int(first.attention_mask[5].sum())])
    with torch.no_grad():
        direct = teacher.encode_tokens(texts[:10])
    real = direct.attention_mask
    assert torch.allclose(first.embeddings[real], direct.embeddings[real], atol=1e-5)
    assert torch.equal(first.token_mask, direct.token_mask[:, : first.token_mask.shape[1]])


def test_ot_layer_compares_that_hidden_layer_while_the_other_terms_keep_the_output(tmp_path, bitext_file) -> None:
    from optical.distill.ot import OTObjective
    from optical.distill.teacher_cache import TeacherCache
    from optical.models import TokenBatch

    teacher, student = _pair_of_encoders()
    teacher.eval()
    texts = [p.src for p in synthetic_pairs(4)]
    teacher.expose_layer(1)
    with torch.no_grad():
        batch = teacher.encode_tokens(texts)
        hidden = teacher.model(**{k: v for k, v in teacher.tokenize(texts)[0].items()
                                  if k != "special_tokens_mask"}, output_hidden_states=True).hidden_states[1]
    assert torch.allclose(batch.layer_states, hidden, atol=1e-6)
    # the loss at layer 1 is the plain loss of a batch whose embeddings are the layer-1 states
    at_layer = OTObjective(eps=0.1, layer=1)(batch, batch).loss
    direct = OTObjective(eps=0.1)(*[TokenBatch(hidden, batch.attention_mask, batch.token_mask, batch.input_ids)] * 2)
    assert float(at_layer) == pytest.approx(float(direct.loss), abs=1e-6)
    with pytest.raises(ValueError, match="layer 1, not layer 2"):
        OTObjective(layer=2)(batch, batch)
    # the teacher cache keeps the extra layer, and refuses the teacher once it exposes another
    cache = TeacherCache(teacher)
    cached = cache.tokens(texts)
    real = cached.attention_mask
    assert torch.allclose(cached.layer_states[real], batch.layer_states[real], atol=1e-5)
    teacher.expose_layer(None)
    with pytest.raises(ValueError, match="teacher cache built for"):
        cache.tokens(texts)
    with pytest.raises(ValueError, match="out of range"):
        teacher.expose_layer(7)
    # distillation with --ot-layer: gradients reach the student through that layer, nce keeps the output
    teacher, student = _pair_of_encoders()
    config = _config(tmp_path, bitext_file, steps=3, objective="ot+nce", ot_layer=1)
    history = distill(config, teacher=teacher, student=student).history
    assert all(h["ot"] > 0 and h["nce"] > 0 for h in history)
    assert teacher.extra_layer == student.extra_layer == 1
    with pytest.raises(ValueError, match="--ot-layer: layer 9 out of range"):
        distill(_config(tmp_path / "b", bitext_file, steps=1, ot_layer=9), teacher=teacher, student=student)
