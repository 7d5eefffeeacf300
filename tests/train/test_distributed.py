"""``torchrun --nproc_per_node 2`` on the gloo backend follows the single-process run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import torch

from optical.data.bitext import write_bitext_tsv
from optical.distill.synthetic import VOCABULARY, synthetic_pairs
from optical.models.tiny import tiny_encoder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _history(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path) -> None:
    # Dropout off: the two runs draw different random masks otherwise.
    tiny_encoder(VOCABULARY, seed=0, dropout=0.0).save(tmp_path / "teacher")
    tiny_encoder(VOCABULARY, seed=1, dropout=0.0).save(tmp_path / "student")
    write_bitext_tsv(tmp_path / "train.tsv", synthetic_pairs(64))
    common = ["distill", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "student"),
              "--bitext", str(tmp_path / "train.tsv"), "--src-lang", "en", "--tgt-lang", "xx", "--steps", "6",
              "--objective", "ot", "--eps", "0.1", "--ot-tol", "none", "--ot-max-iter", "50", "--lr", "5e-3",
              "--quiet", "--device", "cpu", "--max-length", "16"]
    single = subprocess.run([sys.executable, "-m", "optical.cli", *common, "--batch-size", "8",
                             "--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                "--master-port", str(_free_port()), "-m", "optical.cli"]
    double = subprocess.run([*launcher, *common, "--batch-size", "4", "--out", str(tmp_path / "two")],
                            capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", **_env()})
    assert double.returncode == 0, double.stderr[-2000:]
    one, two = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert len(one) == len(two) == 6
    for a, b in zip(one, two, strict=True):
        assert a["ot"] == pytest.approx(b["ot"], rel=1e-4, abs=1e-6)
        assert a["tokens"] == b["tokens"]
    from optical.models import Encoder

    texts = [p.tgt for p in synthetic_pairs(4, seed=3)]
    first = Encoder.load(tmp_path / "one" / "model").encode(texts)
    second = Encoder.load(tmp_path / "two" / "model").encode(texts)
    assert torch.allclose(first, second, atol=1e-4)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
