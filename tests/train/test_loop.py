"""The training loop: schedule, accumulation, logs that follow the checkpoint, refused resumes, progress."""

from __future__ import annotations

import json

import pytest

from optical.data.bitext import write_bitext_tsv
from optical.distill.run import DistillConfig, distill
from optical.distill.synthetic import VOCABULARY, synthetic_pairs
from optical.models.tiny import tiny_encoder
from optical.train import TrainConfig, learning_rate_factor


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    config = TrainConfig(steps=100, warmup=0.1)
    factors = [learning_rate_factor(s, config) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[99] == pytest.approx(1 / 90)
    cosine = TrainConfig(steps=100, warmup=0.0, schedule="cosine")
    assert learning_rate_factor(50, cosine) == pytest.approx(0.5)


def test_bad_train_options() -> None:
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(warmup=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")


@pytest.fixture
def bitext(tmp_path):
    path = tmp_path / "train.tsv"
    write_bitext_tsv(path, synthetic_pairs(48))
    return path


def _encoders(seed: int = 0):
    return (tiny_encoder(VOCABULARY, seed=seed, hidden=32, dropout=0.0),
            tiny_encoder(VOCABULARY, seed=seed + 1, hidden=32, dropout=0.0))


def _config(out, bitext, **overrides) -> DistillConfig:
    values = dict(out=str(out), bitext=str(bitext), steps=8, batch_size=8, lr=3e-3, quiet=True, checkpoint_every=4,
                  objective="ot", eps=0.1, ot_tol=None, ot_max_iter=50, src_lang="en", tgt_lang="xx")
    values.update(overrides)
    return DistillConfig(**values)


def _steps(path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_accumulated_micro_batches_equal_one_large_batch(tmp_path, bitext) -> None:
    # ot is a mean over pairs, so 2 x 4 accumulated has the loss and gradient of 1 x 8 on the same
    # 8 pairs; the first step's gradient norm (logged before clipping) and loss must agree
    teacher, student = _encoders()
    large = distill(_config(tmp_path / "large", bitext, steps=1, bucket_by_length=False),
                    teacher=teacher, student=student).history[0]
    teacher, student = _encoders()
    small = distill(_config(tmp_path / "small", bitext, steps=1, batch_size=4, grad_accum=2, bucket_by_length=False),
                    teacher=teacher, student=student).history[0]
    assert small["ot"] == pytest.approx(large["ot"], rel=1e-5)
    assert small["grad_norm"] == pytest.approx(large["grad_norm"], rel=1e-4)
    assert small["tokens"] == large["tokens"]  # counts add up over micro-batches
    teacher, student = _encoders()
    single = distill(_config(tmp_path / "single", bitext, steps=1, batch_size=4, bucket_by_length=False),
                     teacher=teacher, student=student).history[0]
    assert single["grad_norm"] != pytest.approx(large["grad_norm"], rel=1e-2)  # the check can fail


class Crash(Exception):
    pass


def test_logs_follow_the_checkpoint_after_a_crash_and_no_resume_starts_anew(tmp_path, bitext, monkeypatch) -> None:
    import optical.train.loop as loop

    config = _config(tmp_path / "run", bitext, eval_every=2, dev_bitext=str(bitext), dev_pairs=8)
    calls = {"steps": 0}

    def step_counter(original):
        def wrapped(*args, **kwargs):
            calls["steps"] += 1
            if calls["steps"] == 6:
                raise Crash  # dies during step 6, after step 5 was logged; the checkpoint is at 4
            return original(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(loop, "_optimizer_step", step_counter(loop._optimizer_step))
    with pytest.raises(Crash):
        distill(config, teacher=_encoders()[0], student=_encoders()[1])
    assert _steps(tmp_path / "run" / "train.jsonl") == [1, 2, 3, 4, 5]
    monkeypatch.undo()
    distill(config, teacher=_encoders()[0], student=_encoders()[1])
    assert _steps(tmp_path / "run" / "train.jsonl") == list(range(1, 9))
    assert _steps(tmp_path / "run" / "eval.jsonl") == [0, 2, 4, 6, 8]
    distill(_config(tmp_path / "run", bitext, steps=2, resume=False), teacher=_encoders()[0], student=_encoders()[1])
    assert _steps(tmp_path / "run" / "train.jsonl") == [1, 2]
    assert not (tmp_path / "run" / "eval.jsonl").read_text().strip()


def test_a_refused_resume_names_the_changed_options(tmp_path, bitext) -> None:
    distill(_config(tmp_path / "run", bitext, steps=2), teacher=_encoders()[0], student=_encoders()[1])
    with pytest.raises(ValueError, match=r"--lr 0\.003 -> 0\.01.*--no-resume"):
        distill(_config(tmp_path / "run", bitext, steps=2, lr=1e-2), teacher=_encoders()[0], student=_encoders()[1])
    # more steps reshape the learning-rate schedule: refused too, and named
    with pytest.raises(ValueError, match=r"--steps 2 -> 5"):
        distill(_config(tmp_path / "run", bitext, steps=5), teacher=_encoders()[0], student=_encoders()[1])


def test_a_checkpoint_older_than_an_option_resumes_while_the_option_keeps_its_default(tmp_path, bitext) -> None:
    import torch

    distill(_config(tmp_path / "run", bitext, steps=4, checkpoint_every=2), teacher=_encoders()[0],
            student=_encoders()[1])
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    del state["config"]["ot_layer"]  # written before --ot-layer existed
    state["fingerprint"] = "0" * 16
    torch.save(state, path)
    distill(_config(tmp_path / "run", bitext, steps=4, checkpoint_every=2), teacher=_encoders()[0],
            student=_encoders()[1])
    with pytest.raises(ValueError, match=r"--ot-layer .* -> 1"):
        distill(_config(tmp_path / "run", bitext, steps=4, checkpoint_every=2, ot_layer=1),
                teacher=_encoders()[0], student=_encoders()[1])


def test_progress_lines_every_log_every_steps_with_total_and_eta(tmp_path, bitext, capsys) -> None:
    distill(_config(tmp_path / "run", bitext, steps=6, log_every=3, quiet=False),
            teacher=_encoders()[0], student=_encoders()[1])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["3/6", "6/6"]
    assert all("s/step ETA" in line and "ot=" in line for line in lines)


def test_interrupt_says_where_training_stopped_and_how_to_resume(tmp_path, bitext, monkeypatch, capsys) -> None:
    import optical.train.loop as loop
    from optical.cli import main

    calls = {"steps": 0}
    original = loop._optimizer_step

    def interrupted(*args, **kwargs):
        calls["steps"] += 1
        if calls["steps"] == 6:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "_optimizer_step", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"during step 6 of 8; last checkpoint: step 4"):
        distill(_config(tmp_path / "run", bitext), teacher=_encoders()[0], student=_encoders()[1])
    # the real command: one line with the step, the checkpoint and what to do, exit 130
    for name, encoder in zip(("teacher", "student"), _encoders(), strict=True):
        encoder.save(tmp_path / name)
    calls["steps"] = 0
    argv = ["distill", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "student"),
            "--bitext", str(bitext), "--tgt-lang", "xx", "--steps", "8", "--batch-size", "8", "--checkpoint-every", "4",
            "--objective", "ot", "--eps", "0.1", "--out", str(tmp_path / "cli"), "--quiet"]
    capsys.readouterr()
    assert main(argv) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("optical distill: interrupted (during step 6 of 8; last checkpoint: step 4 (")
    assert lines[-1].endswith("rerun the same command to resume")


def test_bad_transport_options_fail_before_loading_and_leave_no_out_folder(tmp_path, bitext, capsys) -> None:
    from optical.cli import main

    for flag, value, message in (("--eps", "0", "--eps must be > 0, got 0.0"),
                                 ("--ot-grad", "foo", "--ot-grad"),
                                 ("--tau", "-1", "--tau must be > 0 or none")):
        argv = ["distill", "--teacher", str(tmp_path / "absent-teacher"), "--student", "absent-student",
                "--bitext", str(bitext), "--out", str(tmp_path / "out"), flag, value]
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse's own check of choices
            status = exit_.code
        assert status == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("optical distill: error:") and message in error, error  # names the flag
        assert not (tmp_path / "out").exists()


def test_compiled_student_trains_like_eager_and_saves_eager_names(tmp_path, bitext) -> None:
    # torch.compile changes kernels, not the run: same losses within float rounding, the same
    # checkpoint and saved-model parameter names, and a resume may switch it on or off
    teacher, student = _encoders()
    eager = distill(_config(tmp_path / "eager", bitext, steps=3, objective="ot+nce"), teacher=teacher, student=student)
    teacher, student = _encoders()
    compiled = distill(_config(tmp_path / "compiled", bitext, steps=3, objective="ot+nce", compile=True),
                       teacher=teacher, student=student)
    assert student._compiled_call_impl is not None and teacher._compiled_call_impl is None
    for a, b in zip(eager.history, compiled.history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-6)
    saved = {p.name for p in (tmp_path / "compiled" / "model").iterdir()}
    assert saved == {p.name for p in (tmp_path / "eager" / "model").iterdir()}
    from safetensors.torch import load_file

    names = set(load_file(tmp_path / "compiled" / "model" / "model.safetensors"))
    assert names == set(load_file(tmp_path / "eager" / "model" / "model.safetensors"))
    assert not any("_orig_mod" in n for n in names)
