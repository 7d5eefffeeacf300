"""One training loop for every method: AdamW, warm-up and decay, clipping, accumulation,
bf16 on CUDA, checkpoints written atomically, exact resume, and DistributedDataParallel under
``torchrun``.

The loop knows a *step function* and a *sampler* only (:mod:`optical.train.contract`):
``step_fn(module, batch) -> StepOutput`` computes the loss of one micro-batch given the batch this
rank drew. Distillation and hybrid batch training supply their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .contract import COUNTS, Distributed, Sampler, SamplerSpec, StepFn, StepOutput
from .sampler import EpochSampler

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
TRAIN_LOG = "train.jsonl"
EVAL_LOG = "eval.jsonl"
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Optimisation, logging and checkpointing options shared by every training command."""

    out: str = field(default="runs/optical", metadata={"help": "output folder (checkpoints, logs, model)"})
    steps: int = field(default=250, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=16, metadata={"help": "examples per micro-batch and rank"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    lr: float = field(default=2e-5, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup: float = field(default=0.1, metadata={"help": "warm-up, as a fraction of the steps"})
    schedule: str = field(default="linear", metadata={"help": "decay after warm-up: linear, cosine or constant"})
    clip_norm: float | None = field(default=1.0, metadata={"help": "gradient clipping norm (none: off)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    log_every: int = field(default=10, metadata={"help": "steps between log lines"})
    eval_every: int = field(default=0, metadata={"help": "steps between evaluations (0: start and end only)"})
    eval_at_start: bool = field(default=True, metadata={"help": "evaluate the starting model too (step 0)"})
    checkpoint_every: int = field(default=50, metadata={"help": "steps between checkpoints"})
    resume: bool = field(default=True, metadata={"help": "continue from out/checkpoint.pt when it exists"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    freeze_embeddings: bool = field(default=False, metadata={
        "help": "keep every embedding table (tokens, positions) fixed: no gradient or optimizer state "
                "for the large vocabularies of multilingual models"})
    precision: str = field(default="fp32", metadata={
        "help": "fp32, bf16 (autocast; CUDA or a CPU with native bfloat16) or auto (bf16 where native)",
        "choices": PRECISIONS})
    fused_adamw: bool = field(default=True, metadata={"help": "the fused AdamW kernel (faster; same update)"})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the trained module (inductor, dynamic shapes): the first steps compile, later "
                "ones may run faster; results match eager within float rounding"})

    def __post_init__(self) -> None:
        if self.schedule not in ("linear", "cosine", "constant"):
            raise ValueError(f"schedule must be linear, cosine or constant, got {self.schedule!r}")
        for name in ("steps", "batch_size", "grad_accum", "checkpoint_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be a fraction in [0, 1), got {self.warmup}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


# Fields that may change between a checkpoint and its resume without changing the run. ``steps``
# is not among them: the learning-rate schedule is a function of it.
RESUMABLE_FIELDS = {"resume", "quiet", "log_every", "eval_every", "eval_at_start", "checkpoint_every", "device", "out",
                    "compile"}


def config_fingerprint(config) -> str:
    values = {k: v for k, v in asdict(config).items() if k not in RESUMABLE_FIELDS}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def setup_distributed(device: torch.device) -> Distributed:
    """Join the process group when launched by ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, distributed_local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", distributed_local_rank)
    return torch.device(name)


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then linear or cosine decay to 0 (or constant)."""
    warmup = int(config.warmup * config.steps)
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, config.steps - warmup)
    if config.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write to a temporary file beside ``path`` and rename: a crash never leaves half a checkpoint."""
    from optical.cache import atomic_write

    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)


@dataclass
class TrainResult:
    steps: int
    seconds: float
    history: list[dict]
    evaluations: list[dict]


def train(
    model: nn.Module,
    step_fn: StepFn,
    dataset_size: int,
    config: TrainConfig,
    *,
    evaluate: Callable[[], dict[str, float]] | None = None,
    save_model: Callable[[Path], None] | None = None,
    extra_state: dict | None = None,
    sampler: SamplerSpec | None = None,
) -> TrainResult:
    """Train ``model`` with ``step_fn`` over ``dataset_size`` examples.

    Parameters
    ----------
    model
        The trainable module (the student). Under ``torchrun`` it is wrapped in DDP; ``step_fn``
        receives the wrapper, whose ``forward`` is the model's.
    step_fn
        ``step_fn(module, batch) -> StepOutput`` for one micro-batch of this rank; ``batch`` is
        what ``sampler.next_batch()`` returns (example indices by default).
    config
        A :class:`TrainConfig` (or a subclass: every field enters the checkpoint fingerprint).
    sampler
        A :class:`~optical.train.contract.Sampler`, or a function of this process's
        :class:`~optical.train.contract.Distributed` that builds one (each rank must draw its own
        batches); by default an :class:`EpochSampler` over ``dataset_size`` examples, sharded
        across ranks.
    evaluate
        Called on rank 0 at the start, every ``eval_every`` steps and at the end; its numbers
        are logged to ``eval.jsonl``.
    save_model
        Called with ``out/"model"`` at the end on rank 0 (e.g. ``Encoder.save``).
    extra_state
        A dict saved in every checkpoint and updated in place on resume (a dict value is
        refilled in place too, so references the method holds stay valid).
    """
    device = resolve_device(config.device)
    dist_info = setup_distributed(device)
    device = resolve_device(config.device, dist_info.local_rank)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # exp() underflow to denormals slows CPU kernels several-fold
    out = Path(config.out)
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)
    _seed_everything(config.seed)
    model.to(device)
    model.train()
    if config.freeze_embeddings:
        for module in model.modules():
            if isinstance(module, nn.Embedding):
                module.weight.requires_grad_(False)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = _adamw(parameters, config, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, config))
    if sampler is None:
        sampler = EpochSampler(dataset_size, config.batch_size, seed=config.seed, rank=dist_info.rank,
                               world_size=dist_info.world_size)
    elif not isinstance(sampler, Sampler):
        sampler = sampler(dist_info)
    run = _Run(config, out, dist_info, model, optimizer, scheduler, sampler, extra_state)
    run.resume_or_start()

    if config.compile:
        # In place (nn.Module.compile): parameter names, checkpoints and the saved model stay eager's.
        model.compile(dynamic=True)
    wrapped: nn.Module = model
    if dist_info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    precision = resolve_precision(config.precision, device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())

    def run_evaluation(step: int) -> None:
        if evaluate is None or not dist_info.main:
            return
        model.eval()
        numbers = {"step": step, **evaluate()}
        model.train()
        run.evaluations.append(numbers)
        _append_jsonl(out / EVAL_LOG, numbers)
        _echo(f"eval @ step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in numbers.items() if k != "step"),
              config.quiet)

    if run.start_step == 0 and config.eval_at_start:
        run_evaluation(0)
    progress = _Progress(config.steps, run.start_step, config.log_every,
                         disabled=config.quiet or not dist_info.main)
    started = time.perf_counter()
    tokens_seen = 0
    step = run.start_step
    try:
        for step in range(run.start_step, config.steps):
            logs, shown = _optimizer_step(wrapped, step_fn, sampler, optimizer, scheduler, parameters, config,
                                          dist_info, autocast, device)
            tokens_seen += int(logs.get("tokens", 0))
            elapsed = time.perf_counter() - started
            logs.update(step=step + 1, lr=scheduler.get_last_lr()[0], seconds=elapsed)
            if tokens_seen:
                logs["tokens_per_s"] = tokens_seen / elapsed
            run.history.append(logs)
            if dist_info.main:
                _append_jsonl(out / TRAIN_LOG, logs)
            progress.update(logs, shown)
            done = step + 1
            if config.eval_every and done % config.eval_every == 0 and done < config.steps:
                run_evaluation(done)
            if done % config.checkpoint_every == 0 or done == config.steps:
                run.checkpoint(done)
    except KeyboardInterrupt as interrupt:
        progress.close()
        last = f"step {run.saved_step} ({run.checkpoint_path})" if run.saved_step else "none yet"
        # The command line prints this with "rerun the same command to resume" as its one line.
        raise KeyboardInterrupt(f"during step {step + 1} of {config.steps}; last checkpoint: {last}") from interrupt
    progress.close()
    if run.start_step < config.steps or not run.evaluations or run.evaluations[-1]["step"] != config.steps:
        run_evaluation(config.steps)
        run.checkpoint(config.steps)
    if save_model is not None and dist_info.main:
        save_model(out / "model")
    return TrainResult(config.steps, time.perf_counter() - started, run.history, run.evaluations)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def _adamw(parameters: list[nn.Parameter], config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # The fused kernel (one pass over all parameters) is several times faster than the per-tensor
    # loop on CPU; it needs floating-point parameters on one device type.
    fused = config.fused_adamw and device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in parameters)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None)


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``device``: ``auto`` is bf16 on CUDA and on CPUs with native bf16."""
    if name != "auto":
        if name == "bf16" and device.type == "cpu" and not cpu_has_bf16():
            raise ValueError("--precision bf16: this CPU has no native bfloat16 (avx512_bf16 or AMX); use fp32")
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively here (avx512_bf16 or AMX); emulated bf16 is slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _optimizer_step(wrapped, step_fn, sampler, optimizer, scheduler, parameters, config, dist_info, autocast,
                    device) -> tuple[dict[str, float], tuple[str, ...]]:
    """Accumulate ``grad_accum`` micro-batches, clip, step; return the averaged logs and shown keys."""
    optimizer.zero_grad(set_to_none=True)
    logs: dict[str, float] = {}
    shown: tuple[str, ...] = ()
    for micro in range(config.grad_accum):
        batch = sampler.next_batch()
        sync = micro == config.grad_accum - 1 or dist_info.world_size == 1
        with (contextlib.nullcontext() if sync else wrapped.no_sync()), autocast:
            output: StepOutput = step_fn(wrapped, batch)
        (output.loss / config.grad_accum).backward()
        shown = shown or output.shown
        for key, value in output.logs.items():
            # counts add up over micro-batches; everything else is a mean
            share = 1.0 if key in COUNTS else 1.0 / config.grad_accum
            logs[key] = logs.get(key, 0.0) + value * share
    if dist_info.world_size > 1:
        logs = _reduce_over_ranks(logs, device)
    if config.clip_norm is not None:
        logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm))
    optimizer.step()
    scheduler.step()
    return logs, shown


class _Run:
    """The state that a checkpoint holds, with the resume and save logic around it."""

    def __init__(self, config, out: Path, dist_info: Distributed, model, optimizer, scheduler, sampler,
                 extra_state: dict | None) -> None:
        self.config, self.out, self.dist_info = config, out, dist_info
        self.model, self.optimizer, self.scheduler, self.sampler = model, optimizer, scheduler, sampler
        self.extra_state = extra_state
        self.fingerprint = config_fingerprint(config)
        self.checkpoint_path = out / CHECKPOINT
        self.start_step = 0
        self.saved_step = 0
        self.history: list[dict] = []
        self.evaluations: list[dict] = []

    def resume_or_start(self) -> None:
        """Load the checkpoint if asked and present; make the logs agree with where training starts."""
        if self.config.resume and self.checkpoint_path.exists():
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
            self._check_same_run(state)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.sampler.load_state_dict(state["sampler"])
            rng = state["rng"]
            _set_rng_state(rng[self.dist_info.rank] if isinstance(rng, list) else rng)
            self.start_step = self.saved_step = state["step"]
            self.history, self.evaluations = state["history"], state["evaluations"]
            if self.extra_state is not None:
                for key, value in state.get("extra", {}).items():
                    held = self.extra_state.get(key)
                    if isinstance(held, dict) and isinstance(value, dict):
                        held.clear()  # in place: the method may hold a reference to this dict
                        held.update(value)
                    else:
                        self.extra_state[key] = value
            if self.dist_info.main:
                log.info("resumed from %s at step %d", self.checkpoint_path, self.start_step)
        if self.dist_info.main:
            # Lines past the checkpoint belong to steps that will run again: drop them.
            _truncate_jsonl(self.out / TRAIN_LOG, self.start_step)
            _truncate_jsonl(self.out / EVAL_LOG, self.start_step, keep_equal=bool(self.start_step))

    def _check_same_run(self, state: dict) -> None:
        if state["fingerprint"] == self.fingerprint:
            return
        saved = state.get("config")
        current = asdict(self.config)
        defaults = {f.name: f.default for f in fields(self.config) if f.default is not MISSING}
        changed = []
        for key in sorted(set(current) - RESUMABLE_FIELDS):
            if saved is not None and key in saved:
                if saved[key] != current[key]:
                    changed.append(f"{_flag(key)} {saved[key]!r} -> {current[key]!r}")
            elif saved is not None and key in defaults and current[key] == defaults[key]:
                continue  # an option added since the checkpoint was written, at its default: the same run
            else:
                changed.append(f"{_flag(key)} (not in the checkpoint) -> {current[key]!r}")
        if saved is not None and not changed:
            return
        what = "; ".join(changed) if changed else f"fingerprint {state['fingerprint']} -> {self.fingerprint}"
        raise ValueError(
            f"{self.checkpoint_path} was written by a different configuration ({what}); resuming would mix two "
            "runs: use another --out, or --no-resume to start over"
        )

    def checkpoint(self, step: int) -> None:
        rng = _rng_state()
        if self.dist_info.world_size > 1:
            import torch.distributed as dist

            gathered: list = [None] * self.dist_info.world_size
            dist.all_gather_object(gathered, rng)
            rng = gathered
        if self.dist_info.main:
            save_checkpoint(self.checkpoint_path, {
                "fingerprint": self.fingerprint, "config": asdict(self.config), "step": step,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(), "rng": rng,
                "history": self.history, "evaluations": self.evaluations, "extra": self.extra_state or {},
            })
        self.saved_step = step


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _truncate_jsonl(path: Path, step: int, keep_equal: bool = True) -> None:
    """Keep the records of ``path`` up to ``step`` (all of them gone when ``step`` is 0)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record_step = json.loads(line).get("step", 0)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if record_step < step or (keep_equal and record_step == step and step > 0):
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _reduce_over_ranks(logs: dict[str, float], device: torch.device) -> dict[str, float]:
    """The logged numbers over all ranks, so the log shows the global batch: counts sum, the rest average."""
    import torch.distributed as dist

    keys = sorted(logs)
    values = torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    world = dist.get_world_size()
    summed = dict(zip(keys, values.tolist(), strict=True))
    return {k: v if k in COUNTS else v / world for k, v in summed.items()}


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _echo(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class _Progress:
    """A tqdm bar on a terminal; elsewhere (a log file, CI) a plain line every ``log_every`` steps.

    Both show step/total, the shown loss terms, the rate and the time left.
    """

    def __init__(self, total: int, start: int, log_every: int, disabled: bool) -> None:
        from tqdm.auto import tqdm

        self.total, self.start, self.log_every, self.disabled = total, start, log_every, disabled
        self.bar = tqdm(total=total, initial=start, disable=disabled or not sys.stderr.isatty(), unit="step")
        self.started = time.perf_counter()

    def update(self, logs: dict, shown: tuple[str, ...]) -> None:
        keys = tuple(shown) or ("loss",)
        numbers = {k: f"{logs[k]:.4g}" for k in (*keys, "lr") if k in logs}
        if "tokens_per_s" in logs:
            numbers["tok/s"] = f"{logs['tokens_per_s']:.0f}"
        self.bar.set_postfix(numbers, refresh=False)
        self.bar.update(1)
        step = int(logs["step"])
        if self.bar.disable and not self.disabled and (step % self.log_every == 0 or step == self.total):
            per_step = (time.perf_counter() - self.started) / max(1, step - self.start)
            eta = _duration(per_step * (self.total - step))
            print(f"step {step}/{self.total} " + " ".join(f"{k}={v}" for k, v in numbers.items())
                  + f" {per_step:.2f} s/step ETA {eta}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
