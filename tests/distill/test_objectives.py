"""Distillation objectives against independent float64 computations."""

from __future__ import annotations

import numpy as np
import ot as pot
import pytest
import torch
import torch.nn.functional as F

from optical.distill import MSEObjective, NCEObjective, OTObjective, TokenMSEObjective, WeightedObjectives


def test_ot_loss_is_mean_transport_cost_against_pot(pair) -> None:
    teacher, student = pair
    out = OTObjective(eps=0.1, tol=1e-10, max_iter=10_000)(teacher, student)
    expected = []
    for k in range(3):
        n, m = int(teacher.token_mask[k].sum()), int(student.token_mask[k].sum())
        x = F.normalize(teacher.embeddings[k, :n], dim=-1).numpy()
        y = F.normalize(student.embeddings[k, :m].detach(), dim=-1).numpy()
        cost = 1 - x @ y.T
        plan = pot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), cost, 0.1, stopThr=1e-13, numItermax=100_000)
        expected.append((plan * cost).sum())
    assert float(out.loss.detach()) == pytest.approx(np.mean(expected), abs=1e-7)


def test_ot_gradient_reaches_only_real_student_tokens(pair) -> None:
    teacher, student = pair
    OTObjective(eps=0.1)(teacher, student).loss.backward()
    grad = student.embeddings.grad
    assert grad[~student.token_mask].abs().max() == 0
    assert grad[student.token_mask].abs().sum() > 0


def test_centering_subtracts_the_batch_mean_of_real_tokens(pair) -> None:
    from optical.distill.ot import center

    teacher, _ = pair
    centred = center(teacher)
    mean = teacher.embeddings[teacher.token_mask].mean(0)
    assert torch.allclose(centred[0, 0], teacher.embeddings[0, 0] - mean)


def test_mse_is_mean_squared_error_of_mean_pooled_vectors(pair) -> None:
    teacher, student = pair
    out = MSEObjective()(teacher, student)
    t = torch.stack([teacher.embeddings[k, :n].mean(0) for k, n in enumerate([5, 3, 4])])
    s = torch.stack([student.embeddings[k, :n].mean(0) for k, n in enumerate([6, 2, 4])])
    assert float(out.loss.detach()) == pytest.approx(float(((s - t) ** 2).mean()), rel=1e-12)


def test_nce_is_cross_entropy_over_the_batch(pair) -> None:
    teacher, student = pair
    out = NCEObjective(temperature=0.1)(teacher, student)
    t = F.normalize(torch.stack([teacher.embeddings[k, :n].mean(0) for k, n in enumerate([5, 3, 4])]), dim=-1)
    s = F.normalize(torch.stack([student.embeddings[k, :n].mean(0) for k, n in enumerate([6, 2, 4])]), dim=-1)
    logits = (s @ t.T / 0.1).detach().numpy()
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert float(out.loss.detach()) == pytest.approx(-np.mean(np.diag(log_softmax)), rel=1e-10)


def test_token_mse_position_pairs_ranks_of_real_tokens(make_batch) -> None:
    teacher = make_batch(torch.arange(2 * 4 * 1, dtype=torch.float64).reshape(2, 4, 1), [4, 2])
    student = make_batch(torch.zeros(2, 3, 1, dtype=torch.float64), [3, 3])
    out = TokenMSEObjective("position")(teacher, student)
    # item 0: students 0,1,2 <- teachers 0,1,2 (values 0,1,2); item 1: students 0,1 <- teachers (4,5); 2 unpaired
    expected = (0 + 1 + 4 + 16 + 25) / 5
    assert float(out.loss.detach()) == pytest.approx(expected)


def test_token_mse_argmax_pairs_most_similar_teacher_token(make_batch) -> None:
    teacher = make_batch(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64), [2])
    student = make_batch(torch.tensor([[[0.1, 0.9], [2.0, 0.1]]], dtype=torch.float64), [2])
    out = TokenMSEObjective("argmax")(teacher, student)
    expected = (((0.1 - 0) ** 2 + (0.9 - 1) ** 2) / 2 + ((2.0 - 1) ** 2 + (0.1 - 0) ** 2) / 2) / 2
    assert float(out.loss.detach()) == pytest.approx(expected)


def test_weighted_sum_of_objectives(pair) -> None:
    teacher, student = pair
    both = WeightedObjectives({"ot": OTObjective(eps=0.1), "mse": MSEObjective()}, {"ot": 2.0, "mse": 0.5})
    out = both(teacher, student)
    alone = 2.0 * OTObjective(eps=0.1)(teacher, student).loss + 0.5 * MSEObjective()(teacher, student).loss
    assert float(out.loss.detach()) == pytest.approx(float(alone))
    assert {"ot", "mse", "loss"} <= set(out.logs)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="temperature"):
        NCEObjective(temperature=0)
    with pytest.raises(ValueError, match="alignment"):
        TokenMSEObjective("diagonal")
    with pytest.raises(ValueError, match="do not match"):
        WeightedObjectives({"mse": MSEObjective()}, {"ot": 1.0})
