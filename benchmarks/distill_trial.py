"""Distil multilingual-e5-small on English-X Bible bitext with each objective under one budget.

The teacher is multilingual-e5-small on the English side (frozen); every student starts from
the same model and sees the same pairs in the same order for the same number of steps. Before
and after, on held-out dev pairs: bitext P@1 (each foreign verse among the English ones), the
mean cosine of parallel pairs, and the mean pairwise cosine of the student's vectors (a rise
means the queries collapse toward one direction). Each run checkpoints and resumes (rerun the
same command); the table goes to ``benchmarks/results/distill_<lang>.md``.

Needs the recipes' bitext and model folders: ``python -m data_recipes.build`` and
``python -m data_recipes.models``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS, Checkpoint, header  # noqa: E402

from optical.cache import cache_dir  # noqa: E402
from optical.distill.run import DistillConfig, bitext_check, distill, read_pairs  # noqa: E402
from optical.models import Encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", default="sw")
    parser.add_argument("--bitext-dir", type=Path, default=None, help="folder with en-<lang>.tsv and en-<lang>.dev.tsv")
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--dev-pairs", type=int, default=300)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--objectives", nargs="+", default=["ot", "mse", "nce"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    from data_recipes.models import student_path

    model = str(student_path())
    bitext_dir = args.bitext_dir or _default_bitext_dir()
    train_file, dev_file = bitext_dir / f"en-{args.lang}.tsv", bitext_dir / f"en-{args.lang}.dev.tsv"
    dev = read_pairs(str(dev_file), "en", args.lang, args.dev_pairs)
    ckpt = Checkpoint(RESULTS / f"distill_{args.lang}.json", fresh=args.fresh)
    started = time.perf_counter()
    if "before" not in ckpt:
        encoder = Encoder.load(model, max_length=64)
        ckpt.put("before", bitext_check(encoder, encoder, dev))
    for objective in args.objectives:
        if objective in ckpt:
            continue
        out = cache_dir("runs", f"distill-{args.lang}-{objective.replace('+', '_')}-s{args.steps}")
        config = DistillConfig(
            out=str(out), teacher=model, student=model, bitext=str(train_file), dev_bitext=str(dev_file),
            src_lang="en", tgt_lang=args.lang, max_pairs=args.pairs, dev_pairs=args.dev_pairs, objective=objective,
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            eval_every=max(1, args.steps // 2), checkpoint_every=10, max_length=64,
        )
        result = distill(config)
        ckpt.put(objective, {"after": result.evaluations[-1], "evaluations": result.evaluations,
                             "minutes": result.seconds / 60, "out": str(out)})
    wall = ckpt.rows.get("wall", {}).get("seconds", 0.0) + time.perf_counter() - started
    ckpt.put("wall", {"seconds": wall})
    lines = [header(f"Distillation trial: English -> {args.lang}, multilingual-e5-small", wall)]
    lines.append(
        f"Teacher and student start from multilingual-e5-small (mean pooling, `query: ` prefix, max 64 tokens). "
        f"{args.pairs} training pairs from `{train_file}`, {args.steps} steps of batch {args.batch_size}, "
        f"AdamW lr {args.lr} (10% warm-up, linear decay), seed {args.seed}; the same pairs and order for every "
        f"objective. Dev: the first {len(dev)} pairs of `{dev_file}` (held-out books).\n"
    )
    lines.append("| student | bitext P@1 | parallel cosine | student pairwise cosine | minutes |")
    lines.append("|---|---|---|---|---|")
    before = ckpt["before"]
    lines.append(f"| zero-shot (before) | {before['bitext_p@1']:.3f} | {before['parallel_cosine']:.3f} | "
                 f"{before['student_pairwise_cosine']:.3f} | |")
    for objective in args.objectives:
        if objective not in ckpt:
            continue
        after = ckpt[objective]["after"]
        lines.append(f"| {objective} | {after['bitext_p@1']:.3f} | {after['parallel_cosine']:.3f} | "
                     f"{after['student_pairwise_cosine']:.3f} | {ckpt[objective]['minutes']:.1f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / f"distill_{args.lang}.md").write_text(text)
    print(text)
    print(json.dumps({k: v for k, v in ckpt.rows.items() if k != "wall"}, indent=1)[:2000])


def _default_bitext_dir() -> Path:
    candidates = sorted(cache_dir(create=False).glob("**/bitext/en-*.tsv"))
    if not candidates:
        raise SystemExit("no bitext in the cache: run `python -m data_recipes.build` first")
    return candidates[0].parent


if __name__ == "__main__":
    main()
