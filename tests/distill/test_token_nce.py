"""Token-set contrastive objectives, plan diagnostics and weight schedules against direct computations."""

from __future__ import annotations

import math

import numpy as np
import ot as pot
import pytest
import torch
import torch.nn.functional as F

from optical.distill import MSEObjective, OTObjective, TokenSetNCEObjective, WeightedObjectives
from optical.distill.combined import weight_schedule
from optical.distill.ot import plan_sharpness
from optical.models import TokenBatch


def _pot_cost(teacher: TokenBatch, student: TokenBatch, j: int, i: int, eps: float) -> float:
    """<P, C> between teacher item j and student item i, by POT in float64."""
    n, m = int(teacher.token_mask[j].sum()), int(student.token_mask[i].sum())
    x = F.normalize(teacher.embeddings[j, :n], dim=-1).numpy()
    y = F.normalize(student.embeddings[i, :m].detach(), dim=-1).numpy()
    cost = 1 - x @ y.T
    plan = pot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), cost, eps, stopThr=1e-13, numItermax=100_000)
    return float((plan * cost).sum())


def test_ot_contrast_is_infonce_over_every_pairs_transport_cost(pair) -> None:
    teacher, student = pair
    temperature, eps = 0.1, 0.1
    out = TokenSetNCEObjective(OTObjective(eps=eps, tol=1e-10, max_iter=10_000), temperature=temperature)(
        teacher, student)
    costs = np.array([[_pot_cost(teacher, student, j, i, eps) for j in range(3)] for i in range(3)])
    logits = -costs / temperature
    expected = np.mean([-(logits[i, i] - np.log(np.exp(logits[i]).sum())) for i in range(3)])
    assert float(out.loss.detach()) == pytest.approx(expected, abs=1e-6)
    assert out.logs["ot"] == pytest.approx(np.mean(np.diag(costs)), abs=1e-7)


def test_appended_teacher_rows_are_extra_negatives(pair, make_batch) -> None:
    teacher, student = pair
    generator = torch.Generator().manual_seed(2)
    extra = make_batch(torch.randn(2, 5, 8, generator=generator, dtype=torch.float64), [4, 5])
    both = TokenBatch(torch.cat([teacher.embeddings, extra.embeddings]),
                      torch.cat([teacher.attention_mask, extra.attention_mask]),
                      torch.cat([teacher.token_mask, extra.token_mask]),
                      torch.cat([teacher.input_ids, extra.input_ids]))
    eps = 0.1
    objective = TokenSetNCEObjective(OTObjective(eps=eps, tol=1e-10, max_iter=10_000), temperature=0.1)
    similarity, _ = objective.similarities(both, student)
    assert similarity.shape == (3, 5)
    assert float(-similarity[1, 4]) == pytest.approx(_pot_cost(both, student, 4, 1, eps), abs=1e-7)
    # the pairwise transport loss still compares only the translations
    plain = OTObjective(eps=eps, tol=1e-10, max_iter=10_000)
    assert float(plain(both, student).loss) == pytest.approx(float(plain(teacher, student).loss), abs=1e-12)


def test_maxsim_contrast_similarity_is_mean_of_best_cosines(pair) -> None:
    teacher, student = pair
    objective = TokenSetNCEObjective(similarity="maxsim", temperature=0.2)
    similarity, _ = objective.similarities(teacher, student)  # token states in float32
    for i in range(3):
        for j in range(3):
            n, m = int(teacher.token_mask[j].sum()), int(student.token_mask[i].sum())
            x = F.normalize(teacher.embeddings[j, :n], dim=-1)
            y = F.normalize(student.embeddings[i, :m].detach(), dim=-1)
            assert float(similarity[i, j]) == pytest.approx(float((y @ x.T).max(1).values.mean()), abs=1e-6)


@pytest.mark.parametrize("similarity", ["ot", "maxsim"])
def test_gradients_reach_only_the_students_real_tokens(pair, similarity) -> None:
    teacher, student = pair
    teacher.embeddings.requires_grad_(True)
    TokenSetNCEObjective(OTObjective(eps=0.1), similarity=similarity, temperature=0.1)(teacher, student).loss.backward()
    assert teacher.embeddings.grad is None
    grad = student.embeddings.grad
    assert grad[~student.token_mask].abs().sum() == 0
    assert grad[student.token_mask].abs().sum() > 0


def test_plan_sharpness_against_a_direct_computation() -> None:
    plan = torch.tensor([[[0.25, 0.25, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    # rows renormalised: [0.5, 0.5] (entropy log 2) and [1, 0] (entropy 0); 2 real columns
    sharpness = plan_sharpness(plan, mask)
    assert sharpness["plan_entropy"] == pytest.approx((math.log(2) / math.log(2) + 0.0) / 2)
    assert sharpness["plan_argmax_mass"] == pytest.approx((0.5 + 1.0) / 2)


def test_schedules_scale_the_transport_weight(pair) -> None:
    teacher, student = pair
    parts = {"ot": OTObjective(eps=0.1), "mse": MSEObjective()}
    combined = WeightedObjectives(parts, {"ot": 2.0, "mse": 1.0}, {"ot": "decay"})
    ot = float(parts["ot"](teacher, student).loss)
    mse = float(parts["mse"](teacher, student).loss)
    for progress, factor in ((0.0, 1.0), (0.25, 0.75), (1.0, 0.0)):
        combined.set_progress(progress)
        assert float(combined(teacher, student).loss) == pytest.approx(2.0 * factor * ot + mse, rel=1e-6)
    assert [weight_schedule("warmup")(t) for t in (0.0, 0.25, 0.5, 1.0)] == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="schedule"):
        weight_schedule("cyclic")
