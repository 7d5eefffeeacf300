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


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_missing_run_file_is_one_line_naming_the_flag(tmp_path, capsys) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\n")
    missing = tmp_path / "missing.trec"
    assert main(["evaluate", "--run", str(missing), "--qrels", str(qrels), "--metrics", "AP"]) == 2
    assert _error(capsys) == f"optical evaluate: error: no such file or directory, --run {missing}"


def test_missing_bitext_is_one_line_naming_the_flag(tmp_path, capsys) -> None:
    model = tmp_path / "model"
    model.mkdir()
    argv = ["distill", "--teacher", str(model), "--student", str(model), "--bitext", str(tmp_path / "none.tsv"),
            "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = _error(capsys)
    assert err.startswith("optical distill: error: ") and "none.tsv" in err


def test_model_name_that_is_not_a_folder_fails_fast_without_a_hub(tmp_path, capsys, monkeypatch) -> None:
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("a model name that is not a folder must fail before any network call")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("OPTICAL_ALLOW_DOWNLOAD", raising=False)
    # Fail fast means no hub lookup at all (no retries against an unreachable host).
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert main(["align", "--teacher", "multilingual-e5-smal", "--source", "a", "--target", "b"]) == 2
    err = _error(capsys)
    assert err.startswith("optical align: error: no model folder")
    assert "--allow-download" in err and err.endswith("--teacher multilingual-e5-smal")


def test_bad_device_and_bad_config_type_are_one_line(tmp_path, capsys) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\n")
    argv = ["evaluate", "--run", str(qrels), "--qrels", str(qrels), "--metrics", "AP"]
    assert main([*argv, "--device", "gpu"]) == 2
    assert _error(capsys) == "optical evaluate: error: --device must be auto, cpu, cuda or cuda:N, got 'gpu'"
    config = tmp_path / "run.toml"
    config.write_text("depth = 'many'\n")
    assert main([*argv, "--config", str(config)]) == 2
    assert _error(capsys) == (f"optical evaluate: error: depth in --config {config} must be an integer, "
                              "got 'many'")
    config.write_text("steps = 10\n")
    assert main(["solver-demo", "--config", str(config)]) == 2
    assert "unknown option(s) steps" in _error(capsys)


def test_training_device_is_checked_before_anything_loads(tmp_path, capsys) -> None:
    argv = ["distill", "--teacher", "t", "--student", "s", "--bitext", "b", "--device", "tpu"]
    assert main(argv) == 2
    assert _error(capsys) == "optical distill: error: --device must be auto, cpu, cuda or cuda:N, got 'tpu'"


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys) -> None:
    import optical.demo

    def interrupted(config, echo=print):
        raise KeyboardInterrupt

    monkeypatch.setattr(optical.demo, "run_demo", interrupted)
    assert main(["solver-demo"]) == 130
    assert _error(capsys) == "optical solver-demo: interrupted; rerun the same command to resume"


def test_required_flags_are_named_and_marked(capsys) -> None:
    assert main(["distill", "--bitext", "b.tsv"]) == 2
    assert _error(capsys) == "optical distill: error: --teacher and --student are required"
    assert main(["train-hybrid", "--steps", "1"]) == 2
    assert _error(capsys) == "optical train-hybrid: error: --model and --collection are required"
    assert main(["align", "--source", "a", "--target", "b"]) == 2
    assert _error(capsys) == "optical align: error: --teacher is required"


def test_every_command_has_a_description_and_tidy_help(capsys) -> None:
    from optical.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) >= {"quickstart", "solver-demo", "distill", "train-hybrid", "align", "evaluate"}
    for name, sub in commands.items():
        assert sub.description, name
        text = " ".join(sub.format_help().split())
        assert "(default: )" not in text and "('" not in text, name
    distill = " ".join(commands["distill"].format_help().split())
    for group in ("model:", "data:", "objective:", "transport"):
        assert group in distill
    assert "--ot-grad {envelope,implicit,unrolled}" in distill and "(required)" in distill
    evaluate = " ".join(commands["evaluate"].format_help().split())
    assert "--correction {holm,bonferroni,none}" in evaluate
    assert "ties are broken as trec_eval breaks them: by docid, descending" in evaluate
    assert "RR@k can differ from ir_measures" in evaluate


def test_evaluate_correction_choices_are_the_librarys() -> None:
    from optical.eval.cli import CORRECTIONS
    from optical.eval.significance import CORRECTIONS as LIBRARY

    assert set(CORRECTIONS) == set(LIBRARY)


def test_path_options_from_a_config_file_are_paths(tmp_path, capsys) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\n")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 1.0 r\n")
    config = tmp_path / "evaluate.toml"
    config.write_text(f'run = "{run}"\nqrels = "{qrels}"\nmetrics = ["AP"]\nper-query = true\n'
                      f'out = "{tmp_path / "out"}"\n')
    assert main(["evaluate", "--config", str(config)]) == 0  # a str out would fail at out.mkdir
    assert "q1\tAP\t1.0000" in capsys.readouterr().out
    assert (tmp_path / "out" / "results.json").is_file()
