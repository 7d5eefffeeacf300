"""The Sinkhorn benchmark runs end to end on a tiny shape, resumes, and writes its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_writes_table_and_resumes(tmp_path) -> None:
    out = tmp_path / "sinkhorn"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_sinkhorn.py"), "--shapes", "8x6x10", "--cap", "50",
               "--no-real", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    table = out.with_suffix(".md").read_text()
    assert "Command: `python" in table and "| cpu |" in table
    assert "| optical |" in table and "| POT batch log_sinkhorn |" in table
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    first_wall = rows["wall"]["seconds"]
    # A rerun finds every row in the checkpoint and only rewrites the report.
    rerun = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    assert "   optical" not in rerun.stdout
    assert json.loads(out.with_suffix(".json").read_text())["rows"]["wall"]["seconds"] >= first_wall
