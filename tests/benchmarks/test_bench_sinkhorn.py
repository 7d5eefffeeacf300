"""The Sinkhorn benchmark runs end to end on a tiny shape, resumes, and writes its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def body(table: str) -> str:
    """The report without what changes from run to run: the preamble (date, wall time) and the
    machine's load, and without the list of cases not measured."""
    lines = table[table.index("| case |"):].splitlines()
    return "\n".join(line for line in lines if line and not line.startswith(("Load average", "Not measured")))


def test_benchmark_writes_table_and_resumes(tmp_path) -> None:
    out = tmp_path / "sinkhorn"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_sinkhorn.py"), "--shapes", "8x6x10", "--cap", "50",
               "--no-real", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    table = out.with_suffix(".md").read_text()
    assert "Command: `python" in table and "| cpu |" in table
    assert "| optical |" in table and "| POT batch log_sinkhorn |" in table
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    for eps in ("0.05", "0.01"):
        mine = rows[f"structured|8x6x10|eps={eps}|optical"]
        # optical is timed to the target, and every item stops on its own within the batch.
        assert mine["reached_tol"] and mine["finite"] and mine["max_error"] <= 1e-4 * 1.0001
        assert mine["iterations"] < mine["item_iterations"] <= 8 * mine["iterations"]
        shown = f"| optical | {mine['seconds'] * 1e3:.1f} | 1.0x | {mine['iterations']} / {mine['item_iterations']} |"
        assert shown in table
    # A rerun finds every row in the checkpoint, measures nothing again and writes the same tables.
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    rerun_rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    rows.pop("wall"), rerun_rows.pop("wall")
    assert rerun_rows == rows
    assert body(out.with_suffix(".md").read_text()) == body(table)
    # --report-only writes the same tables; a case never measured is named as missing.
    subprocess.run(command + ["--report-only", "--shapes", "8x6x10", "4x3x5"], check=True, capture_output=True,
                   text=True, timeout=300)
    partial = out.with_suffix(".md").read_text()
    assert "Not measured yet (rerun the command to resume): structured (4, 3, 5) eps=0.05" in partial
    assert body(partial) == body(table)
