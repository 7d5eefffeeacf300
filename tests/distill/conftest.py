from __future__ import annotations

import pytest
import torch

from optical.data.bitext import write_bitext_tsv
from optical.distill.synthetic import synthetic_pairs
from optical.models import TokenBatch


@pytest.fixture
def bitext_file(tmp_path):
    path = tmp_path / "train.tsv"
    write_bitext_tsv(path, synthetic_pairs(64))
    return path


def token_batch(states: torch.Tensor, lengths: list[int]) -> TokenBatch:
    """A TokenBatch whose first ``lengths[k]`` positions of item k are real tokens."""
    mask = torch.arange(states.shape[1])[None, :] < torch.tensor(lengths)[:, None]
    ids = torch.arange(states.shape[1]).repeat(states.shape[0], 1)
    return TokenBatch(states, mask, mask, ids)


@pytest.fixture
def make_batch():
    """:func:`token_batch`, for tests that build their own batches."""
    return token_batch


@pytest.fixture
def pair():
    """Teacher and student token batches in float64 (the student's with gradients), ragged."""
    generator = torch.Generator().manual_seed(0)
    teacher = token_batch(torch.randn(3, 5, 8, generator=generator, dtype=torch.float64), [5, 3, 4])
    student = token_batch(torch.randn(3, 6, 8, generator=generator, dtype=torch.float64).requires_grad_(True),
                          [6, 2, 4])
    return teacher, student
