"""The sentence-transformers losses against optical's own objectives on the same batch (tiny models, offline)."""

from __future__ import annotations

import pytest
import sentence_transformers
import torch

from optical.distill import NCEObjective, OTObjective, WeightedObjectives
from optical.distill.run import DistillConfig, build_objective
from optical.distill.synthetic import ENGLISH, VOCABULARY, synthetic_pairs
from optical.integrations.sentence_transformers import (
    CITATION,
    OpticalCombinedLoss,
    OpticalDistillationLoss,
    OpticalTransportLoss,
    preprocess,
    progress_callback,
    special_token_ids,
    token_batch,
)
from optical.models import Encoder
from optical.models.tiny import tiny_encoder
from optical.quickstart import QuickstartConfig

PAIRS = synthetic_pairs(8, seed=3)


def save_tiny(folder, words, seed: int, dropout: float = 0.0):
    return tiny_encoder(words, seed=seed, dropout=dropout).save(folder)


@pytest.fixture
def folders(tmp_path):
    """A teacher and a student folder with one vocabulary (English and foreign words)."""
    return save_tiny(tmp_path / "teacher", VOCABULARY, seed=0), save_tiny(tmp_path / "student", VOCABULARY, seed=1)


def st_model(folder):
    return sentence_transformers.SentenceTransformer(str(folder), device="cpu")


def st_loss_and_grads(loss, student, pairs) -> tuple[float, dict[str, torch.Tensor]]:
    english = preprocess(student, [p.src for p in pairs])
    foreign = preprocess(student, [p.tgt for p in pairs])
    value = loss([english, foreign], None)
    value.backward()
    grads = {n: p.grad.clone() for n, p in student[0].auto_model.named_parameters() if p.grad is not None}
    return float(value.detach()), grads


def reference_loss_and_grads(objective, teacher: Encoder, student: Encoder, pairs):
    """optical's own path: Encoder tokenization (the tokenizer's special-token mask) and the objective."""
    with torch.no_grad():
        teacher_tokens = teacher.encode_tokens([p.src for p in pairs])
    value = objective(teacher_tokens, student.encode_tokens([p.tgt for p in pairs])).loss
    value.backward()
    grads = {n: p.grad.clone() for n, p in student.model.named_parameters() if p.grad is not None}
    return float(value.detach()), grads


def assert_same(st_result, reference_result) -> None:
    st_value, st_grads = st_result
    ref_value, ref_grads = reference_result
    assert st_value == pytest.approx(ref_value, rel=1e-5, abs=1e-7)
    assert set(st_grads) == set(ref_grads) and len(ref_grads) > 10
    for name, grad in ref_grads.items():
        torch.testing.assert_close(st_grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    assert any(float(g.abs().sum()) > 0 for g in ref_grads.values())


def test_transport_loss_equals_ot_objective_value_and_student_gradient(folders):
    teacher_folder, student_folder = folders
    student = st_model(student_folder)
    loss = OpticalTransportLoss(student, st_model(teacher_folder), eps=0.05)
    reference = reference_loss_and_grads(OTObjective(eps=0.05), Encoder.load(teacher_folder),
                                         Encoder.load(student_folder), PAIRS)
    assert_same(st_loss_and_grads(loss, student, PAIRS), reference)
    assert set(loss.last_logs) >= {"ot", "ot_iterations"}


def test_combined_loss_follows_the_distiller_default_objective(folders):
    teacher_folder, student_folder = folders
    student = st_model(student_folder)
    loss = OpticalCombinedLoss(student, st_model(teacher_folder))
    assert loss.spec == QuickstartConfig.objective
    teacher_encoder, student_encoder = Encoder.load(teacher_folder), Encoder.load(student_folder)
    objective = build_objective(DistillConfig(objective=QuickstartConfig.objective), teacher_encoder,
                                student_encoder, PAIRS)
    assert_same(st_loss_and_grads(loss, student, PAIRS),
                reference_loss_and_grads(objective, teacher_encoder, student_encoder, PAIRS))


def test_any_objective_with_weights_and_options(folders):
    teacher_folder, student_folder = folders
    student = st_model(student_folder)
    loss = OpticalDistillationLoss.from_spec(student, st_model(teacher_folder), "ot+nce", ot_weight=0.3,
                                             nce_weight=2.0, temperature=0.1, eps=0.1, centered=True)
    objective = WeightedObjectives({"ot": OTObjective(eps=0.1, centered=True), "nce": NCEObjective(0.1)},
                                   {"ot": 0.3, "nce": 2.0})
    assert_same(st_loss_and_grads(loss, student, PAIRS),
                reference_loss_and_grads(objective, Encoder.load(teacher_folder), Encoder.load(student_folder), PAIRS))
    config = loss.get_config_dict()["objective"]
    assert config["ot"]["eps"] == 0.1 and config["ot"]["centered"] is True and config["ot"]["weight"] == 0.3
    assert config["nce"]["temperature"] == 0.1 and config["nce"]["weight"] == 2.0
    assert loss.citation == CITATION and "2301.12566" in CITATION


def test_teacher_with_another_vocabulary_reads_the_english_text(tmp_path):
    # the teacher knows only the English words: its features are re-tokenized from the decoded text
    teacher_folder = save_tiny(tmp_path / "teacher", ENGLISH, seed=0)
    student_folder = save_tiny(tmp_path / "student", VOCABULARY, seed=1)
    teacher, student = st_model(teacher_folder), st_model(student_folder)
    assert teacher.tokenizer.get_vocab() != student.tokenizer.get_vocab()
    loss = OpticalTransportLoss(student, teacher, eps=0.05)
    reference = reference_loss_and_grads(OTObjective(eps=0.05), Encoder.load(teacher_folder),
                                         Encoder.load(student_folder), PAIRS)
    assert_same(st_loss_and_grads(loss, student, PAIRS), reference)


def test_special_and_padding_tokens_are_masked(folders):
    student = st_model(folders[1])
    texts = [p.tgt for p in PAIRS]
    tokens = token_batch(student, preprocess(student, texts), special_token_ids(student.tokenizer))
    # one token per synthetic word: the transport set is exactly the words, no [CLS]/[SEP]/[PAD]
    assert tokens.token_mask.sum(1).tolist() == [len(t.split()) for t in texts]
    assert not tokens.token_mask[:, 0].any()
    reference = Encoder.load(folders[1]).encode_tokens(texts)
    assert torch.equal(tokens.token_mask, reference.token_mask)


def test_teacher_is_frozen_and_stays_in_eval_mode(tmp_path):
    teacher = st_model(save_tiny(tmp_path / "teacher", VOCABULARY, seed=0, dropout=0.5))
    student = st_model(save_tiny(tmp_path / "student", VOCABULARY, seed=1))
    loss = OpticalTransportLoss(student, teacher)
    loss.train()  # the trainer puts the loss module in training mode
    first, _ = st_loss_and_grads(loss, student, PAIRS)
    second, _ = st_loss_and_grads(loss, student, PAIRS)
    assert first == second  # a teacher in training mode would drop out differently each call
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student[0].auto_model.embeddings.parameters())


def test_refuses_one_model_on_both_sides_and_other_column_counts(folders):
    student = st_model(folders[1])
    with pytest.raises(ValueError, match="same object"):
        OpticalTransportLoss(student, student)
    loss = OpticalTransportLoss(student, st_model(folders[0]))
    features = preprocess(student, ["esuoh"])
    with pytest.raises(ValueError, match="two text columns"):
        loss([features, features, features], None)


def fixed_batch_loss(loss, student, pairs) -> float:
    student.eval()
    with torch.no_grad():
        value = loss([preprocess(student, [p.src for p in pairs]), preprocess(student, [p.tgt for p in pairs])])
    return float(value)


def test_sentence_transformer_trainer_lowers_the_loss(folders, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    pairs = synthetic_pairs(64)
    student = st_model(folders[1])
    loss = OpticalTransportLoss(student, st_model(folders[0]), eps=0.05)
    before = fixed_batch_loss(loss, student, pairs[:32])
    dataset = Dataset.from_dict({"english": [p.src for p in pairs], "foreign": [p.tgt for p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=25, per_device_train_batch_size=16, learning_rate=1e-3,
        warmup_steps=0, report_to="none", save_strategy="no", logging_steps=5, seed=0, use_cpu=True,
        disable_tqdm=True)
    SentenceTransformerTrainer(model=student, args=args, train_dataset=dataset, loss=loss).train()
    after = fixed_batch_loss(loss, student, pairs[:32])
    assert after < 0.8 * before
    student.save(str(tmp_path / "saved"))  # sentence-transformers' model card reads the loss's config
    card = (tmp_path / "saved" / "README.md").read_text()
    assert "OpticalTransportLoss" in card and "huang2023optical" in card


def test_model_fit_trains_with_the_loss(folders):
    from sentence_transformers import InputExample
    from torch.utils.data import DataLoader

    pairs = synthetic_pairs(32)
    student = st_model(folders[1])
    loss = OpticalTransportLoss(student, st_model(folders[0]))
    before = fixed_batch_loss(loss, student, pairs)
    examples = [InputExample(texts=[p.src, p.tgt]) for p in pairs]
    student.fit(train_objectives=[(DataLoader(examples, batch_size=16, shuffle=True), loss)], epochs=6,
                warmup_steps=0, optimizer_params={"lr": 1e-3}, show_progress_bar=False)
    assert fixed_batch_loss(loss, student, pairs) < 0.9 * before


def test_scheduled_objective_follows_the_training_progress(folders, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    teacher_folder, student_folder = folders
    student = st_model(student_folder)
    loss = OpticalDistillationLoss.from_spec(student, st_model(teacher_folder), "ot+nce", ot_schedule="warmup")
    teacher_encoder, student_encoder = Encoder.load(teacher_folder), Encoder.load(student_folder)
    reference = build_objective(DistillConfig(objective="ot+nce", ot_schedule="warmup"), teacher_encoder,
                                student_encoder, PAIRS)
    loss.set_progress(0.25)
    reference.set_progress(0.25)  # the transport term at half its weight
    assert_same(st_loss_and_grads(loss, student, PAIRS),
                reference_loss_and_grads(reference, teacher_encoder, student_encoder, PAIRS))

    pairs = synthetic_pairs(32)
    dataset = Dataset.from_dict({"english": [p.src for p in pairs], "foreign": [p.tgt for p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=8, report_to="none",
        save_strategy="no", use_cpu=True, disable_tqdm=True)
    seen = []
    original = loss.set_progress
    loss.set_progress = lambda value: (seen.append(value), original(value))
    SentenceTransformerTrainer(model=student, args=args, train_dataset=dataset, loss=loss,
                               callbacks=[progress_callback(loss)]).train()
    assert seen == [0.0, 0.25, 0.5, 0.75]
