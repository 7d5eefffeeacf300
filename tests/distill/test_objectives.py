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


def _pot_transport_cost(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> float:
    """<P, C> of POT's entropic plan for the cosine cost between the rows of x and y."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    cost = 1 - x @ y.T
    plan = pot.sinkhorn(a, b, cost, eps, stopThr=1e-13, numItermax=100_000)
    return float((plan * cost).sum())


def test_importance_marginals_are_leave_one_out_shifts_of_the_mean(pair, make_batch) -> None:
    from optical.distill.ot import token_weights

    teacher, _ = pair
    weights = token_weights(teacher, "importance")
    for k, n in enumerate(teacher.token_mask.sum(1).tolist()):
        x = teacher.embeddings[k, :n].numpy()
        # The mean without token i, against the mean with it: how far token i moves the sentence.
        shift = np.array([np.linalg.norm(x.mean(0) - np.delete(x, i, 0).mean(0)) for i in range(n)])
        np.testing.assert_allclose(weights[k, :n].numpy(), shift / shift.sum(), rtol=1e-6)
        assert not weights[k, n:].any()
    single = token_weights(make_batch(torch.randn(1, 3, 4), [1]), "importance")
    assert single[0].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_idf_marginals_weigh_real_tokens_by_their_idf(pair) -> None:
    from optical.distill.ot import token_weights

    teacher, _ = pair
    idf = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])  # the fixture's token ids are the positions
    weights = token_weights(teacher, "idf", idf)
    assert weights[1].tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 0, 0])
    with pytest.raises(ValueError, match="IDF table"):
        token_weights(teacher, "idf")


@pytest.mark.parametrize("marginals", ["importance", "idf"])
def test_ot_loss_with_token_weights_against_pot(pair, marginals) -> None:
    from optical.distill.ot import token_weights

    teacher, student = pair
    idf = torch.arange(1.0, 7.0, dtype=torch.float64)
    tables = {"teacher_idf": idf, "student_idf": idf} if marginals == "idf" else {}
    out = OTObjective(eps=0.1, tol=1e-10, max_iter=10_000, marginals=marginals, **tables)(teacher, student)
    a, b = token_weights(teacher, marginals, idf), token_weights(student, marginals, idf)
    expected = []
    for k in range(3):
        n, m = int(teacher.token_mask[k].sum()), int(student.token_mask[k].sum())
        expected.append(_pot_transport_cost(teacher.embeddings[k, :n].numpy(),
                                            student.embeddings[k, :m].detach().numpy(),
                                            a[k, :n].numpy(), b[k, :m].detach().numpy(), 0.1))
    assert float(out.loss.detach()) == pytest.approx(np.mean(expected), abs=1e-7)
    out.loss.backward()
    assert student.embeddings.grad[~student.token_mask].abs().max() == 0


def test_whitening_maps_the_shrunk_covariance_to_the_identity(pair) -> None:
    from scipy.linalg import fractional_matrix_power

    from optical.distill.ot import whitening

    teacher, _ = pair
    mean, transform = whitening(teacher, shrinkage=0.1)
    states = teacher.embeddings[teacher.token_mask].numpy()
    covariance = np.cov(states, rowvar=False)
    shrunk = 0.9 * covariance + 0.1 * np.trace(covariance) / 8 * np.eye(8)
    np.testing.assert_allclose(mean.numpy(), states.mean(0), rtol=1e-12)
    np.testing.assert_allclose(transform.numpy(), fractional_matrix_power(shrunk, -0.5).real, atol=1e-10)


def test_whitened_ot_loss_against_pot_and_gradient_only_on_the_student(pair) -> None:
    from scipy.linalg import fractional_matrix_power

    teacher, student = pair
    teacher.embeddings.requires_grad_(True)
    out = OTObjective(eps=0.1, tol=1e-10, max_iter=10_000, whiten=True)(teacher, student)
    x_all = teacher.embeddings.detach()[teacher.token_mask].numpy()
    y_all = student.embeddings.detach()[student.token_mask].numpy()
    covariance = np.cov(x_all, rowvar=False)
    transform = fractional_matrix_power(0.9 * covariance + 0.1 * np.trace(covariance) / 8 * np.eye(8), -0.5).real
    expected = []
    for k in range(3):
        n, m = int(teacher.token_mask[k].sum()), int(student.token_mask[k].sum())
        x = (teacher.embeddings.detach()[k, :n].numpy() - x_all.mean(0)) @ transform
        y = (student.embeddings.detach()[k, :m].numpy() - y_all.mean(0)) @ transform
        expected.append(_pot_transport_cost(x, y, np.full(n, 1 / n), np.full(m, 1 / m), 0.1))
    assert float(out.loss.detach()) == pytest.approx(np.mean(expected), abs=1e-7)
    out.loss.backward()
    assert teacher.embeddings.grad is None
    assert student.embeddings.grad[~student.token_mask].abs().max() == 0
    assert student.embeddings.grad[student.token_mask].abs().sum() > 0


def test_bad_marginals_are_refused() -> None:
    with pytest.raises(ValueError, match="marginals"):
        OTObjective(marginals="attention")
    with pytest.raises(ValueError, match="teacher_idf"):
        OTObjective(marginals="idf")


def test_cosine_objective_is_one_minus_cosine_of_mean_pooled_vectors(pair) -> None:
    from optical.distill import CosineObjective

    teacher, student = pair
    teacher.embeddings.requires_grad_(True)
    out = CosineObjective()(teacher, student)
    expected = []
    for k in range(3):
        t = teacher.embeddings[k][teacher.attention_mask[k]].detach().mean(0).numpy()
        s = student.embeddings[k][student.attention_mask[k]].detach().mean(0).numpy()
        expected.append(1 - t @ s / np.linalg.norm(t) / np.linalg.norm(s))
    assert float(out.loss.detach()) == pytest.approx(np.mean(expected), abs=1e-12)
    out.loss.backward()
    assert teacher.embeddings.grad is None
    assert student.embeddings.grad[~student.attention_mask].abs().max() == 0
    assert student.embeddings.grad[student.attention_mask].abs().sum() > 0


def test_ot_with_a_uniform_plan_is_an_anchor_between_mean_unit_tokens(pair) -> None:
    # At large eps the plan is the product of the marginals, and <P, C> collapses to
    # 1 - <mean unit teacher token, mean unit student token>: no alignment is left in it.
    teacher, student = pair
    out = OTObjective(eps=1e4, tol=1e-12, max_iter=1000)(teacher, student)
    expected = []
    for k in range(3):
        x = F.normalize(teacher.embeddings[k][teacher.token_mask[k]], dim=-1).mean(0)
        y = F.normalize(student.embeddings[k][student.token_mask[k]].detach(), dim=-1).mean(0)
        expected.append(float(1 - x @ y))
    assert float(out.loss.detach()) == pytest.approx(np.mean(expected), abs=1e-4)
    assert out.logs["plan_entropy"] == pytest.approx(1.0, abs=1e-6)
