"""The README: its test command is exactly what CI runs, and its snippets run."""

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


def test_loading_a_saved_student_three_ways_gives_the_same_vectors(tmp_path) -> None:
    """The "Loading a saved student" snippet, run on a tiny saved student with a projection head."""
    import pytest
    import torch

    from optical.models.tiny import tiny_encoder

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Loading a saved student"):]
    snippet = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert 'path = "runs/sw-ot/model"' in snippet
    encoder = tiny_encoder(["mungu", "ni", "upendo"], projection_dim=8, query_prefix="query: ", dropout=0.0)
    torch.nn.init.normal_(encoder.projection.bias)
    encoder.save(tmp_path / "model")
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        snippet = snippet[:snippet.index("# 3. sentence-transformers")]
    names: dict = {}
    exec(snippet.replace('"runs/sw-ot/model"', repr(str(tmp_path / "model"))), names)  # noqa: S102
    assert names["a"].shape == (1, 8)
    assert torch.allclose(names["a"], names["b"], atol=1e-5)
    if "c" not in names:
        pytest.skip("sentence-transformers is not installed: the third way was not run")
    assert torch.allclose(names["a"], names["c"], atol=1e-5)
