from __future__ import annotations

import pytest

from optical.data.bitext import write_bitext_tsv
from optical.distill.synthetic import synthetic_pairs


@pytest.fixture
def bitext_file(tmp_path):
    path = tmp_path / "train.tsv"
    write_bitext_tsv(path, synthetic_pairs(64))
    return path
