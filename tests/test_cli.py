"""The ``optical`` command."""

from __future__ import annotations

import pytest

from optical.cli import main
from optical.demo import DemoConfig, run_demo


def test_demo_recovers_the_planted_alignment_and_agrees_with_pot() -> None:
    lines: list[str] = []
    numbers = run_demo(DemoConfig(batch=6, source_tokens=8, target_tokens=12, dim=32, eps=0.05), echo=lines.append)
    assert numbers["recovered"] > 0.8
    assert numbers["max_abs_diff_pot"] < 1e-6
    assert numbers["implicit_vs_unrolled"] < 1e-4
    assert numbers["padded_gradient"] == 0.0
    assert any("POT" in line for line in lines)


def test_solver_demo_runs_from_the_command_line(capsys) -> None:
    assert main(["solver-demo", "--batch", "4", "--source-tokens", "6", "--target-tokens", "9", "--dim", "16"]) == 0
    out = capsys.readouterr().out
    assert "[4/4]" in out and "max |P - P_POT|" in out


def test_bad_option_is_reported_not_raised(capsys) -> None:
    assert main(["solver-demo", "--eps", "-1", "--batch", "2"]) == 2
    assert "eps must be a finite number > 0" in capsys.readouterr().err


def test_unknown_flag_exits() -> None:
    with pytest.raises(SystemExit):
        main(["solver-demo", "--no-such-flag"])
