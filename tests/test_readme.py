"""The README's test command is exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command() -> None:
    commands = _commands((ROOT / "README.md").read_text())
    test_commands = [c for c in commands if "pytest" in c]
    assert len(test_commands) == 1, test_commands
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert test_commands[0] in ci_lines


def test_readme_main_job_runs_quickstart() -> None:
    commands = _commands((ROOT / "README.md").read_text())
    assert any(c.endswith("optical quickstart") for c in commands)
