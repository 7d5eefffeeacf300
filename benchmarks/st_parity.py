"""Parity: the sentence-transformers loss against ``optical distill``, same objective, data, steps and seed.

Both runs start the student from multilingual-e5-small, keep a frozen copy of it as the English
teacher, and train on the same batches of English-Swahili Bible bitext (optical's seeded
sampler draws the batches; the sentence-transformers run reads them in that order), with the
same AdamW, learning-rate schedule (optical's warm-up and linear decay), clipping, frozen word
embeddings, 64-token limit and query prefix (``query: ``) on both sides. What differs is the machinery:
optical's loop, tokenization and masks against ``SentenceTransformerTrainer``, its collator, the
``token_embeddings`` output and :mod:`optical.integrations.sentence_transformers`. Both students
are scored by the same dev bitext check (P@1 of each Swahili verse among the English ones, and
the mean cosine of parallel pairs). ``optical distill`` with other seeds gives the noise scale.

    python benchmarks/st_parity.py                      # ot+nce (the default), 30 steps of 16 pairs
    python benchmarks/st_parity.py --objective ot --noise-seeds 1 2

Writes benchmarks/results/st_parity.md (+ st_parity.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import RESULTS, header  # noqa: E402
from optical.cache import cache_dir  # noqa: E402
from optical.distill.run import DistillConfig, bitext_check, distill, read_pairs  # noqa: E402
from optical.integrations.sentence_transformers import OpticalDistillationLoss, default_objective  # noqa: E402
from optical.models import Encoder  # noqa: E402
from optical.models.encoder import CONFIG_NAME  # noqa: E402
from optical.train.loop import learning_rate_factor  # noqa: E402
from optical.train.sampler import EpochSampler  # noqa: E402


def distill_config(args, seed: int, out: str) -> DistillConfig:
    return DistillConfig(
        out=out, teacher=args.model, student=args.model, bitext=args.bitext, dev_bitext=args.dev_bitext,
        tgt_lang="sw", max_pairs=args.pairs, dev_pairs=args.dev_pairs, objective=args.objective,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=seed, max_length=args.max_length,
        freeze_embeddings=True, quiet=True, checkpoint_every=10_000, resume=False,
    )


def run_optical(args, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="st-parity-optical-") as out:
        result = distill(distill_config(args, seed, out))
    seconds = result.history[-1]["seconds"]  # the training steps, without loading and dev checks
    return {"system": f"optical distill (seed {seed})", "seed": seed, "zero_shot": result.evaluations[0],
            "dev": result.evaluations[-1], "last_loss": result.history[-1]["loss"], "seconds": seconds}


def run_sentence_transformers(args, seed: int) -> dict:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import DefaultBatchSampler

    config = distill_config(args, seed, "")
    pairs = read_pairs(args.bitext, "en", "sw", args.pairs)
    dev = read_pairs(args.dev_bitext, "en", "sw", args.dev_pairs)
    if getattr(config, "bucket_by_length", False):  # the sampler optical distill builds for this config
        from optical.train.sampler import LengthBucketSampler

        sampler = LengthBucketSampler([len(p.tgt) for p in pairs], args.batch_size, seed=seed)
    else:
        sampler = EpochSampler(len(pairs), args.batch_size, seed=seed)
    order = [i for _ in range(args.steps) for i in sampler.next_batch()]
    dataset = Dataset.from_dict({"english": [pairs[i].src for i in order], "swahili": [pairs[i].tgt for i in order]})

    def in_order(data, batch_size, drop_last, **_):  # optical's batches, one after the other
        return DefaultBatchSampler(range(len(data)), batch_size=batch_size, drop_last=drop_last)

    torch.manual_seed(seed)
    teacher = SentenceTransformer(args.model, device="cpu")
    student = SentenceTransformer(args.model, device="cpu")
    for model in (teacher, student):
        model.max_seq_length = args.max_length
    for module in student.modules():
        if isinstance(module, torch.nn.Embedding):
            module.weight.requires_grad_(False)
    loss = OpticalDistillationLoss.from_spec(student, teacher, args.objective)
    parameters = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, config))
    settings = Path(args.model) / CONFIG_NAME  # optical encodes both sides as queries, with this prefix
    prefix = json.loads(settings.read_text()).get("query_prefix", "") if settings.exists() else ""
    training = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="st-parity-st-"), max_steps=args.steps,
        per_device_train_batch_size=args.batch_size, max_grad_norm=config.clip_norm, seed=seed,
        prompts=prefix or None, batch_sampler=in_order, report_to="none", save_strategy="no", logging_steps=1,
        use_cpu=True, disable_tqdm=True, dataloader_drop_last=False)
    trainer = SentenceTransformerTrainer(model=student, args=training, train_dataset=dataset, loss=loss,
                                         optimizers=(optimizer, scheduler))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]

    # the same dev check as optical distill: the trained weights inside optical encoders
    teacher_encoder = Encoder.load(args.model, max_length=args.max_length)
    student_encoder = Encoder.load(args.model, max_length=args.max_length)
    student_encoder.model.load_state_dict(student[0].auto_model.state_dict())
    return {"system": f"SentenceTransformerTrainer + OpticalDistillationLoss (seed {seed})", "seed": seed,
            "dev": bitext_check(teacher_encoder, student_encoder, dev), "last_loss": losses[-1] if losses else None,
            "seconds": seconds, "loss": type(loss).__name__, "objective": loss.get_config_dict()["objective"]}


def markdown(args, rows: list[dict], seconds: float) -> str:
    text = header("sentence-transformers loss vs optical distill (parity)", seconds)
    text += (f"\nmultilingual-e5-small as teacher (frozen, English) and starting student (Swahili); "
             f"objective `{args.objective}`; {args.steps} steps of {args.batch_size} pairs from the first "
             f"{args.pairs} pairs of `{Path(args.bitext).name}`; max {args.max_length} tokens, word embeddings "
             f"frozen, lr {args.lr}; dev: first {args.dev_pairs} pairs of `{Path(args.dev_bitext).name}`.\n\n")
    text += "| system | dev bitext P@1 | dev parallel cosine | last batch loss | training s |\n|---|---|---|---|---|\n"
    zero = next(r["zero_shot"] for r in rows if "zero_shot" in r)
    text += f"| zero-shot (step 0) | {zero['bitext_p@1']:.4f} | {zero['parallel_cosine']:.4f} | | |\n"
    for row in rows:
        loss = "" if row["last_loss"] is None else f"{row['last_loss']:.4f}"
        text += (f"| {row['system']} | {row['dev']['bitext_p@1']:.4f} | {row['dev']['parallel_cosine']:.4f} | "
                 f"{loss} | {row['seconds']:.0f} |\n")
    text += ("\n`training s`: wall time of the training steps alone (no loading, no dev check); the machine may be "
             "shared with other jobs, so it is no speed comparison.\n")
    same_seed = [r for r in rows if r["seed"] == args.seed]
    others = [r for r in rows if r["seed"] != args.seed]
    if len(same_seed) == 2:
        gap = abs(same_seed[0]["dev"]["bitext_p@1"] - same_seed[1]["dev"]["bitext_p@1"])
        cos_gap = abs(same_seed[0]["dev"]["parallel_cosine"] - same_seed[1]["dev"]["parallel_cosine"])
        text += (f"\nSame seed, optical against sentence-transformers: |ΔP@1| = {gap:.4f}, "
                 f"|Δcosine| = {cos_gap:.4f}.")
        if others:
            spread = [abs(r["dev"]["bitext_p@1"] - same_seed[0]["dev"]["bitext_p@1"]) for r in others]
            text += f" optical distill across seeds: |ΔP@1| up to {max(spread):.4f} (the noise scale)."
        text += "\n"
    return text


def main() -> None:
    bible = cache_dir() / "bible" / "bitext"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(cache_dir() / "models" / "multilingual-e5-small"))
    parser.add_argument("--bitext", default=str(bible / "en-sw.tsv"))
    parser.add_argument("--dev-bitext", default=str(bible / "en-sw.dev.tsv"))
    parser.add_argument("--objective", default=default_objective())
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--dev-pairs", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-seeds", type=int, nargs="*", default=[1], help="extra optical distill seeds")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    runs = [lambda: run_optical(args, args.seed), lambda: run_sentence_transformers(args, args.seed)]
    runs += [lambda seed=seed: run_optical(args, seed) for seed in args.noise_seeds]
    rows: list[dict] = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    for run in runs:  # the tables are rewritten after every run: an interrupted benchmark keeps its rows
        rows.append(run())
        (RESULTS / "st_parity.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1) + "\n")
        text = markdown(args, rows, time.perf_counter() - started)
        (RESULTS / "st_parity.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
